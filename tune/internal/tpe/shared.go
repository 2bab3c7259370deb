package tpe

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// Multivariate kernels over continuous dimensions share one bandwidth per
// dimension, so their squared distances to a point u (in bandwidth units,
// from the range's low end) expand as |u|² - 2 u·m_c + |m_c|²: the cross
// terms for every candidate and kernel are one matrix product, which
// gonum's BLAS does several times faster than a loop per pair.

// minSharedRows is the smallest mixture worth the matrix product.
const minSharedRows = 64

// maxSharedScale bounds (high-low)/σ so that expanding the square loses
// at most about 1e-9 of the exponent to cancellation.
const maxSharedScale = 1000

// sharedKernels holds the expansion for components 0 ... rows-1.
type sharedKernels struct {
	rows int
	inv  []float64 // per dimension: 1/σ
	// scaled holds (μ_cd - low_d)/σ_d, row c; constant[c] is component
	// c's log weight and normalisers less |m_c|²/2.
	scaled, constant []float64
}

// share sets e.shared when the observation components (all but the
// prior's) can use the expansion.
func (e *estimator) share(nObs int) {
	D := len(e.dims)
	if nObs < minSharedRows || len(e.continuous) != D || D == 0 {
		return
	}
	inv := make([]float64, D)
	for d := range D {
		inv[d] = e.invSigma[d]
		if (e.high[d]-e.low[d])*inv[d] > maxSharedScale {
			return
		}
		for c := 1; c < nObs; c++ {
			if e.invSigma[c*D+d] != inv[d] {
				return
			}
		}
	}
	s := &sharedKernels{rows: nObs, inv: inv, scaled: e.ws.take(nObs * D), constant: e.ws.take(nObs)}
	for c := range nObs {
		var sq float64
		for d := range D {
			m := (e.mu[c*D+d] - e.low[d]) * inv[d]
			s.scaled[c*D+d] = m
			sq += m * m
		}
		s.constant[c] = e.logConst[c] - sq/2
	}
	e.shared = s
}

// sharedLogTerms writes, for each point (in model space) and shared
// component c, that component's log weighted density to out[p*rows+c].
func (s *sharedKernels) sharedLogTerms(e *estimator, model [][]float64, out []float64) {
	D := len(s.inv)
	u := e.ws.take(len(model) * D)
	norms := e.ws.take(len(model))
	for p, x := range model {
		for d := range D {
			v := (x[d] - e.low[d]) * s.inv[d]
			u[p*D+d] = v
			norms[p] += v * v
		}
	}
	// out = u · scaledᵀ.
	blas64.Gemm(blas.NoTrans, blas.Trans, 1,
		blas64.General{Rows: len(model), Cols: D, Stride: D, Data: u},
		blas64.General{Rows: s.rows, Cols: D, Stride: D, Data: s.scaled},
		0, blas64.General{Rows: len(model), Cols: s.rows, Stride: s.rows, Data: out})
	for p := range model {
		row := out[p*s.rows : (p+1)*s.rows]
		for c, dot := range row {
			row[c] = s.constant[c] + dot - norms[p]/2
		}
	}
}
