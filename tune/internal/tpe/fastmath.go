package tpe

import "math"

// Table-driven exp and Φ for the two hot loops, fitting and evaluating
// mixtures of ~1,000 kernels: each is a table read and a short Taylor
// series instead of math.Exp's or math.Erfc's exponentials, to within
// 1e-14 (exp) and 1e-12 (Φ) relative; fastmath_test.go checks it.

const (
	expSteps = 64 // table entries per unit of the exponent
	expMin   = -40
	phiSteps = 128 // table entries per unit of x
	phiMin   = -8.5
)

var (
	expTable = func() []float64 {
		t := make([]float64, -expMin*expSteps+2)
		for j := range t {
			t[j] = math.Exp(-float64(j) / expSteps)
		}
		return t
	}()
	// phiTable holds, at x_k = phiMin + k/phiSteps up to 0, Φ(x_k) and
	// the Taylor coefficients of Φ around it: Φ's n-th derivative over
	// n!, that is φ(x_k) (-1)^(n-1) He_(n-1)(x_k) / n! (He the Hermite
	// polynomials), for n = 1 ... 6.
	phiTable = func() [][7]float64 {
		t := make([][7]float64, int(-phiMin*phiSteps)+1)
		for k := range t {
			x := phiMin + float64(k)/phiSteps
			phi := math.Exp(-x*x/2 - logSqrt2Pi)
			he := [6]float64{1, x, x*x - 1, x * (x*x - 3), x*x*(x*x-6) + 3, x * (x*x*(x*x-10) + 15)}
			t[k][0] = normCDF(x)
			fact, sign := 1.0, 1.0
			for n := 1; n <= 6; n++ {
				fact *= float64(n)
				t[k][n] = sign * phi * he[n-1] / fact
				sign = -sign
			}
		}
		return t
	}()
)

// expNeg is e^d for d in [-40, 0]: e^(-j/64) from the table times the
// Taylor series of the rest, which is below 1/64.
func expNeg(d float64) float64 {
	s := -d * expSteps
	j := int(s)
	r := -(s - float64(j)) / expSteps // in (-1/64, 0]
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	return expTable[j] * p
}

// phiLow is Φ(x) for x <= 0, as tailCDF: 0 below -8.3. It sums the
// Taylor series around the nearest table point, |t| <= 1/256, to t^6.
func phiLow(x float64) float64 {
	if x < -8.3 {
		return 0
	}
	k := int((x-phiMin)*phiSteps + 0.5)
	t := x - (phiMin + float64(k)/phiSteps)
	c := &phiTable[k]
	return c[0] + t*(c[1]+t*(c[2]+t*(c[3]+t*(c[4]+t*(c[5]+t*c[6])))))
}
