package tune

import (
	"fmt"
	"math"
	"slices"
)

// MedianStoppingConfig configures the median stopping rule (Ray's
// MedianStoppingRule). Zero fields take Ray's defaults.
type MedianStoppingConfig struct {
	// TimeAttr measures progress (default TimeTotalS).
	TimeAttr string
	// Metric and Mode default to the experiment's.
	Metric string
	Mode   Mode
	// GracePeriod: no trial stops before it, and results before it are
	// left out of the running means (grace_period; default 60, in
	// TimeAttr's units). Zero takes the default: for (almost) none, give a
	// tiny positive value.
	GracePeriod float64
	// MinSamplesRequired is how many other trials must have reached a
	// trial's progress before it can be judged (min_samples_required;
	// default 3).
	MinSamplesRequired int
	// MinTimeSlice: a trial that cannot be judged yet yields its slot to
	// waiting trials at most once per MinTimeSlice of TimeAttr
	// (min_time_slice; default 0).
	MinTimeSlice float64
	// SoftStop pauses a trial the rule condemns instead of stopping it
	// (Ray's hard_stop=False); it may be resumed later and then runs on.
	SoftStop bool
}

// MedianStopping returns the median stopping rule (Golovin et al. 2017,
// "Google Vizier"), as Ray's MedianStoppingRule: after the grace period a
// trial stops when its best value so far is worse than the median of the
// other trials' running means (the mean of each one's values from the
// grace period up to the trial's current progress), provided at least
// MinSamplesRequired of them got that far. Until then, it yields its slot
// (Pause) when trials are waiting. Trials without any value in that window
// are left out of the median.
func MedianStopping(cfg MedianStoppingConfig) Scheduler { return &medianStopping{cfg: cfg} }

type medianStopping struct {
	cfg       MedianStoppingConfig
	sign      float64
	order     []string                 // trials, as added
	results   map[string][]medianPoint // each trial's (progress, value)
	waiting   map[string]bool          // PENDING, or paused by this rule
	lastPause map[string]float64
	condemned map[string]bool // stopped (or, soft, paused) by the rule
}

type medianPoint struct{ at, value float64 } // value signed: higher is better

func (m *medianStopping) Setup(metric string, mode Mode) error {
	c := &m.cfg
	var err error
	if c.Metric, c.Mode, err = schedulerMetricMode("MedianStopping", c.Metric, c.Mode, metric, mode); err != nil {
		return err
	}
	if c.TimeAttr == "" {
		c.TimeAttr = TimeTotalS
	}
	if c.GracePeriod == 0 {
		c.GracePeriod = 60
	}
	if c.MinSamplesRequired == 0 {
		c.MinSamplesRequired = 3
	}
	switch {
	case !(c.GracePeriod > 0) || math.IsInf(c.GracePeriod, 0):
		return fmt.Errorf("%w: MedianStopping: GracePeriod %v must be positive and finite", ErrInvalidConfig, c.GracePeriod)
	case c.MinSamplesRequired < 0:
		return fmt.Errorf("%w: MedianStopping: MinSamplesRequired %d must be positive", ErrInvalidConfig, c.MinSamplesRequired)
	case !(c.MinTimeSlice >= 0) || math.IsInf(c.MinTimeSlice, 0):
		return fmt.Errorf("%w: MedianStopping: MinTimeSlice %v must be zero or positive", ErrInvalidConfig, c.MinTimeSlice)
	}
	m.sign = c.Mode.Sign()
	m.order = nil
	m.results = map[string][]medianPoint{}
	m.waiting = map[string]bool{}
	m.lastPause = map[string]float64{}
	m.condemned = map[string]bool{}
	return nil
}

func (m *medianStopping) OnTrialAdd(t TrialInfo) {
	if _, ok := m.results[t.ID]; !ok {
		m.order = append(m.order, t.ID)
		m.results[t.ID] = nil
	}
	m.waiting[t.ID] = true
}

