package collective_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/rayo-dev/rayo/collective"
)

const benchLen = 1 << 20 // 1M float32: 4 MiB

// BenchmarkAllReduce sums 1M float32 across in-process members (each its
// own goroutine, over loopback TCP); MB/s counts the buffer's 4 MiB per
// operation.
func BenchmarkAllReduce(b *testing.B) {
	for _, n := range []int{2, 4} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			comms := joinAll(b, n)
			bufs := make([][]float32, n)
			for r := range bufs {
				bufs[r] = input[float32](r, benchLen)
			}
			b.SetBytes(4 * benchLen)
			b.ResetTimer()
			for b.Loop() {
				noErrs(b, "allreduce", each(n, func(r int) error {
					return collective.AllReduce(context.Background(), comms[r], bufs[r], collective.Sum)
				}))
			}
		})
	}
}

// BenchmarkCopy is the floor: copy of the same 4 MiB.
func BenchmarkCopy(b *testing.B) {
	src, dst := input[float32](0, benchLen), make([]float32, benchLen)
	b.SetBytes(4 * benchLen)
	for b.Loop() {
		copy(dst, src)
	}
}
