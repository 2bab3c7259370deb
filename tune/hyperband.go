package tune

import (
	"fmt"
	"math"
	"slices"
)

// HyperBandConfig configures HyperBand (Ray's HyperBandScheduler). Zero
// fields take Ray's defaults.
type HyperBandConfig struct {
	// TimeAttr measures progress (default TrainingIteration).
	TimeAttr string
	// Metric and Mode default to the experiment's.
	Metric string
	Mode   Mode
	// MaxT is the most TimeAttr a trial may reach (max_t; default 81).
	MaxT float64
	// ReductionFactor is η (reduction_factor; default 3).
	ReductionFactor float64
	// KeepLastTrials lets the survivors of a bracket's last halving run
	// past MaxT (Ray's stop_last_trials=False).
	KeepLastTrials bool
}

// TrialDecision is a decision on a trial other than the one whose
// result or end was being handled.
type TrialDecision struct {
	TrialID string
	Decision
}

// A PausedTrialDecider is a Scheduler that decides on paused trials as
// well: HyperBand's halving, completed by one trial's result, stops the
// losers among the trials paused at the milestone and promotes the
// winners. After each call to the Scheduler, Tune takes these decisions
// and applies them: Stop terminates the paused trial (Ray's
// stop_trial), Continue only records the reason (the trial resumes when
// ChooseTrialToRun picks it).
type PausedTrialDecider interface {
	TakePausedDecisions() []TrialDecision
}

// HyperBand returns the synchronous HyperBand scheduler (Li et al. 2018,
// "Hyperband: A Novel Bandit-Based Approach to Hyperparameter
// Optimization"), as Ray runs it: trials fill brackets in the order they
// are added. With s_max = round(log_η MaxT), a band holds brackets
// s = 0..s_max, bracket s taking ceil((s_max+1)/(s+1)·η^s) trials whose
// first milestone is floor(MaxT·η^-s); each halving multiplies the
// milestone by η (the last is MaxT) and keeps the best ceil(n/η) trials.
//
// A trial reaching its bracket's milestone is paused (Pause: Tune
// checkpoints it and frees its resources) until every live trial of the
// bracket has reached it or ended. The result that completes the
// milestone triggers the halving: the top 1/η continue and the rest stop.
// The triggering trial gets its verdict as its Decision; the paused ones
// get theirs through PausedTrialDecider. Promoted paused trials are
// resumed by Tune, which restores them from the checkpoint taken at the
// pause, because ChooseTrialToRun picks them before any PENDING trial;
// paused trials awaiting a halving are never picked.
//
// Unlike Ray, whose continuation of milestones makes the last one
// MaxT-r (54 for MaxT 81), the last milestone here is MaxT, as in the
// paper; trials reaching it stop unless KeepLastTrials.
func HyperBand(cfg HyperBandConfig) Scheduler { return &hyperBandScheduler{cfg: cfg} }

type hyperBandScheduler struct {
	cfg      HyperBandConfig
	sign     float64
	sMax1    int // brackets per band: s_max + 1
	brackets []*hbBracket
	bracket  map[string]*hbBracket
	decided  []TrialDecision
}

type hbBracket struct {
	index, s int
	capacity int // trials it takes (n0)
	added    int
	n        int     // trials to keep at the next halving
	halves   int     // halvings left
	r        float64 // the current rung's length before capping
	cur      float64 // the current milestone
	order    []string
	live     map[string]*hbTrial
	// toResume: paused trials promoted by a halving, to run next.
	toResume map[string]bool
}

type hbTrial struct {
	progress float64
	value    float64 // signed: higher is better
}

func (h *hyperBandScheduler) Setup(metric string, mode Mode) error {
	c := &h.cfg
	var err error
	if c.Metric, c.Mode, err = schedulerMetricMode("HyperBand", c.Metric, c.Mode, metric, mode); err != nil {
		return err
	}
	if c.TimeAttr == "" {
		c.TimeAttr = TrainingIteration
	}
	if c.MaxT == 0 {
		c.MaxT = 81
	}
	if c.ReductionFactor == 0 {
		c.ReductionFactor = 3
	}
	if !(c.MaxT > 0) || math.IsInf(c.MaxT, 0) {
		return fmt.Errorf("%w: HyperBand: MaxT %v must be positive and finite", ErrInvalidConfig, c.MaxT)
	}
	if !(c.ReductionFactor > 1) || math.IsInf(c.ReductionFactor, 0) {
		return fmt.Errorf("%w: HyperBand: ReductionFactor %v must be above 1", ErrInvalidConfig, c.ReductionFactor)
	}
	h.sign = c.Mode.Sign()
	h.sMax1 = int(math.Round(math.Log(c.MaxT)/math.Log(c.ReductionFactor))) + 1
	h.sMax1 = max(h.sMax1, 1)
	h.bracket = map[string]*hbBracket{}
	h.brackets = nil
	h.decided = nil
	return nil
}

