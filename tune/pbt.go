package tune

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// PBTConfig configures Population Based Training (Ray's
// PopulationBasedTraining). Zero fields take Ray's defaults.
type PBTConfig struct {
	// TimeAttr measures progress (default TrainingIteration; Ray's is
	// time_total_s).
	TimeAttr string
	// Metric and Mode default to the experiment's.
	Metric string
	Mode   Mode
	// PerturbationInterval: a trial is ranked, and exploits or is
	// checkpointed, each time its TimeAttr advanced this much
	// (perturbation_interval; default 60).
	PerturbationInterval float64
	// BurnInPeriod: no perturbation before it (burn_in_period; default 0).
	BurnInPeriod float64
	// HyperparamMutations are the parameters explore changes, by the same
	// nested keys as the trial's Params: numeric Domains (resampled, or
	// multiplied by a perturbation factor and clipped to the domain),
	// Choice domains or plain lists (resampled, or shifted to a
	// neighbouring value), SampleFrom (resampled by calling it). A Grid,
	// or a constant that is not a list, is an ErrInvalidSpace
	// (hyperparam_mutations).
	HyperparamMutations Space
	// QuantileFraction is the share of the ranked trials in the top and
	// in the bottom quantile, in (0, 0.5] (quantile_fraction; default
	// 0.25).
	QuantileFraction float64
	// ResampleProbability is the chance that explore draws a mutated
	// value afresh from its domain instead of perturbing it
	// (resample_probability; default 0.25). NoResample sets it to 0.
	ResampleProbability float64
	NoResample          bool
	// PerturbationFactors multiply a numeric value, one of the two at
	// random (perturbation_factors; default 1.2 and 0.8).
	PerturbationFactors [2]float64
	// CustomExplore, if set, post-processes explore's Params
	// (custom_explore_fn).
	CustomExplore func(Params) Params
	// Seed drives explore and the choice of the trial to exploit.
	Seed int64
}

// PBT returns Population Based Training (Jaderberg et al. 2017), the
// asynchronous variant Ray runs: each time a trial's TimeAttr advanced by
// PerturbationInterval (after BurnInPeriod), the live trials are ranked by
// their latest score. A trial in the top quantile is asked to checkpoint
// (Decision.Checkpoint) so others may copy it; a trial in the bottom
// quantile exploits a random top-quantile trial that has a checkpoint:
// Decision{Action: Exploit, Source, Params} restores the source's latest
// checkpoint with Params explored from the source's. When trials wait for
// a slot, a trial at its perturbation that does not exploit yields
// (Pause), and ChooseTrialToRun resumes the waiting trial with the least
// training, as Ray does, so the population advances together.
func PBT(cfg PBTConfig) Scheduler { return &pbtScheduler{cfg: cfg} }

type pbtScheduler struct {
	cfg       PBTConfig
	sign      float64
	rng       *rand.Rand
	mutations []pbtMutation
	order     []string
	trials    map[string]*pbtTrial
}

type pbtTrial struct {
	params      Params
	score       float64 // signed latest score at a perturbation
	scored      bool
	lastTrain   float64
	lastPerturb float64
	checkpoint  bool // has a checkpoint as recent as its score
	waiting     bool // PENDING, or paused
	done        bool
}

// pbtMutation is one mutated parameter: a numeric or SampleFrom Domain,
// or a list of values.
type pbtMutation struct {
	path   string
	domain Domain
	values []any // a Choice's or a list's values
}

// pbtStream separates PBT's random stream from other users of a seed.
const pbtStream = 0x9b7

