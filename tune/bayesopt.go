package tune

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/rayo-dev/rayo/tune/internal/gp"
)

// BayesOptConfig configures BayesOpt.
type BayesOptConfig struct {
	// NInitialPoints is how many trials are drawn at random before the
	// GP takes over (Ray's random_search_steps, scikit-optimize's
	// n_initial_points); trials added with AddTrial count. 0 means 10.
	NInitialPoints int
	// Xi is expected improvement's exploration margin, in units of the
	// observations' standard deviation (scikit-optimize's xi). 0 means
	// 0.01.
	Xi float64
	// NCandidates is how many random points the acquisition is scored at
	// before the best few are refined (scikit-optimize's n_points). 0
	// means 2000.
	NCandidates int
	// Seed seeds the search; 0 means SearchConfig.Seed.
	Seed int64
}

// BayesOptSearcher is Gaussian-process Bayesian optimisation (Ray's
// BayesOptSearch; it behaves as scikit-optimize's gp_minimize with EI):
// after NInitialPoints random trials, each suggestion fits a GP with a
// Matérn 5/2 ARD kernel to the finished trials' metric and maximises
// expected improvement. Running trials enter the GP at its own predicted
// mean (the kriging believer), so that parallel suggestions differ.
//
// Each searchable parameter is a dimension of the unit cube: floats
// linearly or, for log domains, in log space; ints as floats rounded to
// the domain's values; normals through their CDF, so that random points
// follow the prior; a Choice of k values as k one-hot dimensions (the
// largest wins). SampleFrom is left to Tune; a GridSearch is refused. The
// GP learns from a trial's last result (OnTrialComplete), not from its
// intermediate ones; failed trials and results without the metric are
// left out.
type BayesOptSearcher struct {
	cfg   BayesOptConfig
	sc    SearchConfig
	seed  uint64
	ready bool
	dims  []boDim
	width int // the cube's dimension
	// suggested counts Suggest's configurations; it numbers their random
	// streams, so replaying the same calls replays the suggestions.
	suggested int
	trials    map[string]*boTrial
	// pending are trials without a final result, observed the finished
	// ones with the metric, each in the order the searcher learnt of them.
	pending  []string
	observed []*boTrial
	// fitted is the last fit's hyperparameters, where the next fit starts.
	fitted *gp.Hyper
}

type boTrial struct {
	x    []float64 // nil: values the cube cannot hold
	y    float64   // the metric, negated in Max mode
	done bool
}

// BayesOpt returns a Gaussian-process Bayesian optimisation searcher
// (Ray's BayesOptSearch). Setup checks cfg.
func BayesOpt(cfg BayesOptConfig) *BayesOptSearcher {
	return &BayesOptSearcher{cfg: cfg, trials: map[string]*boTrial{}}
}

var (
	_ Searcher   = (*BayesOptSearcher)(nil)
	_ TrialAdder = (*BayesOptSearcher)(nil)
)

// Setup implements Searcher.
func (s *BayesOptSearcher) Setup(sc SearchConfig) error {
	c := s.cfg
	switch {
	case sc.Metric == "":
		return fmt.Errorf("%w: BayesOpt needs a metric", ErrInvalidConfig)
	case c.NInitialPoints < 0, c.NCandidates < 0, c.Xi < 0 || math.IsNaN(c.Xi) || math.IsInf(c.Xi, 0):
		return fmt.Errorf("%w: BayesOpt: NInitialPoints %d, NCandidates %d and Xi %v must not be negative",
			ErrInvalidConfig, c.NInitialPoints, c.NCandidates, c.Xi)
	case sc.NumSamples < 0:
		return fmt.Errorf("%w: BayesOpt: NumSamples %d is negative", ErrInvalidConfig, sc.NumSamples)
	}
	if err := sc.Mode.Validate(); err != nil {
		return fmt.Errorf("BayesOpt: %w", err)
	}
	if c.NInitialPoints == 0 {
		c.NInitialPoints = 10
	}
	if c.Xi == 0 {
		c.Xi = 0.01
	}
	if c.NCandidates == 0 {
		c.NCandidates = 2000
	}
	if c.Seed == 0 {
		c.Seed = sc.Seed
	}
	dims, width, err := boDims(sc.Params)
	if err != nil {
		return err
	}
	s.cfg, s.sc, s.seed = c, sc, uint64(c.Seed)
	s.dims, s.width, s.ready = dims, width, true
	return nil
}

