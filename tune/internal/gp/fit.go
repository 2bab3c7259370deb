package gp

import (
	"errors"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// Bounds limit the fitted hyperparameters (standardised units, inputs in
// [0,1]), as scikit-optimize bounds its kernel's.
type Bounds struct {
	LengthScale, SignalVar, NoiseVar [2]float64
}

// DefaultBounds: length scales 0.01–100 (scikit-optimize's), signal
// variance 0.01–100, noise variance 1e-6–1.
var DefaultBounds = Bounds{
	LengthScale: [2]float64{1e-2, 1e2},
	SignalVar:   [2]float64{1e-2, 1e2},
	NoiseVar:    [2]float64{1e-6, 1},
}

// FitOptions configure Fit.
type FitOptions struct {
	// Restarts is how many L-BFGS runs start from random hyperparameters
	// besides the one from the default start (scikit-learn's
	// n_restarts_optimizer; scikit-optimize uses 2).
	Restarts int
	// Seed seeds the random starts.
	Seed uint64
	// Bounds limit the hyperparameters; the zero value is DefaultBounds.
	Bounds Bounds
	// Start, if set, replaces the default first start: the previous
	// fit's hyperparameters make a good one as points are added.
	Start *Hyper
	// MaxEvaluations caps each L-BFGS run's likelihood evaluations
	// (default 200).
	MaxEvaluations int
}

// Fit conditions a GP on xs (points of [0,1]^d) and ys with the
// hyperparameters that maximise the log marginal likelihood: L-BFGS with
// the analytic gradient, on log-hyperparameters kept in their bounds by
// a logistic map, from opt.Start or the default start (length scales 0.5,
// unit signal variance, noise 1e-3) and opt.Restarts seeded random ones.
func Fit(xs [][]float64, ys []float64, opt FitOptions) (*Model, error) {
	if len(xs) == 0 {
		return nil, errors.New("gp: no observations to fit")
	}
	dim := len(xs[0])
	if err := checkData(xs, ys, dim); err != nil {
		return nil, err
	}
	if opt.Bounds == (Bounds{}) {
		opt.Bounds = DefaultBounds
	}
	if opt.MaxEvaluations <= 0 {
		opt.MaxEvaluations = 200
	}
	mean, std := meanStd(ys)
	obj := newLikelihood(xs, ys, mean, std, opt.Bounds)

	start := make([]float64, dim+2)
	for k := range dim {
		start[k] = 0.5
	}
	start[dim], start[dim+1] = 1, 1e-3
	if h := opt.Start; h != nil && len(h.LengthScales) == dim {
		copy(start, h.LengthScales)
		start[dim], start[dim+1] = h.SignalVar, h.NoiseVar
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x9e3779b97f4a7c15))
	for r := 0; r <= opt.Restarts; r++ {
		u := obj.toUnbounded(start)
		if r > 0 {
			for k := range u {
				// Uniform in each log-bound (the middle 90% of it).
				u[k] = logit(0.05 + 0.9*rng.Float64())
			}
		}
		obj.minimize(u, opt.MaxEvaluations)
	}
	if obj.bestU == nil {
		return nil, errNotPD
	}
	return condition(obj.hyper(obj.bestU), xs, ys, mean, std)
}

// likelihood is the negative log marginal likelihood as a function of
// unbounded parameters u: log θ_k = lo_k + (hi_k−lo_k)·σ(u_k), with θ the
// length scales, the signal variance and the noise variance.
type likelihood struct {
	n, dim int
	ys     []float64 // standardised
	// d2[k] holds (x_ik − x_jk)² for dimension k, row-major n×n.
	d2     [][]float64
	lo, hi []float64 // log bounds
	bestF  float64
	bestU  []float64
	// scratch
	k, dk []float64
}

func newLikelihood(xs [][]float64, ys []float64, mean, std float64, b Bounds) *likelihood {
	n, dim := len(xs), len(xs[0])
	l := &likelihood{n: n, dim: dim, ys: make([]float64, n), d2: make([][]float64, dim),
		k: make([]float64, n*n), dk: make([]float64, n*n), bestF: math.Inf(1)}
	for i, y := range ys {
		l.ys[i] = (y - mean) / std
	}
	for k := range dim {
		d := make([]float64, n*n)
		for i := range n {
			for j := range i {
				diff := xs[i][k] - xs[j][k]
				d[i*n+j], d[j*n+i] = diff*diff, diff*diff
			}
		}
		l.d2[k] = d
		l.lo = append(l.lo, math.Log(b.LengthScale[0]))
		l.hi = append(l.hi, math.Log(b.LengthScale[1]))
	}
	l.lo = append(l.lo, math.Log(b.SignalVar[0]), math.Log(b.NoiseVar[0]))
	l.hi = append(l.hi, math.Log(b.SignalVar[1]), math.Log(b.NoiseVar[1]))
	return l
}