// newBracket opens the band's next bracket, skipping those whose first
// rung would be under one unit of TimeAttr (as Ray does).
func (h *hyperBandScheduler) newBracket() *hbBracket {
	eta := h.cfg.ReductionFactor
	for {
		s := len(h.brackets) % h.sMax1
		r0 := math.Floor(h.cfg.MaxT * math.Pow(eta, -float64(s)))
		n0 := int(math.Ceil(float64(h.sMax1) / float64(s+1) * math.Pow(eta, float64(s))))
		b := &hbBracket{index: len(h.brackets), s: s, capacity: n0, n: n0, halves: s, r: r0,
			live: map[string]*hbTrial{}, toResume: map[string]bool{}}
		h.brackets = append(h.brackets, b)
		if r0 >= 1 || s == 0 {
			b.cur = h.milestone(b)
			return b
		}
		b.capacity = 0 // skipped: takes no trials
	}
}

// milestone is a bracket's current milestone: its rung length, or MaxT
// once no halving is left.
func (h *hyperBandScheduler) milestone(b *hbBracket) float64 {
	if b.halves == 0 {
		return h.cfg.MaxT
	}
	return math.Min(b.r, h.cfg.MaxT)
}

func (h *hyperBandScheduler) OnTrialAdd(t TrialInfo) {
	if _, ok := h.bracket[t.ID]; ok {
		return
	}
	var b *hbBracket
	if n := len(h.brackets); n > 0 && h.brackets[n-1].added < h.brackets[n-1].capacity {
		b = h.brackets[n-1]
	} else {
		b = h.newBracket()
	}
	b.added++
	b.order = append(b.order, t.ID)
	b.live[t.ID] = &hbTrial{}
	h.bracket[t.ID] = b
}

func (h *hyperBandScheduler) OnTrialResult(t TrialInfo, r Result) Decision {
	now, ok1 := r.Value(h.cfg.TimeAttr)
	v, ok2 := r.Value(h.cfg.Metric)
	if !ok1 || !ok2 {
		return Decision{Action: Continue, Reason: fmt.Sprintf("HyperBand: result lacks %s or %s", h.cfg.Metric, h.cfg.TimeAttr)}
	}
	b := h.bracket[t.ID]
	if b == nil { // never added: treat as added now
		h.OnTrialAdd(t)
		b = h.bracket[t.ID]
	}
	tr := b.live[t.ID]
	if tr == nil {
		return Decision{Action: Stop, Reason: "HyperBand: the trial was already stopped by a halving"}
	}
	tr.progress, tr.value = now, h.sign*v
	delete(b.toResume, t.ID)
	if b.halves == 0 {
		if now >= h.cfg.MaxT && !h.cfg.KeepLastTrials {
			h.drop(b, t.ID)
			return Decision{Action: Stop, Reason: fmt.Sprintf("HyperBand: bracket %d: reached max_t (%s=%v)", b.index, h.cfg.TimeAttr, now)}
		}
		return Decision{Action: Continue}
	}
	if now < b.cur {
		return Decision{Action: Continue}
	}
	if waiting := h.notThere(b); waiting > 0 {
		return Decision{Action: Pause, Reason: fmt.Sprintf("HyperBand: bracket %d: at milestone %s=%v, waiting for %d of %d live trials",
			b.index, h.cfg.TimeAttr, b.cur, waiting, len(b.live))}
	}
	return h.halve(b, t.ID)
}

// notThere counts a bracket's live trials below its milestone.
func (h *hyperBandScheduler) notThere(b *hbBracket) int {
	n := 0
	for _, tr := range b.live {
		if tr.progress < b.cur {
			n++
		}
	}
	return n
}