// Suggest implements Searcher.
func (s *BayesOptSearcher) Suggest(trialID string) (map[string]any, error) {
	if !s.ready {
		return nil, fmt.Errorf("%w: BayesOpt: Suggest before Setup", ErrInvalidConfig)
	}
	if s.sc.NumSamples > 0 && s.suggested >= s.sc.NumSamples {
		return nil, ErrSearchFinished
	}
	rng := rand.New(rand.NewPCG(s.seed, uint64(s.suggested)))
	var x []float64
	if len(s.trials) >= s.cfg.NInitialPoints && len(s.observed) >= 2 && s.width > 0 {
		x = s.acquire(rng)
	}
	var values map[string]any
	if x != nil {
		values = s.decode(x)
	} else {
		values = s.sample(rng)
		x, _ = s.encode(values)
	}
	s.suggested++
	s.track(trialID, x)
	return values, nil
}

// AddTrial implements TrialAdder: the trial's values enter the GP once
// it finishes, and count as one of the initial points.
func (s *BayesOptSearcher) AddTrial(trialID string, values map[string]any) {
	x, ok := s.encode(values)
	if !ok {
		x = nil
	}
	s.track(trialID, x)
}

func (s *BayesOptSearcher) track(trialID string, x []float64) {
	if _, ok := s.trials[trialID]; ok {
		s.forgetPending(trialID)
	}
	s.trials[trialID] = &boTrial{x: x}
	s.pending = append(s.pending, trialID)
}

func (s *BayesOptSearcher) forgetPending(trialID string) {
	for i, id := range s.pending {
		if id == trialID {
			s.pending = append(s.pending[:i], s.pending[i+1:]...)
			return
		}
	}
}

// OnTrialResult implements Searcher: the GP waits for a trial's last
// result.
func (s *BayesOptSearcher) OnTrialResult(string, Result) {}

// OnTrialComplete implements Searcher.
func (s *BayesOptSearcher) OnTrialComplete(trialID string, r *Result, failed bool) {
	t, ok := s.trials[trialID]
	if !ok || t.done {
		return
	}
	t.done = true
	s.forgetPending(trialID)
	if failed || r == nil || t.x == nil {
		return
	}
	v, ok := r.Value(s.sc.Metric)
	if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	t.y = -s.sc.Mode.Sign() * v // the GP minimises
	s.observed = append(s.observed, t)
}

// acquire fits the GP and returns the point maximising expected
// improvement, nil if the GP cannot be fitted.
func (s *BayesOptSearcher) acquire(rng *rand.Rand) []float64 {
	xs := make([][]float64, len(s.observed))
	ys := make([]float64, len(s.observed))
	best := math.Inf(1)
	for i, t := range s.observed {
		xs[i], ys[i] = t.x, t.y
		best = math.Min(best, t.y)
	}
	model, err := gp.Fit(xs, ys, gp.FitOptions{Restarts: 2, Seed: rng.Uint64(), Start: s.fitted})
	if err != nil {
		return nil
	}
	h := model.Hyper()
	s.fitted = &h
	// Kriging believer: running trials count as observed at the mean.
	var px [][]float64
	var py []float64
	for _, id := range s.pending {
		if x := s.trials[id].x; x != nil {
			mean, _ := model.Predict(x)
			px, py = append(px, x), append(py, mean)
		}
	}
	if len(px) > 0 {
		if believed, err := model.Condition(px, py); err == nil {
			model = believed
		}
	}
	acq := model.EI(best, s.cfg.Xi)
	opt := gp.MaximizeOptions{Candidates: s.cfg.NCandidates}
	if s.needsProjection() {
		opt.Project = s.project
	}
	return gp.Maximize(acq.At, s.width, rng, opt)
}

// sample draws every searchable parameter from its domain.
func (s *BayesOptSearcher) sample(rng *rand.Rand) map[string]any {
	values := make(map[string]any, len(s.dims))
	for _, d := range s.dims {
		values[d.param.Path] = d.param.Domain.Sample(rng)
	}
	return values
}

func (s *BayesOptSearcher) decode(x []float64) map[string]any {
	values := make(map[string]any, len(s.dims))
	for _, d := range s.dims {
		values[d.param.Path] = d.decode(x[d.offset : d.offset+d.width])
	}
	return values
}

