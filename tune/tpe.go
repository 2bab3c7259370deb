package tune

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"

	"github.com/rayo-dev/rayo/tune/internal/tpe"
)

// TPEConfig sets up TPE (the arguments of Optuna's TPESampler, which Ray
// wraps as OptunaSearch). Zero values mean Optuna 3.1's defaults.
type TPEConfig struct {
	// NStartupTrials: suggestions are random until this many trials have
	// finished (n_startup_trials; default 10).
	NStartupTrials int
	// NEICandidates: points drawn from the good trials' density to pick
	// the best ratio from (n_ei_candidates; default 24).
	NEICandidates int
	// Multivariate models the parameters jointly (multivariate=True)
	// rather than one at a time.
	Multivariate bool
	// ConstantLiar counts running trials as the worst (constant_liar), so
	// that trials suggested in parallel spread out.
	ConstantLiar bool
	// PriorWeight is the weight of the prior component (prior_weight;
	// default 1).
	PriorWeight float64
	// ConsiderEndpoints lets the outermost kernels reach the range's ends
	// (consider_endpoints; default false).
	ConsiderEndpoints bool
	// DisableMagicClip turns off the lower bound on kernel widths
	// (consider_magic_clip=False).
	DisableMagicClip bool
	// Seed seeds the search; 0 means SearchConfig.Seed.
	Seed int64
}

// TPESearcher is a Searcher by the Tree-structured Parzen Estimator
// (Bergstra et al. 2011), as Optuna 3.1's TPESampler runs it (Ray's
// OptunaSearch with its default sampler). Make one with TPE.
//
// It models Uniform, QUniform, LogUniform, QLogUniform (log, then
// rounded), RandInt, QRandInt, LogRandInt and Choice domains. Normal and
// QNormal domains are not modelled: each suggestion samples them from
// their prior. SampleFrom domains are left to Tune; GridSearch is
// refused. It minimises the metric (Mode Max is negated). A trial that
// finished by itself counts with its last result's metric; one stopped by
// a scheduler counts as pruned at its last iteration; a failed one, or
// one without the metric, does not count.
//
// Suggestions depend only on the seed and on the sequence of calls, so
// replaying the calls replays the suggestions.
type TPESearcher struct {
	cfg     TPEConfig
	metric  string
	sign    float64 // loss = sign * metric
	limit   int
	seed    uint64
	sampler *tpe.Sampler
	// params are the modelled domains, in dimension order; normals are
	// sampled from their prior.
	params  []Param
	normals []Param
	// trials in the order they started, and their index by ID.
	trials []tpe.Observation
	index  map[string]int
	// suggested counts Suggest's answers; it also numbers the random
	// streams.
	suggested int
}

var (
	_ Searcher   = (*TPESearcher)(nil)
	_ TrialAdder = (*TPESearcher)(nil)
)

// TPE returns a TPE searcher (Ray's OptunaSearch with TPESampler).
func TPE(cfg TPEConfig) *TPESearcher {
	return &TPESearcher{cfg: cfg}
}

// Setup checks the configuration and maps the space to TPE's dimensions.
func (s *TPESearcher) Setup(sc SearchConfig) error {
	if sc.Metric == "" {
		return fmt.Errorf("%w: TPE needs a metric", ErrInvalidConfig)
	}
	if err := sc.Mode.Validate(); err != nil {
		return fmt.Errorf("TPE: %w", err)
	}
	if sc.NumSamples < 0 {
		return fmt.Errorf("%w: TPE: NumSamples %d is negative", ErrInvalidConfig, sc.NumSamples)
	}
	c := s.cfg
	if c.NStartupTrials < 0 || c.NEICandidates < 0 || c.PriorWeight < 0 || math.IsNaN(c.PriorWeight) || math.IsInf(c.PriorWeight, 0) {
		return fmt.Errorf("%w: TPE: NStartupTrials, NEICandidates and PriorWeight must not be negative (or infinite)", ErrInvalidConfig)
	}
	tc := tpe.DefaultConfig()
	if c.NStartupTrials > 0 {
		tc.NStartupTrials = c.NStartupTrials
	}
	if c.NEICandidates > 0 {
		tc.NEICandidates = c.NEICandidates
	}
	if c.PriorWeight > 0 {
		tc.PriorWeight = c.PriorWeight
	}
	tc.Multivariate, tc.ConstantLiar = c.Multivariate, c.ConstantLiar
	tc.ConsiderEndpoints, tc.MagicClip = c.ConsiderEndpoints, !c.DisableMagicClip

	var dims []tpe.Dim
	s.params, s.normals = nil, nil
	for _, p := range sc.Params {
		switch p.Domain.Kind() {
		case KindGrid:
			return fmt.Errorf("%w: TPE cannot search the grid %q; use a Choice", ErrInvalidConfig, p.Path)
		case KindSampleFrom:
			continue
		case KindNormal:
			s.normals = append(s.normals, p)
			continue
		}
		dim, err := dimOf(p.Domain)
		if err != nil {
			return fmt.Errorf("%w: TPE: %q: %v", ErrInvalidConfig, p.Path, err)
		}
		s.params = append(s.params, p)
		dims = append(dims, dim)
	}
	sampler, err := tpe.New(dims, tc)
	if err != nil {
		return fmt.Errorf("%w: TPE: %v", ErrInvalidConfig, err)
	}
	seed := c.Seed
	if seed == 0 {
		seed = sc.Seed
	}
	*s = TPESearcher{
		cfg: c, metric: sc.Metric, sign: -sc.Mode.Sign(), limit: sc.NumSamples,
		seed: uint64(seed), sampler: sampler, params: s.params, normals: s.normals,
		index: map[string]int{},
	}
	return nil
}

