package main

import (
	"math"
	"testing"
)

func TestQuantile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	for _, tc := range []struct{ q, want float64 }{{0, 1}, {0.25, 2}, {0.5, 3}, {0.75, 4}, {1, 5}, {0.1, 1.4}} {
		if got := quantile(xs, tc.q); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
}

// TestMannWhitney against scipy.stats.mannwhitneyu(a, b,
// alternative="greater", method="asymptotic") (use_continuity=True), computed with scipy 1.x.
func TestMannWhitney(t *testing.T) {
	for _, tc := range []struct {
		a, b []float64
		want float64
	}{
		// U = 25 of 25: fully separated.
		{[]float64{6, 7, 8, 9, 10}, []float64{1, 2, 3, 4, 5}, 0.006092890177672406},
		// The reverse.
		{[]float64{1, 2, 3, 4, 5}, []float64{6, 7, 8, 9, 10}, 0.9966923245172357},
		// Interleaved with ties: U = 14.5.
		{[]float64{1, 3, 5, 7, 9}, []float64{2, 3, 4, 6, 8}, 0.45828132233977065},
	} {
		if got := mannWhitneyGreater(tc.a, tc.b); math.Abs(got-tc.want) > 1e-6 {
			t.Errorf("p(%v > %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestHolm(t *testing.T) {
	got := holm([]float64{0.01, 0.04, math.NaN(), 0.03, 0.5})
	// Sorted 0.01, 0.03, 0.04, 0.5 with m = 4: 0.04, 0.09, 0.09 (monotone), 0.5.
	want := []float64{0.04, 0.09, math.NaN(), 0.09, 0.5}
	for i := range want {
		if math.IsNaN(want[i]) != math.IsNaN(got[i]) || !math.IsNaN(want[i]) && math.Abs(got[i]-want[i]) > 1e-12 {
			t.Fatalf("holm = %v, want %v", got, want)
		}
	}
}