// halve runs a successive halving on a bracket whose live trials all
// reached its milestone, and returns the decision on trigger (the trial
// whose result completed the milestone; "" for none). The decisions on
// paused trials are queued for TakePausedDecisions.
func (h *hyperBandScheduler) halve(b *hbBracket, trigger string) Decision {
	at := b.cur
	eta := h.cfg.ReductionFactor
	b.halves--
	b.n = int(math.Ceil(float64(b.n) / eta))
	b.r *= eta
	b.cur = h.milestone(b)

	ranked := make([]string, 0, len(b.live))
	for _, id := range b.order {
		if _, ok := b.live[id]; ok {
			ranked = append(ranked, id)
		}
	}
	// Best first; equal values keep the order the trials were added in.
	slices.SortStableFunc(ranked, func(x, y string) int {
		vx, vy := b.live[x].value, b.live[y].value
		switch {
		case vx > vy || (vy != vy && vx == vx):
			return -1
		case vy > vx || (vx != vx && vy == vy):
			return 1
		}
		return 0
	})
	keep := min(b.n, len(ranked))
	cutoff := math.NaN()
	if keep > 0 {
		cutoff = h.sign * b.live[ranked[keep-1]].value
	}
	decision := Decision{Action: Continue}
	for i, id := range ranked {
		tr := b.live[id]
		var d Decision
		if i < keep {
			if b.halves == 0 && !h.cfg.KeepLastTrials && tr.progress >= h.cfg.MaxT {
				d = Decision{Action: Stop, Reason: fmt.Sprintf("HyperBand: bracket %d: kept at %s=%v (rank %d of %d) and already at max_t",
					b.index, h.cfg.TimeAttr, at, i+1, len(ranked))}
				h.drop(b, id)
			} else if b.halves > 0 && tr.progress >= b.cur {
				// Too far ahead (TimeAttr jumped past the next
				// milestone): it waits there for the others.
				d = Decision{Action: Pause, Reason: fmt.Sprintf("HyperBand: bracket %d: kept at %s=%v (rank %d of %d) and already at the next milestone %v",
					b.index, h.cfg.TimeAttr, at, i+1, len(ranked), b.cur)}
			} else {
				d = Decision{Action: Continue, Reason: fmt.Sprintf("HyperBand: bracket %d: halving at %s=%v: %s=%v ranks %d of %d, in the top %d: continues to %v",
					b.index, h.cfg.TimeAttr, at, h.cfg.Metric, h.sign*tr.value, i+1, len(ranked), keep, b.cur)}
				if id != trigger {
					b.toResume[id] = true
				}
			}
		} else {
			d = Decision{Action: Stop, Reason: fmt.Sprintf("HyperBand: bracket %d: halving at %s=%v: %s=%v ranks %d of %d, below the top %d (cutoff %v)",
				b.index, h.cfg.TimeAttr, at, h.cfg.Metric, h.sign*tr.value, i+1, len(ranked), keep, cutoff)}
			h.drop(b, id)
		}
		if id == trigger {
			decision = d
		} else if d.Action != Pause {
			h.decided = append(h.decided, TrialDecision{TrialID: id, Decision: d})
		}
	}
	if b.halves > 0 && len(b.live) > 0 && h.notThere(b) == 0 {
		// Every survivor is past the next milestone too.
		if _, live := b.live[trigger]; live {
			return h.halve(b, trigger)
		}
		h.halve(b, "")
	}
	return decision
}

// drop takes a trial out of its bracket's live trials.
func (h *hyperBandScheduler) drop(b *hbBracket, id string) {
	delete(b.live, id)
	delete(b.toResume, id)
}

// ended handles a trial that left for good: it no longer holds its
// bracket's halving back.
func (h *hyperBandScheduler) ended(id string) {
	b := h.bracket[id]
	if b == nil {
		return
	}
	delete(h.bracket, id)
	if _, ok := b.live[id]; !ok {
		return
	}
	h.drop(b, id)
	if b.halves > 0 && len(b.live) > 0 && h.notThere(b) == 0 {
		h.halve(b, "")
	}
}

func (h *hyperBandScheduler) OnTrialComplete(t TrialInfo, _ *Result) { h.ended(t.ID) }
func (h *hyperBandScheduler) OnTrialRemove(t TrialInfo)              { h.ended(t.ID) }

// TakePausedDecisions returns, and forgets, the decisions made on paused
// trials since the last call.
func (h *hyperBandScheduler) TakePausedDecisions() []TrialDecision {
	d := h.decided
	h.decided = nil
	return d
}

// ChooseTrialToRun resumes the paused trials a halving promoted first,
// then starts PENDING trials in order; paused trials still waiting for
// their bracket's halving are never picked.
func (h *hyperBandScheduler) ChooseTrialToRun(waiting []TrialInfo) string {
	for _, t := range waiting {
		if b := h.bracket[t.ID]; t.State == Paused && b != nil && b.toResume[t.ID] {
			return t.ID
		}
	}
	for _, t := range waiting {
		if t.State == Pending {
			return t.ID
		}
	}
	return ""
}