// dimOf maps a domain to a TPE dimension. Quantized floats model the
// multiples of q inside the range; ints their possible values.
func dimOf(d Domain) (tpe.Dim, error) {
	low, high := d.Bounds()
	switch d.Kind() {
	case KindFloat:
		if q := d.Q(); q > 0 && !d.Log() {
			lo, hi := math.Ceil(low/q)*q, math.Floor(high/q)*q
			if lo <= hi {
				return tpe.Dim{Kind: tpe.Float, Low: lo, High: hi, Step: q}, nil
			}
		}
		return tpe.Dim{Kind: tpe.Float, Low: low, High: high, Log: d.Log()}, nil
	case KindInt:
		top := high
		if !d.IntHighInclusive() {
			top--
		}
		if q := d.Q(); q > 0 && !d.Log() {
			lo, hi := math.Ceil(low/q)*q, math.Floor(top/q)*q
			if lo <= hi {
				return tpe.Dim{Kind: tpe.Int, Low: lo, High: hi, Step: q}, nil
			}
		}
		return tpe.Dim{Kind: tpe.Int, Low: low, High: top, Log: d.Log()}, nil
	case KindChoice:
		return tpe.Dim{Kind: tpe.Categorical, N: len(d.Values())}, nil
	}
	return tpe.Dim{}, fmt.Errorf("unsupported domain kind %s", d.Kind())
}

// Suggest proposes the next trial's values.
func (s *TPESearcher) Suggest(trialID string) (map[string]any, error) {
	if s.sampler == nil {
		return nil, fmt.Errorf("%w: TPE: Suggest before Setup", ErrInvalidConfig)
	}
	if s.limit > 0 && s.suggested >= s.limit {
		return nil, ErrSearchFinished
	}
	rng := rand.New(rand.NewPCG(s.seed, uint64(s.suggested)))
	s.suggested++
	x := s.sampler.Sample(s.trials, rng)
	out := make(map[string]any, len(s.params)+len(s.normals))
	for d, p := range s.params {
		out[p.Path] = valueOf(p.Domain, x[d])
	}
	for _, p := range s.normals {
		out[p.Path] = p.Domain.Sample(rng)
	}
	s.start(trialID, x)
	return out, nil
}

func valueOf(d Domain, x float64) any {
	if d.Kind() == KindChoice {
		return d.values[int(x)]
	}
	return d.Clip(x)
}

// start records a running trial at x (a trial ID seen again starts over).
func (s *TPESearcher) start(trialID string, x []float64) {
	o := tpe.Observation{X: x, State: tpe.Running}
	if i, ok := s.index[trialID]; ok {
		s.trials[i] = o
		return
	}
	s.index[trialID] = len(s.trials)
	s.trials = append(s.trials, o)
}

// AddTrial counts a trial TPE did not suggest, at values (by path), as
// running until it completes. A value missing, of the wrong type or not
// among a Choice's values makes the trial ignored.
func (s *TPESearcher) AddTrial(trialID string, values map[string]any) {
	if s.sampler == nil {
		return
	}
	x := make([]float64, len(s.params))
	for d, p := range s.params {
		v, ok := values[p.Path]
		if !ok {
			return
		}
		if p.Domain.Kind() == KindChoice {
			k := slicesIndexFunc(p.Domain.values, v)
			if k < 0 {
				return
			}
			x[d] = float64(k)
			continue
		}
		f, ok := toFloat(v)
		if !ok {
			return
		}
		// Clip, then read back: the model's point is inside its range.
		c, _ := toFloat(p.Domain.Clip(f))
		dims := s.sampler.Dims()
		x[d] = math.Max(dims[d].Low, math.Min(dims[d].High, c))
	}
	s.start(trialID, x)
}

func slicesIndexFunc(values []any, v any) int {
	for k, c := range values {
		if reflect.DeepEqual(c, v) {
			return k
		}
		if a, ok := toFloat(c); ok {
			if b, ok := toFloat(v); ok && a == b {
				return k
			}
		}
	}
	return -1
}

// OnTrialResult is a no-op: TPE learns from a trial's last result, which
// OnTrialComplete brings.
func (s *TPESearcher) OnTrialResult(trialID string, r Result) {}

// OnTrialComplete records a trial's outcome: complete (r.Done), pruned at
// r.Iteration (stopped early), or dropped (failed, no result, no metric).
// Unknown trial IDs are ignored.
func (s *TPESearcher) OnTrialComplete(trialID string, r *Result, failed bool) {
	i, ok := s.index[trialID]
	if !ok {
		return
	}
	var v float64
	if r != nil {
		v, ok = r.Metrics[s.metric]
	}
	if failed || r == nil || !ok || math.IsNaN(v) {
		s.drop(i, trialID)
		return
	}
	o := &s.trials[i]
	o.Loss = s.sign * v
	o.State = tpe.Complete
	if !r.Done {
		o.State, o.Step = tpe.Pruned, r.Iteration
	}
}

// drop forgets trial i, as Optuna ignores FAIL trials.
func (s *TPESearcher) drop(i int, trialID string) {
	s.trials = append(s.trials[:i], s.trials[i+1:]...)
	delete(s.index, trialID)
	for id, j := range s.index {
		if j > i {
			s.index[id] = j - 1
		}
	}
}