func sigmoid(u float64) float64 { return 1 / (1 + math.Exp(-u)) }
func logit(p float64) float64   { return math.Log(p / (1 - p)) }

// toUnbounded maps hyperparameters θ to u, clamping them into bounds.
func (l *likelihood) toUnbounded(theta []float64) []float64 {
	u := make([]float64, len(theta))
	for k, t := range theta {
		p := (math.Log(t) - l.lo[k]) / (l.hi[k] - l.lo[k])
		u[k] = logit(math.Min(math.Max(p, 1e-6), 1-1e-6))
	}
	return u
}

func (l *likelihood) theta(u []float64) []float64 {
	t := make([]float64, len(u))
	for k := range u {
		t[k] = math.Exp(l.lo[k] + (l.hi[k]-l.lo[k])*sigmoid(u[k]))
	}
	return t
}

func (l *likelihood) hyper(u []float64) Hyper {
	t := l.theta(u)
	return Hyper{LengthScales: t[:l.dim], SignalVar: t[l.dim], NoiseVar: t[l.dim+1]}
}

func (l *likelihood) minimize(u0 []float64, maxEvals int) {
	// The best point seen is kept by eval, so a run that stops on a
	// line-search failure or the evaluation limit still counts.
	minimizeLBFGS(l.eval, u0, maxEvals)
}

// eval returns the negative log marginal likelihood at u and stores its gradient with respect to u there.
func (l *likelihood) eval(u, grad []float64) float64 {
	n, dim := l.n, l.dim
	t := l.theta(u)
	ls, sv, nv := t[:dim], t[dim], t[dim+1]
	inv2 := make([]float64, dim)
	for k, lk := range ls {
		inv2[k] = 1 / (lk * lk)
	}
	// k: noise-free kernel; dk: σ²·(5/3)(1+√5r)e^{−√5r}, which times
	// d²_k/l_k² is ∂k/∂log l_k.
	for i := range n {
		l.k[i*n+i], l.dk[i*n+i] = sv, 0
		for j := range i {
			r2 := 0.0
			for k := range dim {
				r2 += l.d2[k][i*n+j] * inv2[k]
			}
			s := sqrt5 * math.Sqrt(r2)
			e := math.Exp(-s)
			kv := sv * (1 + s + s*s/3) * e
			dv := sv * 5.0 / 3.0 * (1 + s) * e
			l.k[i*n+j], l.k[j*n+i] = kv, kv
			l.dk[i*n+j], l.dk[j*n+i] = dv, dv
		}
	}
	// Factorise K + noise·I in place with LAPACK directly: mat.Cholesky
	// would also estimate the condition number, a third of the cost here.
	a := make([]float64, n*n)
	copy(a, l.k)
	for i := range n {
		a[i*n+i] += nv
	}
	chol, ok := lapack64.Potrf(blas64.Symmetric{N: n, Stride: n, Data: a, Uplo: blas.Upper})
	if !ok {
		if grad != nil {
			for k := range grad {
				grad[k] = 0
			}
		}
		return math.Inf(1)
	}
	alpha := append([]float64(nil), l.ys...)
	lapack64.Potrs(chol, blas64.General{Rows: n, Cols: 1, Stride: 1, Data: alpha})
	f := 0.5*dot(alpha, l.ys) + 0.5*float64(n)*math.Log(2*math.Pi)
	for i := range n {
		f += math.Log(chol.Data[i*n+i]) // ½·log|K| = Σ log U_ii
	}
	if f < l.bestF {
		l.bestF = f
		l.bestU = append(l.bestU[:0], u...)
	}
	if grad == nil {
		return f
	}
	inv, ok := lapack64.Potri(chol) // K⁻¹ in the upper triangle, over chol
	if !ok {
		for k := range grad {
			grad[k] = 0
		}
		return f
	}
	// ∂(−LML)/∂θ_p = −½ tr(W ∂K/∂θ_p) with W = ααᵀ − K⁻¹ (symmetric: the
	// off-diagonal terms count twice).
	gl := make([]float64, dim)
	var gs, gn float64
	for i := range n {
		wii := alpha[i]*alpha[i] - inv.Data[i*n+i]
		gs += wii * sv
		gn += wii * nv
		for j := range i {
			w := 2 * (alpha[i]*alpha[j] - inv.Data[j*n+i])
			gs += w * l.k[i*n+j]
			dv := w * l.dk[i*n+j]
			for k := range dim {
				gl[k] += dv * l.d2[k][i*n+j] * inv2[k]
			}
		}
	}
	for k := range dim {
		grad[k] = -0.5 * gl[k]
	}
	grad[dim], grad[dim+1] = -0.5*gs, -0.5*gn
	// Chain rule through the logistic map.
	for k := range grad {
		s := sigmoid(u[k])
		grad[k] *= (l.hi[k] - l.lo[k]) * s * (1 - s)
	}
	return f
}
