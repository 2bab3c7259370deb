package tune

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// ASHAConfig configures ASHA (Ray's ASHAScheduler, alias of
// AsyncHyperBandScheduler). Zero fields take Ray's defaults.
type ASHAConfig struct {
	// TimeAttr is the result value that measures training progress
	// (Ray's time_attr; default TrainingIteration).
	TimeAttr string
	// Metric and Mode default to the experiment's.
	Metric string
	Mode   Mode
	// MaxT is the most TimeAttr a trial may reach (max_t; default 100).
	MaxT float64
	// GracePeriod is the first rung: no trial stops before it
	// (grace_period; default 1).
	GracePeriod float64
	// ReductionFactor is η: rungs lie at GracePeriod·η^k, and a trial
	// continues past a rung if it is in the top 1/η there
	// (reduction_factor; default 4).
	ReductionFactor float64
	// Brackets is the number of brackets; bracket s skips the lowest s
	// rungs (brackets; default 1).
	Brackets int
	// KeepLastTrials lets trials run past MaxT instead of stopping them
	// there (Ray's stop_last_trials=False).
	KeepLastTrials bool
	// Seed draws each trial's bracket.
	Seed int64
}

// ASHA returns the asynchronous successive halving scheduler (Li et al.
// 2020, "A System for Massively Parallel Hyperparameter Tuning"). Each
// trial is put in one bracket when it is added, at random weighted as
// Ray does (softmax of the brackets' rung counts). When a trial's
// TimeAttr first reaches one of its bracket's rungs, it continues if its
// value is at least the (1-1/η) percentile of the values recorded at
// that rung so far (numpy's linear interpolation, as Ray's cutoff), and
// stops otherwise; promotion never waits for other trials. A trial
// reaching MaxT stops there (TERMINATED) unless KeepLastTrials.
//
// Rungs lie strictly below MaxT (Ray also places one at MaxT when it is
// an exact power, which only matters with KeepLastTrials). A result
// without the metric or TimeAttr continues; a NaN value loses to any
// cutoff.
func ASHA(cfg ASHAConfig) Scheduler { return &ashaScheduler{cfg: cfg} }

type ashaScheduler struct {
	cfg      ASHAConfig
	sign     float64
	rng      *rand.Rand
	brackets []*ashaBracket
	weights  []float64      // cumulative selection probabilities
	bracket  map[string]int // trial → its bracket
}

// ashaBracket holds a bracket's rungs, lowest first, and the signed
// values recorded at each.
type ashaBracket struct {
	milestones []float64
	recorded   []map[string]float64
}

// ashaStream separates ASHA's random stream from other users of a seed.
const ashaStream = 0xa5a

func (a *ashaScheduler) Setup(metric string, mode Mode) error {
	c := &a.cfg
	var err error
	if c.Metric, c.Mode, err = schedulerMetricMode("ASHA", c.Metric, c.Mode, metric, mode); err != nil {
		return err
	}
	if c.TimeAttr == "" {
		c.TimeAttr = TrainingIteration
	}
	if c.MaxT == 0 {
		c.MaxT = 100
	}
	if c.GracePeriod == 0 {
		c.GracePeriod = 1
	}
	if c.ReductionFactor == 0 {
		c.ReductionFactor = 4
	}
	if c.Brackets == 0 {
		c.Brackets = 1
	}
	switch {
	case !(c.MaxT > 0) || math.IsInf(c.MaxT, 0):
		return fmt.Errorf("%w: ASHA: MaxT %v must be positive and finite", ErrInvalidConfig, c.MaxT)
	case !(c.GracePeriod > 0) || c.GracePeriod > c.MaxT:
		return fmt.Errorf("%w: ASHA: GracePeriod %v must be positive and at most MaxT %v", ErrInvalidConfig, c.GracePeriod, c.MaxT)
	case !(c.ReductionFactor > 1) || math.IsInf(c.ReductionFactor, 0):
		return fmt.Errorf("%w: ASHA: ReductionFactor %v must be above 1", ErrInvalidConfig, c.ReductionFactor)
	case c.Brackets < 0:
		return fmt.Errorf("%w: ASHA: Brackets %d must be positive", ErrInvalidConfig, c.Brackets)
	}
	a.sign = c.Mode.Sign()
	a.rng = rand.New(rand.NewPCG(uint64(c.Seed), ashaStream))
	a.bracket = map[string]int{}
	a.brackets = nil
	for s := range c.Brackets {
		b := &ashaBracket{}
		for m := c.GracePeriod * math.Pow(c.ReductionFactor, float64(s)); m < c.MaxT; m *= c.ReductionFactor {
			b.milestones = append(b.milestones, m)
			b.recorded = append(b.recorded, map[string]float64{})
		}
		a.brackets = append(a.brackets, b)
	}
	// Ray's weighting: a softmax of the brackets' rung counts, so the
	// brackets with the most rungs (the most aggressive) get most trials.
	most := 0
	for _, b := range a.brackets {
		most = max(most, len(b.milestones))
	}
	a.weights = make([]float64, len(a.brackets))
	total := 0.0
	for i, b := range a.brackets {
		total += math.Exp(float64(len(b.milestones) - most))
		a.weights[i] = total
	}
	for i := range a.weights {
		a.weights[i] /= total
	}
	return nil
}

