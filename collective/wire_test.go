package collective

import (
	"encoding/binary"
	"math"
	"testing"
)

// BenchmarkEncode: the wire form of 1M float32 by viewing the slice's
// memory (what the package does) against encoding/binary, per element.
func BenchmarkEncode(b *testing.B) {
	src := make([]float32, 1<<20)
	dst := make([]byte, 4<<20)
	b.Run("unsafe", func(b *testing.B) {
		b.SetBytes(4 << 20)
		for b.Loop() {
			copy(dst, asBytes(src))
		}
	})
	b.Run("binary", func(b *testing.B) {
		b.SetBytes(4 << 20)
		for b.Loop() {
			for i, v := range src {
				binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
			}
		}
	})
}

func TestHeaderRoundTrip(t *testing.T) {
	h := frameHdr{kind: opBroadcast, esz: 8, param: 3, seq: 1 << 40, total: 100003, count: 65536}
	var b [hdrSize]byte
	h.put(b[:])
	var g frameHdr
	g.get(b[:])
	if g != h || h.diff(&g) != "" {
		t.Fatalf("%+v came back as %+v", h, g)
	}
	g.total++
	if h.diff(&g) == "" {
		t.Fatal("a different length passed")
	}
}

func TestBounds(t *testing.T) {
	for _, n := range []int{0, 1, 7, 100003} {
		for parts := 1; parts <= 4; parts++ {
			prev := 0
			for i := range parts {
				lo, hi := bounds(n, parts, i)
				if lo != prev || hi < lo || hi-lo > n/parts+1 {
					t.Fatalf("bounds(%d, %d, %d) = %d, %d", n, parts, i, lo, hi)
				}
				prev = hi
			}
			if prev != n {
				t.Fatalf("bounds(%d, %d) cover %d", n, parts, prev)
			}
		}
	}
}
