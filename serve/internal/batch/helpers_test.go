package batch

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"
)

type result struct {
	out int
	err error
}

// goCall runs b.Call in a goroutine and returns where its result arrives.
func goCall(ctx context.Context, b *Batcher[int, int], item int) <-chan result {
	ch := make(chan result, 1)
	go func() {
		out, err := b.Call(ctx, item)
		ch <- result{out, err}
	}()
	return ch
}

// waitUntil yields until cond holds. It polls state the batcher exposes;
// it never sleeps to let something happen.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		runtime.Gosched()
	}
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for a value")
		panic("unreachable")
	}
}

// recorder is an fn that reports each batch it gets and, when gate is set,
// waits on it before answering item*10 for each item.
type recorder struct {
	started chan []int    // each batch, copied
	gate    chan struct{} // nil: answer at once
}

func newRecorder(gated bool) *recorder {
	r := &recorder{started: make(chan []int, 100)}
	if gated {
		r.gate = make(chan struct{})
	}
	return r
}

func (r *recorder) fn(ctx context.Context, items []int) ([]int, error) {
	r.started <- slices.Clone(items)
	if r.gate != nil {
		select {
		case <-r.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	outs := make([]int, len(items))
	for i, x := range items {
		outs[i] = x * 10
	}
	return outs, nil
}

// noBatch fails if a batch has started.
func (r *recorder) noBatch(t *testing.T) {
	t.Helper()
	select {
	case got := <-r.started:
		t.Fatalf("unexpected batch %v", got)
	default:
	}
}

func newTest(t *testing.T, fn func(context.Context, []int) ([]int, error), cfg Config) (*Batcher[int, int], *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	b, err := newBatcher(fn, cfg, clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b, clk
}

func queued(b *Batcher[int, int], n int) func() bool {
	return func() bool { return b.Stats().Queued == n }
}
