package tpe

import (
	"math"
	"math/rand/v2"
)

// Standard normal helpers for kernels truncated to the dimension's range.

var logSqrt2Pi = 0.5 * math.Log(2*math.Pi)

// normCDF is Φ(x), through erfc so that the lower tail keeps its
// precision.
func normCDF(x float64) float64 {
	return 0.5 * math.Erfc(-x/math.Sqrt2)
}

// logNormCDF is log Φ(x), with the asymptotic series far in the lower
// tail where Φ underflows.
func logNormCDF(x float64) float64 {
	switch {
	case x > 6:
		return -normCDF(-x) // log(1-e) ≈ -e
	case x > -20:
		return math.Log(normCDF(x))
	}
	// log φ(x)/(-x) + log(1 - 1/x² + 3/x⁴ - 15/x⁶ + ...).
	x2 := x * x
	series, term := 1.0, 1.0
	for k := 1; k < 8; k++ {
		term *= -float64(2*k-1) / x2
		series += term
	}
	return -x2/2 - math.Log(-x) - logSqrt2Pi + math.Log(series)
}

// logDiff is log(e^p - e^q) for p >= q.
func logDiff(p, q float64) float64 {
	return p + math.Log1p(-math.Exp(q-p))
}

// logGaussMass is the log of the standard normal's mass in [a, b],
// computed in whichever tail keeps it accurate.
func logGaussMass(a, b float64) float64 {
	switch {
	case b <= 0:
		return logDiff(logNormCDF(b), logNormCDF(a))
	case a > 0:
		return logDiff(logNormCDF(-a), logNormCDF(-b))
	}
	return math.Log1p(-tailCDF(a) - tailCDF(-b))
}

// tailCDF is Φ(x) for x <= 0, read as 0 below -8.3 where Φ(x) < 5e-17
// can no longer change 1 - Φ(x) (and erfc's exponentials cost most of
// fitting a large estimator).
func tailCDF(x float64) float64 {
	if x < -8.3 {
		return 0
	}
	return normCDF(x)
}

// normInv is Φ⁻¹(p).
func normInv(p float64) float64 {
	if p < 0.5 {
		return -math.Sqrt2 * math.Erfcinv(2*p)
	}
	return math.Sqrt2 * math.Erfinv(2*p-1)
}

// sampleTruncNorm draws from the standard normal truncated to [a, b] by
// inverting its CDF, on the side of zero where the CDF is accurate.
func sampleTruncNorm(rng *rand.Rand, a, b float64) float64 {
	u := rng.Float64()
	if a > 0 {
		return -sampleTruncNormU(u, -b, -a)
	}
	return sampleTruncNormU(u, a, b)
}

func sampleTruncNormU(u, a, b float64) float64 {
	pa, pb := normCDF(a), normCDF(b)
	x := normInv(pa + u*(pb-pa))
	if math.IsNaN(x) {
		return (a + b) / 2
	}
	return math.Max(a, math.Min(b, x))
}