func (p *pbtScheduler) Setup(metric string, mode Mode) error {
	c := &p.cfg
	var err error
	if c.Metric, c.Mode, err = schedulerMetricMode("PBT", c.Metric, c.Mode, metric, mode); err != nil {
		return err
	}
	if c.TimeAttr == "" {
		c.TimeAttr = TrainingIteration
	}
	if c.PerturbationInterval == 0 {
		c.PerturbationInterval = 60
	}
	if c.QuantileFraction == 0 {
		c.QuantileFraction = 0.25
	}
	if c.ResampleProbability == 0 {
		c.ResampleProbability = 0.25
	}
	if c.NoResample {
		c.ResampleProbability = 0
	}
	if c.PerturbationFactors == [2]float64{} {
		c.PerturbationFactors = [2]float64{1.2, 0.8}
	}
	switch {
	case !(c.PerturbationInterval > 0) || math.IsInf(c.PerturbationInterval, 0):
		return fmt.Errorf("%w: PBT: PerturbationInterval %v must be positive", ErrInvalidConfig, c.PerturbationInterval)
	case !(c.BurnInPeriod >= 0) || math.IsInf(c.BurnInPeriod, 0):
		return fmt.Errorf("%w: PBT: BurnInPeriod %v must be zero or positive", ErrInvalidConfig, c.BurnInPeriod)
	case !(c.QuantileFraction > 0 && c.QuantileFraction <= 0.5):
		return fmt.Errorf("%w: PBT: QuantileFraction %v must be in (0, 0.5]", ErrInvalidConfig, c.QuantileFraction)
	case !(c.ResampleProbability >= 0 && c.ResampleProbability <= 1):
		return fmt.Errorf("%w: PBT: ResampleProbability %v must be in [0, 1]", ErrInvalidConfig, c.ResampleProbability)
	case !finite(c.PerturbationFactors[0]) || !finite(c.PerturbationFactors[1]):
		return fmt.Errorf("%w: PBT: PerturbationFactors %v must be finite", ErrInvalidConfig, c.PerturbationFactors)
	}
	if p.mutations, err = pbtMutations(c.HyperparamMutations); err != nil {
		return err
	}
	if len(p.mutations) == 0 && c.CustomExplore == nil {
		return fmt.Errorf("%w: PBT: set HyperparamMutations or CustomExplore", ErrInvalidConfig)
	}
	p.sign = c.Mode.Sign()
	p.rng = rand.New(rand.NewPCG(uint64(c.Seed), pbtStream))
	p.order = nil
	p.trials = map[string]*pbtTrial{}
	return nil
}