// encode maps values by path to the cube; false if one is missing or
// is not a value of its domain.
func (s *BayesOptSearcher) encode(values map[string]any) ([]float64, bool) {
	x := make([]float64, s.width)
	for _, d := range s.dims {
		v, ok := values[d.param.Path]
		if !ok || !d.encode(v, x[d.offset:d.offset+d.width]) {
			return nil, false
		}
	}
	return x, true
}

// project moves x onto the cube's points that are values: ints rounded,
// quantised floats, one-hot choices.
func (s *BayesOptSearcher) project(x []float64) {
	for _, d := range s.dims {
		u := x[d.offset : d.offset+d.width]
		d.encode(d.decode(u), u)
	}
}

// needsProjection reports whether some point of the cube is not a value:
// a float without a quantum takes every point.
func (s *BayesOptSearcher) needsProjection() bool {
	for _, d := range s.dims {
		if k := d.param.Domain.Kind(); (k != KindFloat && k != KindNormal) || d.param.Domain.Q() > 0 {
			return true
		}
	}
	return false
}

var errBOGrid = errors.New("BayesOpt cannot search a GridSearch; use random search")

// boDim is one parameter's slice of the cube: [offset, offset+width).
type boDim struct {
	param         Param
	offset, width int
	// Numeric domains: the cube's [0,1] spans [lo, hi], in log space for
	// log domains (an int's range is widened by half a step each side, so
	// that its end values get their share).
	lo, hi float64
}

// boDims lays params out in the cube.
func boDims(params []Param) ([]boDim, int, error) {
	var dims []boDim
	width := 0
	for _, p := range params {
		d := p.Domain
		if err := d.Err(); err != nil {
			return nil, 0, fmt.Errorf("%w: %q: %w", ErrInvalidConfig, p.Path, err)
		}
		dim := boDim{param: p, offset: width, width: 1}
		switch d.Kind() {
		case KindFloat:
			dim.lo, dim.hi = d.Bounds()
		case KindInt:
			low, high := d.Bounds()
			if !d.IntHighInclusive() {
				high--
			}
			dim.lo, dim.hi = low-0.5, high+0.5
		case KindNormal:
		case KindChoice:
			dim.width = len(d.Values())
		case KindSampleFrom:
			continue // Tune resolves it after the searcher
		case KindGrid:
			return nil, 0, fmt.Errorf("%w: %q: %w", ErrInvalidConfig, p.Path, errBOGrid)
		default:
			return nil, 0, fmt.Errorf("%w: %q: a zero or unknown Domain", ErrInvalidConfig, p.Path)
		}
		if d.Log() {
			dim.lo, dim.hi = math.Log(dim.lo), math.Log(dim.hi)
		}
		dims = append(dims, dim)
		width += dim.width
	}
	return dims, width, nil
}

// decode returns the value at u, the dimension's slice of a point.
func (d boDim) decode(u []float64) any {
	dom := d.param.Domain
	switch dom.Kind() {
	case KindChoice:
		best := 0
		for i, v := range u {
			if v > u[best] {
				best = i
			}
		}
		return dom.Values()[best]
	case KindNormal:
		mean, sd := dom.Bounds()
		p := math.Min(math.Max(u[0], 1e-6), 1-1e-6)
		return dom.Clip(mean + sd*math.Sqrt2*math.Erfinv(2*p-1))
	}
	x := d.lo + (d.hi-d.lo)*math.Min(math.Max(u[0], 0), 1)
	if dom.Log() {
		x = math.Exp(x)
	}
	return dom.Clip(x)
}

// encode writes v's coordinates into u; false if v is not a value of the
// domain (a number out of range is clamped in).
func (d boDim) encode(v any, u []float64) bool {
	dom := d.param.Domain
	if dom.Kind() == KindChoice {
		for i, c := range dom.Values() {
			if sameValue(c, v) {
				for k := range u {
					u[k] = 0
				}
				u[i] = 1
				return true
			}
		}
		return false
	}
	x, ok := toFloat(v)
	if !ok || math.IsNaN(x) || math.IsInf(x, 0) {
		return false
	}
	if dom.Kind() == KindNormal {
		mean, sd := dom.Bounds()
		u[0] = 0.5 * math.Erfc(-(x-mean)/(sd*math.Sqrt2))
		return true
	}
	if dom.Log() {
		if x <= 0 {
			return false
		}
		x = math.Log(x)
	}
	u[0] = math.Min(math.Max((x-d.lo)/(d.hi-d.lo), 0), 1)
	return true
}
