package collective

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkHandoff is why the slots are written with streaming stores: a
// thread on CPU 0 writes 512 KiB into a buffer that a thread on CPU 1
// then copies out, in turns (a piece of the shared-memory AllReduce);
// with ordinary stores the reader takes the lines from the writer's
// cache, with streaming stores from memory.
func BenchmarkHandoff(b *testing.B) {
	if runtime.NumCPU() < 2 {
		b.Skip("needs 2 CPUs")
	}
	for _, nt := range []bool{false, true} {
		name := map[bool]string{false: "ordinary", true: "streaming"}[nt]
		b.Run(name, func(b *testing.B) {
			const size = 128 << 10 // float32s: 512 KiB
			src, shared, dst := make([]float32, size), make([]float32, size), make([]float32, size)
			var turn atomic.Int64 // odd: written, for the reader; even: read
			n := b.N
			b.SetBytes(4 * size)
			b.ResetTimer()
			// Each side on its own thread, pinned, and left locked: the
			// thread ends with the goroutine, its affinity with it.
			var wg sync.WaitGroup
			wg.Go(func() {
				pinThread(0)
				for i := range n {
					for turn.Load() != int64(2*i) {
					}
					copyOut(shared, src, nt)
					turn.Store(int64(2*i + 1))
				}
			})
			wg.Go(func() {
				pinThread(1)
				for i := range n {
					for turn.Load() != int64(2*i+1) {
					}
					copy(dst, shared)
					turn.Store(int64(2*i + 2))
				}
			})
			wg.Wait()
		})
	}
}

// pinThread locks the goroutine to its thread and the thread to cpu;
// the goroutine must end locked.
func pinThread(cpu int) {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	_ = unix.SchedSetaffinity(0, &set)
}
