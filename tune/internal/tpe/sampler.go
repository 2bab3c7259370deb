package tpe

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Config holds TPE's settings (Optuna's TPESampler arguments).
// DefaultConfig gives Optuna's defaults.
type Config struct {
	// NStartupTrials: points are drawn uniformly until this many trials
	// have finished (complete or pruned).
	NStartupTrials int
	// NEICandidates: how many points are drawn from l(x) to pick the one
	// maximising l(x)/g(x).
	NEICandidates int
	// Multivariate models the dimensions jointly (one kernel per trial
	// over all of them) rather than one at a time.
	Multivariate bool
	// ConstantLiar counts running trials as the worst, in the above
	// group, so that parallel suggestions spread out.
	ConstantLiar bool
	// ConsiderPrior adds a broad prior component of weight PriorWeight.
	ConsiderPrior bool
	PriorWeight   float64
	// MagicClip bounds the bandwidths from below (consider_magic_clip).
	MagicClip bool
	// ConsiderEndpoints lets the outermost kernels widen to the range's
	// ends.
	ConsiderEndpoints bool
	// NormalizeKernels divides each continuous kernel's density by its
	// bandwidth, as a density must be. Optuna 3.1 does not (its truncated
	// normal's log pdf omits -log σ), so that a kernel weighs in
	// proportion to its width and, in many dimensions, the broad prior
	// weighs far more; TPE's results on the benchmark functions depend
	// on it (bench/tune), so the default follows Optuna.
	NormalizeKernels bool
}

// DefaultConfig is Optuna 3.1's TPESampler defaults.
func DefaultConfig() Config {
	return Config{
		NStartupTrials: 10,
		NEICandidates:  24,
		ConsiderPrior:  true,
		PriorWeight:    1,
		MagicClip:      true,
	}
}

// A Sampler proposes points of a space by TPE.
type Sampler struct {
	dims []Dim
	cfg  Config
	ws   arena // scratch for one Sample call
}

// New returns a Sampler over dims, or an error for an invalid dimension
// or setting.
func New(dims []Dim, cfg Config) (*Sampler, error) {
	for i, d := range dims {
		if err := d.Validate(); err != nil {
			return nil, fmt.Errorf("dimension %d: %w", i, err)
		}
	}
	switch {
	case cfg.NStartupTrials < 0:
		return nil, fmt.Errorf("tpe: NStartupTrials %d is negative", cfg.NStartupTrials)
	case cfg.NEICandidates < 1:
		return nil, fmt.Errorf("tpe: NEICandidates %d must be at least 1", cfg.NEICandidates)
	case !(cfg.PriorWeight > 0) || math.IsInf(cfg.PriorWeight, 0):
		return nil, fmt.Errorf("tpe: PriorWeight %v must be positive and finite", cfg.PriorWeight)
	}
	return &Sampler{dims: dims, cfg: cfg}, nil
}

// Dims are the sampler's dimensions.
func (s *Sampler) Dims() []Dim { return s.dims }

// Sample proposes the next point given the trials so far (in the order
// they were started; X of length len(Dims())). It draws uniformly until
// NStartupTrials trials have finished, then by TPE. All randomness comes
// from rng. A Sampler is not safe for concurrent use.
func (s *Sampler) Sample(obs []Observation, rng *rand.Rand) []float64 {
	s.ws.reset()
	below, above, n := Split(obs, s.cfg.ConstantLiar)
	x := make([]float64, len(s.dims))
	if len(s.dims) == 0 {
		return x
	}
	if n < s.cfg.NStartupTrials || n == 0 {
		for d, dim := range s.dims {
			x[d] = dim.sampleUniform(rng)
		}
		return x
	}
	if s.cfg.Multivariate {
		all := make([]int, len(s.dims))
		for d := range all {
			all[d] = d
		}
		s.sampleDims(all, obs, below, above, rng, x)
		return x
	}
	// Univariate: each dimension on its own, in order, as Optuna's
	// sample_independent does parameter by parameter.
	for d := range s.dims {
		s.sampleDims([]int{d}, obs, below, above, rng, x)
	}
	return x
}

// sampleDims fits l and g over the dimensions idx and sets x's values in
// them to the candidate from l with the largest log l - log g.
func (s *Sampler) sampleDims(idx []int, obs []Observation, below, above []int, rng *rand.Rand, x []float64) {
	dims := make([]Dim, len(idx))
	for k, d := range idx {
		dims[k] = s.dims[d]
	}
	pick := func(group []int) [][]float64 {
		flat := s.ws.take(len(group) * len(idx))
		xs := make([][]float64, len(group))
		for r, i := range group {
			row := flat[r*len(idx) : (r+1)*len(idx)]
			for k, d := range idx {
				row[k] = obs[i].X[d]
			}
			xs[r] = row
		}
		return xs
	}
	l := newEstimator(dims, pick(below), &s.cfg, &s.ws)
	g := newEstimator(dims, pick(above), &s.cfg, &s.ws)
	cands := l.sample(rng, s.cfg.NEICandidates)
	logL := make([]float64, len(cands))
	logG := make([]float64, len(cands))
	l.logPDF(cands, logL)
	g.logPDF(cands, logG)
	best, bestScore := 0, math.Inf(-1)
	for i := range cands {
		// NaN never wins; ties keep the first, as numpy's argmax.
		if score := logL[i] - logG[i]; score > bestScore {
			best, bestScore = i, score
		}
	}
	for k, d := range idx {
		x[d] = cands[best][k]
	}
}