// pbtMutations checks HyperparamMutations and lists them by path.
func pbtMutations(s Space) ([]pbtMutation, error) {
	params, constants, err := s.Params()
	if err != nil {
		return nil, fmt.Errorf("PBT: HyperparamMutations: %w", err)
	}
	var out []pbtMutation
	for _, prm := range params {
		switch prm.Domain.Kind() {
		case KindFloat, KindInt, KindNormal, KindSampleFrom:
			out = append(out, pbtMutation{path: prm.Path, domain: prm.Domain})
		case KindChoice:
			out = append(out, pbtMutation{path: prm.Path, domain: prm.Domain, values: prm.Domain.Values()})
		default:
			return nil, fmt.Errorf("%w: PBT: HyperparamMutations %q: a %v cannot be mutated", ErrInvalidSpace, prm.Path, prm.Domain.Kind())
		}
	}
	for path, v := range constants {
		rv := reflect.ValueOf(v)
		if v == nil || (rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array) || rv.Len() == 0 {
			return nil, fmt.Errorf("%w: PBT: HyperparamMutations %q: want a Domain or a non-empty list of values, got %T", ErrInvalidSpace, path, v)
		}
		values := make([]any, rv.Len())
		for i := range values {
			values[i] = rv.Index(i).Interface()
		}
		out = append(out, pbtMutation{path: path, values: values})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, nil
}

func (p *pbtScheduler) trial(t TrialInfo) *pbtTrial {
	tr := p.trials[t.ID]
	if tr == nil {
		tr = &pbtTrial{params: t.Params, waiting: true}
		p.trials[t.ID] = tr
		p.order = append(p.order, t.ID)
	}
	return tr
}

func (p *pbtScheduler) OnTrialAdd(t TrialInfo) { p.trial(t) }

func (p *pbtScheduler) OnTrialResult(t TrialInfo, r Result) Decision {
	tr := p.trial(t)
	tr.waiting = false
	if t.Params != nil {
		tr.params = t.Params
	}
	now, ok1 := r.Value(p.cfg.TimeAttr)
	v, ok2 := r.Value(p.cfg.Metric)
	if !ok1 || !ok2 {
		return Decision{Action: Continue, Reason: fmt.Sprintf("PBT: result lacks %s or %s", p.cfg.Metric, p.cfg.TimeAttr)}
	}
	tr.lastTrain = now
	if now < p.cfg.BurnInPeriod || now-tr.lastPerturb < p.cfg.PerturbationInterval {
		return Decision{Action: Continue}
	}
	tr.score, tr.scored, tr.lastPerturb = p.sign*v, true, now
	tr.checkpoint = t.HasCheckpoint
	lower, upper, ranked := p.quantiles()
	at := fmt.Sprintf("PBT: at %s=%v, %s=%v ranks %d of %d", p.cfg.TimeAttr, now, p.cfg.Metric, v, pbtRank(ranked, t.ID), len(ranked))
	var d Decision
	switch {
	case slices.Contains(upper, t.ID):
		tr.checkpoint = true
		d = Decision{Action: Continue, Checkpoint: true, Reason: at + " (top quantile): checkpoint for others to exploit"}
	case slices.Contains(lower, t.ID):
		if d = p.exploit(t.ID, tr, upper, at); d.Action == Exploit {
			return d
		}
	default:
		d = Decision{Action: Continue, Reason: at}
	}
	if n := p.othersWaiting(t.ID); n > 0 {
		d.Action = Pause
		d.Reason += fmt.Sprintf("; yields to %d waiting trials", n)
		tr.waiting = true
	}
	return d
}

// quantiles ranks the live scored trials worst first and returns the
// bottom and top quantiles, as Ray: ceil(n·QuantileFraction) each, at
// most half; none with fewer than two trials.
func (p *pbtScheduler) quantiles() (lower, upper, ranked []string) {
	for _, id := range p.order {
		if tr := p.trials[id]; tr.scored && !tr.done {
			ranked = append(ranked, id)
		}
	}
	slices.SortStableFunc(ranked, func(a, b string) int {
		sa, sb := p.trials[a].score, p.trials[b].score
		switch {
		case sa < sb || (sa != sa && sb == sb):
			return -1
		case sa > sb || (sb != sb && sa == sa):
			return 1
		}
		return 0
	})
	if len(ranked) <= 1 {
		return nil, nil, ranked
	}
	k := int(math.Ceil(float64(len(ranked)) * p.cfg.QuantileFraction))
	k = min(k, len(ranked)/2)
	return ranked[:k], ranked[len(ranked)-k:], ranked
}

// pbtRank is id's rank, 1 for the best, in ranked (worst first).
func pbtRank(ranked []string, id string) int { return len(ranked) - slices.Index(ranked, id) }

// exploit makes a bottom-quantile trial copy a random top-quantile trial
// with a checkpoint.
func (p *pbtScheduler) exploit(id string, tr *pbtTrial, upper []string, at string) Decision {
	var sources []string
	for _, u := range upper {
		if p.trials[u].checkpoint {
			sources = append(sources, u)
		}
	}
	if len(sources) == 0 {
		return Decision{Action: Continue, Reason: at + " (bottom quantile), but no top-quantile trial has a checkpoint to exploit"}
	}
	srcID := sources[p.rng.IntN(len(sources))]
	src := p.trials[srcID]
	params := p.explore(src.params)
	tr.params = params
	// It now carries the source's state: it takes the source's clock, as
	// in Ray, and its score too (Ray keeps the old one), so that others
	// are not ranked against a state it no longer has.
	tr.score, tr.lastTrain, tr.lastPerturb = src.score, src.lastTrain, src.lastPerturb
	tr.checkpoint = false
	return Decision{Action: Exploit, Source: srcID, Params: params,
		Reason: fmt.Sprintf("%s (bottom quantile): exploits %s (%s=%v); explored %s",
			at, srcID, p.cfg.Metric, p.sign*src.score, describeParamChanges(src.params, params))}
}

func (p *pbtScheduler) othersWaiting(id string) int {
	n := 0
	for _, o := range p.order {
		if tr := p.trials[o]; o != id && tr.waiting && !tr.done {
			n++
		}
	}
	return n
}

// explore returns a copy of params with every mutated parameter
// resampled (with ResampleProbability) or perturbed: a number times a
// random perturbation factor, clipped to its domain (ints rounded); a
// list value shifted one place up or down (kept at the ends), as Ray.
func (p *pbtScheduler) explore(params Params) Params {
	flat := params.Flat()
	for _, m := range p.mutations {
		cur, has := flat[m.path]
		resample := p.rng.Float64() < p.cfg.ResampleProbability
		switch {
		case m.values != nil:
			i := choiceIndex(m.values, cur)
			if resample || !has || i < 0 {
				flat[m.path] = m.values[p.rng.IntN(len(m.values))]
				continue
			}
			i += []int{-1, 1}[p.rng.IntN(2)]
			flat[m.path] = m.values[max(0, min(len(m.values)-1, i))]
		case m.domain.Kind() == KindSampleFrom:
			x, numeric := toFloat(cur)
			if resample || !has || !numeric {
				flat[m.path] = m.domain.fn(unflatten(flat))
				continue
			}
			x *= p.cfg.PerturbationFactors[p.rng.IntN(2)]
			if holdsInt(cur) {
				flat[m.path] = int64(math.Round(x))
			} else {
				flat[m.path] = x
			}
		default:
			x, numeric := toFloat(cur)
			if resample || !has || !numeric {
				flat[m.path] = m.domain.Sample(p.rng)
				continue
			}
			flat[m.path] = m.domain.Clip(x * p.cfg.PerturbationFactors[p.rng.IntN(2)])
		}
	}
	out := unflatten(flat)
	if p.cfg.CustomExplore != nil {
		out = p.cfg.CustomExplore(out)
	}
	return out
}

// choiceIndex finds v in values, numbers compared by value (Params hold
// int64 and float64 where the list may hold int).
func choiceIndex(values []any, v any) int {
	x, numeric := toFloat(v)
	for i, w := range values {
		if y, ok := toFloat(w); ok && numeric {
			if x == y {
				return i
			}
			continue
		}
		if reflect.DeepEqual(v, w) {
			return i
		}
	}
	return -1
}

func holdsInt(v any) bool {
	switch v.(type) {
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return true
	}
	return false
}

// describeParamChanges lists the values that differ from old to new.
func describeParamChanges(before, after Params) string {
	of, nf := before.Flat(), after.Flat()
	var parts []string
	for k, v := range nf {
		if w, ok := of[k]; !ok || !reflect.DeepEqual(v, w) {
			parts = append(parts, fmt.Sprintf("%s: %v -> %v", k, w, v))
		}
	}
	if len(parts) == 0 {
		return "no change"
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func (p *pbtScheduler) OnTrialComplete(t TrialInfo, _ *Result) { p.trial(t).done = true }
func (p *pbtScheduler) OnTrialRemove(t TrialInfo)              { p.trial(t).done = true }

// ChooseTrialToRun picks the waiting trial with the least training
// (TimeAttr at its latest result), the first in order among equals.
func (p *pbtScheduler) ChooseTrialToRun(waiting []TrialInfo) string {
	best, bestTrain := "", math.Inf(1)
	for _, t := range waiting {
		if t.State != Pending && t.State != Paused {
			continue
		}
		train := 0.0
		if tr := p.trials[t.ID]; tr != nil {
			train = tr.lastTrain
		}
		if train < bestTrain {
			best, bestTrain = t.ID, train
		}
	}
	return best
}
