package tpe

import (
	"math"
	"testing"
)

func TestFastMath(t *testing.T) {
	for d := -40.0; d <= 0; d += 0.00731 {
		if got, want := expNeg(d), math.Exp(d); math.Abs(got-want) > 1e-14*want {
			t.Fatalf("expNeg(%v) = %v, want %v", d, got, want)
		}
	}
	for _, d := range []float64{0, -1.0 / 64, -40} {
		if got, want := expNeg(d), math.Exp(d); math.Abs(got-want) > 1e-14*want {
			t.Fatalf("expNeg(%v) = %v, want %v", d, got, want)
		}
	}
	for x := -8.3; x <= 0; x += 0.000973 {
		if got, want := phiLow(x), normCDF(x); math.Abs(got-want) > 1e-12*want {
			t.Fatalf("phiLow(%v) = %v, want %v", x, got, want)
		}
	}
	if got := phiLow(0); math.Abs(got-0.5) > 1e-15 {
		t.Errorf("phiLow(0) = %v", got)
	}
}
