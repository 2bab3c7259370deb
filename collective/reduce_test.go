package collective

import (
	"math"
	"testing"
)

// TestReduceTo checks the vector kernels against Go's arithmetic: every
// length around the 128-byte blocks, with and without the second store.
func TestReduceTo(t *testing.T) {
	testReduceTo[float32](t)
	testReduceTo[float64](t)
}

func testReduceTo[T Float](t *testing.T) {
	for n := range 300 {
		a, b := make([]T, n), make([]T, n)
		for i := range n {
			a[i], b[i] = T(i)*0.25-7, T(n-i)*1.5
		}
		for _, op := range []Op{Sum, Min, Max} {
			dst, also := make([]T, n), make([]T, n+1)
			also[n] = 42 // past the end: must stay
			reduceTo(op, dst, a, b, also[:n])
			for i := range n {
				var want T
				switch op {
				case Sum:
					want = a[i] + b[i]
				case Min:
					want = min(a[i], b[i])
				case Max:
					want = max(a[i], b[i])
				}
				if dst[i] != want || also[i] != want {
					t.Fatalf("%T n=%d op=%d [%d]: %v, %v, want %v", a, n, op, i, dst[i], also[i], want)
				}
			}
			if also[n] != 42 {
				t.Fatalf("%T n=%d: wrote past the end", a, n)
			}
			// In place, without also.
			in := append([]T(nil), a...)
			reduceTo(op, in, in, b, nil)
			for i := range n {
				if in[i] != dst[i] {
					t.Fatalf("%T n=%d op=%d in place [%d]: %v, want %v", a, n, op, i, in[i], dst[i])
				}
			}
		}
	}
	// NaN follows Go: Sum propagates it.
	x := []T{T(math.NaN())}
	reduceTo(Sum, x, x, []T{1}, nil)
	if !math.IsNaN(float64(x[0])) {
		t.Fatalf("NaN + 1 = %v", x[0])
	}
}
