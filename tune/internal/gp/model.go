package gp

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// A Model is a GP conditioned on observations: its posterior predicts
// the mean and variance of the noise-free function at new points.
type Model struct {
	hyper Hyper
	xs    [][]float64
	// yMean and yStd standardise the observations: the GP models
	// (y−yMean)/yStd with zero prior mean.
	yMean, yStd float64
	ys          []float64 // standardised
	// l is the Cholesky factor of K + noise·I (lower, row-major n×n);
	// alpha is (K + noise·I)⁻¹·ys.
	l     []float64
	alpha []float64
	// logDet is log|K + noise·I|.
	logDet float64
}

// errNotPD: the covariance matrix is not positive definite even with
// jitter (duplicate points with no noise, or non-finite inputs).
var errNotPD = errors.New("gp: covariance matrix is not positive definite")

// NewModel conditions a GP with fixed hyperparameters on xs (points of
// [0,1]^d) and ys. The observations are standardised by their mean and
// standard deviation (1 if they are all equal).
func NewModel(xs [][]float64, ys []float64, h Hyper) (*Model, error) {
	if err := checkData(xs, ys, len(h.LengthScales)); err != nil {
		return nil, err
	}
	mean, std := meanStd(ys)
	return condition(h, xs, ys, mean, std)
}

// Condition returns m conditioned on more points too, keeping m's
// hyperparameters and standardisation (what the kriging believer adds
// its pending points with).
func (m *Model) Condition(xs [][]float64, ys []float64) (*Model, error) {
	if err := checkData(xs, ys, len(m.hyper.LengthScales)); err != nil {
		return nil, err
	}
	allX := append(slices.Clone(m.xs), xs...)
	allY := make([]float64, 0, len(allX))
	for _, y := range m.ys {
		allY = append(allY, y*m.yStd+m.yMean)
	}
	allY = append(allY, ys...)
	return condition(m.hyper, allX, allY, m.yMean, m.yStd)
}

func checkData(xs [][]float64, ys []float64, dim int) error {
	if len(xs) != len(ys) {
		return fmt.Errorf("gp: %d points but %d observations", len(xs), len(ys))
	}
	for i, x := range xs {
		if len(x) != dim {
			return fmt.Errorf("gp: point %d has %d dimensions, want %d", i, len(x), dim)
		}
		for _, v := range x {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("gp: point %d is not finite", i)
			}
		}
		if math.IsNaN(ys[i]) || math.IsInf(ys[i], 0) {
			return fmt.Errorf("gp: observation %d is not finite", i)
		}
	}
	return nil
}

// meanStd returns the mean and the population standard deviation of ys
// (as scikit-learn's normalize_y), the deviation 1 when it is 0.
func meanStd(ys []float64) (mean, std float64) {
	if len(ys) == 0 {
		return 0, 1
	}
	for _, y := range ys {
		mean += y
	}
	mean /= float64(len(ys))
	for _, y := range ys {
		std += (y - mean) * (y - mean)
	}
	std = math.Sqrt(std / float64(len(ys)))
	if std < 1e-12 {
		std = 1
	}
	return mean, std
}

func condition(h Hyper, xs [][]float64, ys []float64, mean, std float64) (*Model, error) {
	m := &Model{hyper: h, xs: xs, yMean: mean, yStd: std, ys: make([]float64, len(ys))}
	for i, y := range ys {
		m.ys[i] = (y - mean) / std
	}
	chol, err := factorize(h.covMatrix(xs), len(xs))
	if err != nil {
		return nil, err
	}
	m.l, m.logDet = lowerFactor(chol)
	alpha := mat.NewVecDense(len(ys), nil)
	if len(ys) > 0 {
		if err := chol.SolveVecTo(alpha, mat.NewVecDense(len(ys), slices.Clone(m.ys))); err != nil {
			return nil, fmt.Errorf("gp: %w", err)
		}
	}
	m.alpha = alpha.RawVector().Data
	return m, nil
}

// factorize returns the Cholesky factorisation of the n×n matrix k,
// adding growing jitter to its diagonal if rounding made it indefinite.
func factorize(k []float64, n int) (*mat.Cholesky, error) {
	var chol mat.Cholesky
	if n == 0 {
		return &chol, nil
	}
	jitter := 0.0
	for range 4 {
		a := mat.NewSymDense(n, slices.Clone(k))
		for i := range n {
			a.SetSym(i, i, a.At(i, i)+jitter)
		}
		if chol.Factorize(a) {
			return &chol, nil
		}
		if jitter == 0 {
			jitter = 1e-10
		}
		jitter *= 100
	}
	return nil, errNotPD
}

// lowerFactor returns chol's lower factor, row-major, and log|K|.
func lowerFactor(chol *mat.Cholesky) ([]float64, float64) {
	n := chol.SymmetricDim()
	if n == 0 {
		return nil, 0
	}
	var lt mat.TriDense
	chol.LTo(&lt)
	raw := lt.RawTriangular()
	l := make([]float64, n*n)
	logDet := 0.0
	for i := range n {
		copy(l[i*n:i*n+i+1], raw.Data[i*raw.Stride:i*raw.Stride+i+1])
		logDet += 2 * math.Log(l[i*n+i])
	}
	return l, logDet
}

// Hyper returns the model's hyperparameters.
func (m *Model) Hyper() Hyper {
	h := m.hyper
	h.LengthScales = slices.Clone(h.LengthScales)
	return h
}

// Len is the number of points the model is conditioned on.
func (m *Model) Len() int { return len(m.xs) }

// Predict returns the posterior mean and variance of the noise-free
// function at x, in the observations' units.
func (m *Model) Predict(x []float64) (mean, variance float64) {
	mu, v := m.predictStd(x, make([]float64, len(m.xs)))
	return mu*m.yStd + m.yMean, v * m.yStd * m.yStd
}

// predictStd predicts in standardised units; buf holds len(xs) floats.
func (m *Model) predictStd(x []float64, buf []float64) (mean, variance float64) {
	n := len(m.xs)
	for i, xi := range m.xs {
		buf[i] = m.hyper.cov(x, xi)
	}
	for i := range n {
		mean += buf[i] * m.alpha[i]
	}
	// Forward substitution: buf ← L⁻¹k*, so that k*ᵀK⁻¹k* = |L⁻¹k*|².
	variance = m.hyper.SignalVar
	for i := range n {
		row := m.l[i*n : i*n+i]
		s := buf[i]
		for j, lij := range row {
			s -= lij * buf[j]
		}
		buf[i] = s / m.l[i*n+i]
		variance -= buf[i] * buf[i]
	}
	return mean, math.Max(variance, 0)
}

// LogMarginalLikelihood is log p(ys | xs, hyperparameters) of the
// standardised observations.
func (m *Model) LogMarginalLikelihood() float64 {
	fit := 0.0
	for i, y := range m.ys {
		fit += y * m.alpha[i]
	}
	return -0.5*fit - 0.5*m.logDet - 0.5*float64(len(m.ys))*math.Log(2*math.Pi)
}
