package gp

import "math"

var sqrt5 = math.Sqrt(5)

// Matern52 is the Matérn kernel with smoothness 5/2 at scaled distance r,
// with unit variance: (1 + √5 r + 5r²/3)·exp(−√5 r).
func Matern52(r float64) float64 {
	s := sqrt5 * r
	return (1 + s + s*s/3) * math.Exp(-s)
}

// Hyper are a GP's hyperparameters, in standardised output units.
type Hyper struct {
	// LengthScales has one length scale per input dimension (ARD).
	LengthScales []float64
	// SignalVar scales the kernel; NoiseVar is added to its diagonal.
	SignalVar, NoiseVar float64
}

// scaledDist2 is Σ((a_k−b_k)/l_k)².
func scaledDist2(a, b, ls []float64) float64 {
	var s float64
	for k := range a {
		d := (a[k] - b[k]) / ls[k]
		s += d * d
	}
	return s
}

// cov is the noise-free covariance of two points.
func (h Hyper) cov(a, b []float64) float64 {
	return h.SignalVar * Matern52(math.Sqrt(scaledDist2(a, b, h.LengthScales)))
}

// covMatrix returns K + noise·I for xs, row-major n×n.
func (h Hyper) covMatrix(xs [][]float64) []float64 {
	n := len(xs)
	k := make([]float64, n*n)
	for i := range n {
		k[i*n+i] = h.SignalVar + h.NoiseVar
		for j := range i {
			c := h.cov(xs[i], xs[j])
			k[i*n+j], k[j*n+i] = c, c
		}
	}
	return k
}
