package collective

import (
	"math"
	"testing"
)

// TestReduceTo checks the kernels against Go's arithmetic: every length
// around the 128-byte blocks, every store mode, dst and also at various
// alignments.
func TestReduceTo(t *testing.T) {
	testReduceTo[float32](t)
	testReduceTo[float64](t)
}

func testReduceTo[T Float](t *testing.T) {
	modes := []struct {
		op  Op
		fl  kflags
		div int
	}{
		{Sum, 0, 1}, {Sum, kNTAlso, 1}, {Mean, kDiv, 3}, {Mean, kDiv | kNTAlso, 3},
		{Min, 0, 1}, {Max, kNTAlso, 1},
	}
	for n := range 200 {
		a, b := make([]T, n+1)[1:], make([]T, n) // a misaligned
		for i := range n {
			a[i], b[i] = T(i)*0.25-7, T(n-i)*1.5
		}
		for _, m := range modes {
			for _, offs := range [][2]int{{0, 0}, {1, 1}, {3, 5}} {
				dst, also := make([]T, n+9)[offs[0]:], make([]T, n+9)[offs[1]:]
				dst[n], also[n] = 42, 42 // past the end: must stay
				reduceTo(m.op, dst[:n], a, b, also[:n], m.fl, m.div)
				for i := range n {
					var want T
					switch m.op {
					case Sum:
						want = a[i] + b[i]
					case Mean:
						want = (a[i] + b[i]) / T(m.div)
					case Min:
						want = min(a[i], b[i])
					case Max:
						want = max(a[i], b[i])
					}
					if dst[i] != want || also[i] != want {
						t.Fatalf("%T n=%d %+v offsets %v [%d]: %v, %v, want %v", a, n, m, offs, i, dst[i], also[i], want)
					}
				}
				if dst[n] != 42 || also[n] != 42 {
					t.Fatalf("%T n=%d %+v: wrote past the end", a, n, m)
				}
			}
			// In place, and into also = a (the segment's accumulator).
			in := append([]T(nil), a...)
			reduceTo(m.op, in, in, b, nil, m.fl&^kNTAlso, m.div)
			acc := append([]T(nil), a...)
			out := make([]T, n)
			reduceTo(m.op, out, acc, b, acc, m.fl, m.div)
			for i := range n {
				if in[i] != out[i] || acc[i] != out[i] {
					t.Fatalf("%T n=%d %+v in place [%d]: %v, %v, %v", a, n, m, i, in[i], acc[i], out[i])
				}
			}
		}
	}
	// NaN follows Go: Sum propagates it.
	x := []T{T(math.NaN())}
	reduceTo(Sum, x, x, []T{1}, nil, 0, 1)
	if !math.IsNaN(float64(x[0])) {
		t.Fatalf("NaN + 1 = %v", x[0])
	}
}

// TestCopyOut: the streaming copy at every length and alignment.
func TestCopyOut(t *testing.T) {
	src := make([]float32, 400)
	for i := range src {
		src[i] = float32(i)
	}
	for off := range 9 {
		for n := range 300 {
			dst := make([]float32, off+n+1)
			dst[off+n] = -1
			copyOut(dst[off:off+n], src[:n], true)
			for i := range n {
				if dst[off+i] != src[i] {
					t.Fatalf("offset %d, n %d: [%d] = %v", off, n, i, dst[off+i])
				}
			}
			if dst[off+n] != -1 {
				t.Fatalf("offset %d, n %d: wrote past the end", off, n)
			}
		}
	}
}
