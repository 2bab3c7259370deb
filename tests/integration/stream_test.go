package integration_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"iter"
	"runtime"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

var (
	// streamPatterns yields n items of size bytes, item i patternOf(size, i).
	streamPatterns = rayo.RegisterStream[[]byte]("itest.streamPatterns", func(n, size int) iter.Seq2[[]byte, error] {
		return func(yield func([]byte, error) bool) {
			for i := 0; i < n; i++ {
				if !yield(patternOf(size, uint64(i)), nil) {
					return
				}
			}
		}
	})
	// streamConsume drains a stream it starts itself: a worker as owner.
	streamConsume = rayo.Register[int]("itest.streamConsume", func(ctx context.Context, n, size int) (int, error) {
		s := streamPatterns.Options(rayo.Resources(special), rayo.StreamBackpressure(1)).Remote(n, size)
		total := 0
		for r, err := range s.All(ctx) {
			if err != nil {
				return 0, err
			}
			b, err := r.Get(ctx)
			if err != nil {
				return 0, err
			}
			total += len(b)
		}
		return total, nil
	})
	streamLen = rayo.Register[int]("itest.streamLen", func(b []byte) int { return len(b) })
)

// A stream produced on another node: its large items are stored there as
// primary copies, pulled by the driver and by a task on a third process,
// and freed everywhere once dropped. A worker can own a stream too.
func TestStreamAcrossNodes(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	dumpMemoryOnFailure(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	sp := specialProc(t, c)
	const n, size = 5, 1 << 20
	func() {
		s := streamPatterns.Options(rayo.Resources(special), rayo.StreamBackpressure(2)).Remote(n, size)
		var first rayo.ObjectRef[[]byte]
		for i := 0; ; i++ {
			r, err := s.Next(ctx)
			if errors.Is(err, io.EOF) {
				if i != n {
					t.Fatalf("%d items, want %d", i, n)
				}
				break
			}
			if err != nil {
				t.Fatalf("item %d: %v", i, err)
			}
			if i == 0 {
				first = r
			}
			b, err := r.Get(ctx)
			if err != nil || !bytes.Equal(b, patternOf(size, uint64(i))) {
				t.Fatalf("item %d: %d bytes, %v", i, len(b), err)
			}
		}
		if got, err := streamLen.Options(rayo.NodeAffinity(c.Head().NodeID, false)).Remote(first).Get(ctx); err != nil || got != size {
			t.Fatalf("an item passed to a task on the head node: %d, %v", got, err)
		}
		if len(mustListStore(t, c, sp).Objects) == 0 {
			t.Fatal("the producing node's store holds no item")
		}
		if got, err := streamConsume.Options(rayo.NodeAffinity(c.Head().NodeID, false)).Remote(3, size).Get(ctx); err != nil || got != 3*size {
			t.Fatalf("a worker's own stream: %d bytes, %v", got, err)
		}
	}()
	testcluster.WaitFor(t, 10*time.Second, func() bool {
		runtime.GC()
		return storeEmpty(t, c, c.Head()) && storeEmpty(t, c, sp)
	}, "every node's store to be empty after the stream was dropped")
}
