package objectives

import (
	"math"
	"testing"
)

// TestMinima: each function takes its stated minimum at its stated
// minimiser, and nothing lower on a coarse grid of its box.
func TestMinima(t *testing.T) {
	for _, tc := range []struct {
		o  Objective
		at []float64
	}{
		{Branin, []float64{-math.Pi, 12.275}},
		{Branin, []float64{math.Pi, 2.275}},
		{Hartmann6, []float64{0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573}},
		{Rosenbrock10, []float64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
	} {
		if got := tc.o.F(tc.at); math.Abs(got-tc.o.Min) > 1e-5 {
			t.Errorf("%s(%v) = %v, want %v", tc.o.Name, tc.at, got, tc.o.Min)
		}
		// A grid of 4 points a side (4^10 is too many: 2 for Rosenbrock).
		n := 4
		if len(tc.o.Bounds) > 6 {
			n = 2
		}
		x := make([]float64, len(tc.o.Bounds))
		var walk func(d int)
		walk = func(d int) {
			if d == len(x) {
				if v := tc.o.F(x); v < tc.o.Min-1e-9 {
					t.Fatalf("%s(%v) = %v, below the minimum %v", tc.o.Name, x, v, tc.o.Min)
				}
				return
			}
			b := tc.o.Bounds[d]
			for i := range n {
				x[d] = b[0] + (b[1]-b[0])*float64(i)/float64(n-1)
				walk(d + 1)
			}
		}
		walk(0)
	}
	for name, o := range All {
		params, _, err := o.Space().Params()
		if err != nil || len(params) != len(o.Bounds) || name != o.Name {
			t.Errorf("%s: space %v, err %v", name, params, err)
		}
	}
}