func (a *ashaScheduler) OnTrialAdd(t TrialInfo) { a.assign(t.ID) }

// assign draws a trial's bracket (once).
func (a *ashaScheduler) assign(id string) int {
	if i, ok := a.bracket[id]; ok {
		return i
	}
	u := a.rng.Float64()
	i := 0
	for i < len(a.weights)-1 && u >= a.weights[i] {
		i++
	}
	a.bracket[id] = i
	return i
}

func (a *ashaScheduler) OnTrialResult(t TrialInfo, r Result) Decision {
	now, value, ok := a.read(r)
	if !ok {
		return Decision{Action: Continue, Reason: fmt.Sprintf("ASHA: result lacks %s or %s", a.cfg.Metric, a.cfg.TimeAttr)}
	}
	if now >= a.cfg.MaxT && !a.cfg.KeepLastTrials {
		return Decision{Action: Stop, Reason: fmt.Sprintf("ASHA: reached max_t (%s=%v >= %v)", a.cfg.TimeAttr, now, a.cfg.MaxT)}
	}
	return a.promote(t.ID, now, value)
}

// read returns a result's progress and signed value (higher is better).
func (a *ashaScheduler) read(r Result) (now, value float64, ok bool) {
	now, ok1 := r.Value(a.cfg.TimeAttr)
	v, ok2 := r.Value(a.cfg.Metric)
	return now, a.sign * v, ok1 && ok2
}

// promote judges a trial once at the highest rung it has reached: its
// value joins that rung's records after the cutoff is taken from the
// others'. (Ray's bracket would also judge it, later, at a lower rung it
// jumped over; only the highest counts here.)
func (a *ashaScheduler) promote(id string, now, value float64) Decision {
	bi := a.assign(id)
	b := a.brackets[bi]
	for k := len(b.milestones) - 1; k >= 0; k-- {
		milestone, recorded := b.milestones[k], b.recorded[k]
		if now < milestone {
			continue
		}
		if _, seen := recorded[id]; seen {
			break // judged at the highest rung it reached already
		}
		cutoff, n, has := rungCutoff(recorded, 1-1/a.cfg.ReductionFactor)
		recorded[id] = value
		where := fmt.Sprintf("rung %d (%s=%v) of bracket %d", k, a.cfg.TimeAttr, milestone, bi)
		if !has {
			return Decision{Action: Continue, Reason: fmt.Sprintf("ASHA: %s: %s=%v is the first value recorded there", where, a.cfg.Metric, a.sign*value)}
		}
		if math.IsNaN(value) || value < cutoff {
			return Decision{Action: Stop, Reason: fmt.Sprintf("ASHA: %s: %s=%v is worse than the cutoff %v (top 1/%v of %d recorded)",
				where, a.cfg.Metric, a.sign*value, a.sign*cutoff, a.cfg.ReductionFactor, n)}
		}
		return Decision{Action: Continue, Reason: fmt.Sprintf("ASHA: %s: %s=%v reaches the cutoff %v (top 1/%v of %d recorded): promoted",
			where, a.cfg.Metric, a.sign*value, a.sign*cutoff, a.cfg.ReductionFactor, n)}
	}
	return Decision{Action: Continue}
}

// rungCutoff is the q-quantile (0..1) of the non-NaN values, linearly
// interpolated (numpy's nanpercentile), and how many values it used.
func rungCutoff(recorded map[string]float64, q float64) (cutoff float64, n int, ok bool) {
	xs := make([]float64, 0, len(recorded))
	for _, v := range recorded {
		if !math.IsNaN(v) {
			xs = append(xs, v)
		}
	}
	if len(xs) == 0 {
		return 0, 0, false
	}
	slices.Sort(xs)
	pos := q * float64(len(xs)-1)
	lo := int(math.Floor(pos))
	if lo >= len(xs)-1 {
		return xs[len(xs)-1], len(xs), true
	}
	frac := pos - float64(lo)
	return xs[lo] + frac*(xs[lo+1]-xs[lo]), len(xs), true
}

func (a *ashaScheduler) OnTrialComplete(t TrialInfo, r *Result) {
	// A trial that ends by itself still leaves its value at the rung it
	// reached, as in Ray, so later trials are judged against it.
	if r != nil {
		if now, value, ok := a.read(*r); ok {
			a.promote(t.ID, now, value)
		}
	}
	delete(a.bracket, t.ID)
}

func (a *ashaScheduler) OnTrialRemove(t TrialInfo) { delete(a.bracket, t.ID) }

func (a *ashaScheduler) ChooseTrialToRun(waiting []TrialInfo) string {
	return firstPendingThenPaused(waiting)
}
