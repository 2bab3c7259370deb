package gp

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// ExpectedImprovement is EI for minimisation at a point whose prediction
// is normal with mean and standard deviation sd, given the best value so
// far and the exploration margin xi (scikit-optimize's gaussian_ei):
// with z = (best−mean−xi)/sd, EI = (best−mean−xi)·Φ(z) + sd·φ(z); with
// sd = 0 it is the improvement itself, if positive.
func ExpectedImprovement(mean, sd, best, xi float64) float64 {
	imp := best - mean - xi
	if sd <= 0 {
		return math.Max(imp, 0)
	}
	z := imp / sd
	cdf := 0.5 * math.Erfc(-z/math.Sqrt2)
	pdf := math.Exp(-0.5*z*z) / math.Sqrt(2*math.Pi)
	return math.Max(imp*cdf+sd*pdf, 0)
}

// An Acquisition scores points of [0,1]^d for a model; higher is better.
// It is used from one goroutine.
type Acquisition struct {
	m    *Model
	best float64 // standardised
	xi   float64
	buf  []float64
}

// EI returns m's expected-improvement acquisition: best is the best
// (lowest) observation in the observations' units, xi the margin in units
// of their standard deviation, so that it does not depend on their scale.
func (m *Model) EI(best, xi float64) *Acquisition {
	return &Acquisition{m: m, best: (best - m.yMean) / m.yStd, xi: xi, buf: make([]float64, len(m.xs))}
}

// At scores x.
func (a *Acquisition) At(x []float64) float64 {
	mean, v := a.m.predictStd(x, a.buf)
	return ExpectedImprovement(mean, math.Sqrt(v), a.best, a.xi)
}

// MaximizeOptions configure Maximize.
type MaximizeOptions struct {
	// Candidates is how many random points are scored (default 2000).
	Candidates int
	// Refine is how many of the best candidates a pattern search refines
	// (default 5).
	Refine int
	// Project maps a point of [0,1]^d onto the points the caller can
	// actually use (rounding integers, snapping one-hot blocks); scores
	// are taken at the projection. nil: the identity.
	Project func(x []float64)
	// Sample draws a random candidate into x; nil: uniform in [0,1]^d.
	Sample func(rng *rand.Rand, x []float64)
}

// Maximize returns the point of [0,1]^dim (projected) that maximises
// score among opt.Candidates seeded random points refined by a bounded
// compass search (halving its step from 0.1 to 1e-3) from the best
// opt.Refine of them; ties keep the earlier point.
func Maximize(score func(x []float64) float64, dim int, rng *rand.Rand, opt MaximizeOptions) []float64 {
	if opt.Candidates <= 0 {
		opt.Candidates = 2000
	}
	if opt.Refine <= 0 {
		opt.Refine = 5
	}
	project := opt.Project
	if project == nil {
		project = func([]float64) {}
	}
	type cand struct {
		x     []float64
		score float64
	}
	// top keeps the opt.Refine best candidates, best first; a later
	// candidate must beat an earlier one to pass it.
	top := make([]cand, 0, opt.Refine+1)
	for range opt.Candidates {
		x := make([]float64, dim)
		if opt.Sample != nil {
			opt.Sample(rng, x)
		} else {
			for k := range x {
				x[k] = rng.Float64()
			}
		}
		project(x)
		c := cand{x, score(x)}
		if len(top) == opt.Refine && !(c.score > top[len(top)-1].score) {
			continue
		}
		i := sort.Search(len(top), func(i int) bool { return c.score > top[i].score })
		top = slices.Insert(top, i, c)
		if len(top) > opt.Refine {
			top = top[:opt.Refine]
		}
	}
	best := top[0]
	for _, c := range top {
		x, s := compassSearch(score, project, c.x, c.score)
		if s > best.score {
			best = cand{x, s}
		}
	}
	return best.x
}

// compassSearch climbs score from x by trying ±step along each axis,
// within [0,1], halving the step when no move improves.
func compassSearch(score func([]float64) float64, project func([]float64), x []float64, s float64) ([]float64, float64) {
	const maxEvals = 300
	x = append([]float64(nil), x...)
	trial := make([]float64, len(x))
	evals := 0
	for step := 0.1; step >= 1e-3 && evals < maxEvals; {
		improved := false
		for k := range x {
			for _, dir := range [2]float64{1, -1} {
				copy(trial, x)
				trial[k] = math.Min(1, math.Max(0, x[k]+dir*step))
				project(trial)
				ts := score(trial)
				evals++
				if ts > s {
					copy(x, trial)
					s, improved = ts, true
					break
				}
			}
		}
		if !improved {
			step /= 2
		}
	}
	return x, s
}
