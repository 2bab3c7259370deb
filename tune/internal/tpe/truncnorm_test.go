package tpe

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestGaussMass(t *testing.T) {
	for _, tc := range []struct{ a, b, want float64 }{
		{-1, 1, math.Log(0.6826894921370859)},
		{0, math.Inf(1), math.Log(0.5)},
		{1, 2, math.Log(0.13590512198327787)},
		{-2, -1, math.Log(0.13590512198327787)},
		{-40, -39, logNormCDF(-39) + math.Log1p(-math.Exp(logNormCDF(-40)-logNormCDF(-39)))},
	} {
		if got := logGaussMass(tc.a, tc.b); !near(got, tc.want, 1e-9) || math.IsInf(got, 0) {
			t.Errorf("logGaussMass(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
	// The tail series meets the direct formula where they hand over.
	if d := logNormCDF(-20.0000001) - math.Log(normCDF(-20.0000001)); !near(d, 0, 1e-8) {
		t.Errorf("logNormCDF's branches differ by %v at -20", d)
	}
}

func TestSampleTruncNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ a, b float64 }{{-1, 1}, {0.5, 3}, {-3, -2.5}, {-100, 0.01}, {5, 6}} {
		var sum float64
		const n = 4000
		for range n {
			z := sampleTruncNorm(rng, tc.a, tc.b)
			if z < tc.a || z > tc.b {
				t.Fatalf("[%v, %v]: sample %v outside", tc.a, tc.b, z)
			}
			sum += z
		}
		// The truncated normal's mean: (φ(a) - φ(b)) / mass.
		phi := func(x float64) float64 { return math.Exp(-x*x/2 - logSqrt2Pi) }
		mean := (phi(tc.a) - phi(tc.b)) / math.Exp(logGaussMass(tc.a, tc.b))
		if !near(sum/n, mean, 0.05*(tc.b-tc.a)+0.03) {
			t.Errorf("[%v, %v]: mean %v, want %v", tc.a, tc.b, sum/n, mean)
		}
	}
}
