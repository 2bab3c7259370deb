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
	// phiTable holds Φ and φ at phiMin + k/phiSteps, k = 0 ... up to 0.
	phiTable = func() [][2]float64 {
		t := make([][2]float64, int(-phiMin*phiSteps)+1)
		for k := range t {
			x := phiMin + float64(k)/phiSteps
			t[k] = [2]float64{normCDF(x), math.Exp(-x*x/2 - logSqrt2Pi)}
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

// phiLow is Φ(x) for x <= 0, as tailCDF: 0 below -8.3. Near the table's
// point x_k, Φ(x_k+t) = Φ(x_k) + φ(x_k) Σ (-1)^n He_n(x_k) t^(n+1)/(n+1)!
// (Hermite polynomials He), cut after t^6 with |t| <= 1/256.
func phiLow(x float64) float64 {
	if x < -8.3 {
		return 0
	}
	k := int((x-phiMin)*phiSteps + 0.5)
	xk := phiMin + float64(k)/phiSteps
	t := x - xk
	e := phiTable[k]
	x2 := xk * xk
	he1, he2, he3, he4, he5 := xk, x2-1, xk*(x2-3), x2*(x2-6)+3, xk*(x2*(x2-10)+15)
	series := t * (1 + t*(-he1/2+t*(he2/6+t*(-he3/24+t*(he4/120-t*he5/720)))))
	return e[0] + e[1]*series
}