func (m *medianStopping) OnTrialResult(t TrialInfo, r Result) Decision {
	if _, ok := m.results[t.ID]; !ok {
		m.OnTrialAdd(t)
	}
	delete(m.waiting, t.ID)
	now, ok1 := r.Value(m.cfg.TimeAttr)
	v, ok2 := r.Value(m.cfg.Metric)
	if !ok1 || !ok2 {
		return Decision{Action: Continue, Reason: fmt.Sprintf("MedianStopping: result lacks %s or %s", m.cfg.Metric, m.cfg.TimeAttr)}
	}
	if m.condemned[t.ID] {
		return Decision{Action: Continue} // soft-stopped and resumed: runs on
	}
	m.results[t.ID] = append(m.results[t.ID], medianPoint{at: now, value: m.sign * v})
	if now < m.cfg.GracePeriod {
		return Decision{Action: Continue}
	}
	var means []float64
	for _, id := range m.order {
		pts := m.results[id]
		if id == t.ID || len(pts) == 0 || pts[len(pts)-1].at < now {
			continue
		}
		if mean, ok := m.runningMean(pts, now); ok {
			means = append(means, mean)
		}
	}
	if len(means) < m.cfg.MinSamplesRequired {
		return m.yield(t.ID, now, len(means))
	}
	med := medianOfMeans(means)
	best := math.Inf(-1)
	for _, p := range m.results[t.ID] {
		best = math.Max(best, p.value)
	}
	if best < med && now > m.cfg.GracePeriod {
		m.condemned[t.ID] = true
		d := Decision{Action: Stop}
		if m.cfg.SoftStop {
			d.Action = Pause
			m.waiting[t.ID] = true
		}
		d.Reason = fmt.Sprintf("MedianStopping: at %s=%v the best %s=%v is worse than the median %v of %d other trials' running means",
			m.cfg.TimeAttr, now, m.cfg.Metric, m.sign*best, m.sign*med, len(means))
		return d
	}
	return Decision{Action: Continue}
}

// runningMean is the mean of a trial's values from the grace period up
// to now.
func (m *medianStopping) runningMean(pts []medianPoint, now float64) (float64, bool) {
	sum, n := 0.0, 0
	for _, p := range pts {
		if p.at >= m.cfg.GracePeriod && p.at <= now {
			sum += p.value
			n++
		}
	}
	return sum / float64(n), n > 0
}

// yield pauses a trial that cannot be judged yet if others wait for a
// slot and it ran MinTimeSlice since its last pause.
func (m *medianStopping) yield(id string, now float64, samples int) Decision {
	last, paused := m.lastPause[id]
	if paused && now-last <= m.cfg.MinTimeSlice {
		return Decision{Action: Continue}
	}
	others := 0
	for w := range m.waiting {
		if w != id {
			others++
		}
	}
	if others == 0 {
		return Decision{Action: Continue}
	}
	m.lastPause[id] = now
	m.waiting[id] = true
	return Decision{Action: Pause, Reason: fmt.Sprintf("MedianStopping: at %s=%v only %d of the %d trials needed to judge got this far; yielding to %d waiting",
		m.cfg.TimeAttr, now, samples, m.cfg.MinSamplesRequired, others)}
}

func medianOfMeans(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func (m *medianStopping) OnTrialComplete(t TrialInfo, r *Result) {
	delete(m.waiting, t.ID)
	if r == nil || m.condemned[t.ID] {
		return
	}
	// Its last result still counts for the others' medians.
	now, ok1 := r.Value(m.cfg.TimeAttr)
	v, ok2 := r.Value(m.cfg.Metric)
	if ok1 && ok2 {
		pts, known := m.results[t.ID]
		if !known {
			m.order = append(m.order, t.ID)
		}
		if len(pts) > 0 && pts[len(pts)-1].at == now {
			return // already seen as a result
		}
		m.results[t.ID] = append(m.results[t.ID], medianPoint{at: now, value: m.sign * v})
	}
}

func (m *medianStopping) OnTrialRemove(t TrialInfo) { delete(m.waiting, t.ID) }

func (m *medianStopping) ChooseTrialToRun(waiting []TrialInfo) string {
	return firstPendingThenPaused(waiting)
}
