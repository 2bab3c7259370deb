package multiplex_test

import (
	"context"
	"errors"
	"testing"

	"github.com/rayo-dev/rayo/serve/internal/multiplex"
)

func TestCloseUnloadsAndRefuses(t *testing.T) {
	h := newHarness(t, 3)
	h.get("a")
	h.get("b")
	if err := h.c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if got := h.unloadCount(id); got != 1 {
			t.Errorf("%s unloads = %d, want 1", id, got)
		}
	}
	if _, err := h.c.Get(context.Background(), "a"); !errors.Is(err, multiplex.ErrClosed) {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
	if _, release, err := h.c.Acquire(context.Background(), "c"); !errors.Is(err, multiplex.ErrClosed) {
		t.Errorf("Acquire after Close = %v, want ErrClosed", err)
	} else {
		release() // a no-op on error
	}
	if got := h.c.Len(); got != 0 {
		t.Errorf("Len after Close = %d", got)
	}
	if err := h.c.Close(context.Background()); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// TestCloseWaitsForPins: a model in use is unloaded when its request ends,
// and Close returns then.
func TestCloseWaitsForPins(t *testing.T) {
	h := newHarness(t, 3)
	_, release := h.acquire("a")
	h.get("b")
	done := make(chan error, 1)
	go func() { done <- h.c.Close(context.Background()) }()

	// A Close bounded by an ended context gives up waiting.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.c.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Close(cancelled) = %v, want context.Canceled", err)
	}
	h.await(multiplex.EventEvict, 1) // b, unpinned, goes at once
	if got := h.unloadCount("a"); got != 0 {
		t.Fatal("a unloaded while pinned")
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := h.unloadCount("a"); got != 1 {
		t.Errorf("a unloads = %d, want 1", got)
	}
}

// TestCloseCancelsLoads: a load in flight is cancelled and its waiters
// get its error.
func TestCloseCancelsLoads(t *testing.T) {
	h := newHarness(t, 3)
	h.gate("a") // the loader waits for this gate or its context
	r := h.getAsync(context.Background(), "a")
	h.await(multiplex.EventMiss, 1)
	if err := h.c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if res := <-r; !errors.Is(res.err, context.Canceled) {
		t.Errorf("waiter got %v, want the cancelled load's error", res.err)
	}
}

// TestLoadSucceedingAfterClose: a loader that ignores its context and
// succeeds after Close has its model unloaded; waiters get ErrClosed.
func TestLoadSucceedingAfterClose(t *testing.T) {
	gate := make(chan struct{})
	started := make(chan struct{})
	unloaded := 0
	c, err := multiplex.New(func(context.Context, string) (int, error) {
		close(started)
		<-gate // ignores ctx
		return 7, nil
	}, multiplex.Config[int]{Unload: func(_ context.Context, _ string, m int) error {
		if m != 7 {
			t.Errorf("unload got %d", m)
		}
		unloaded++
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() {
		_, err := c.Get(context.Background(), "a")
		res <- err
	}()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Close = %v, want context.Canceled while the load runs", err)
	}
	close(gate)
	if err := <-res; !errors.Is(err, multiplex.ErrClosed) {
		t.Errorf("Get = %v, want ErrClosed", err)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if unloaded != 1 {
		t.Errorf("unloads = %d, want 1", unloaded)
	}
}

// TestCloseWhileReloadWaitsForUnload: a load waiting for its ID's earlier
// instance to unload gives up when Close cancels it.
func TestCloseWhileReloadWaitsForUnload(t *testing.T) {
	h := newHarness(t, 1)
	h.get("a")
	h.await(multiplex.EventMiss, 1)
	openUnload := h.unloadGate("a")
	rb := h.getAsync(context.Background(), "b") // evicts a; its Unload blocks
	h.await(multiplex.EventMiss, 1)
	ra := h.getAsync(context.Background(), "a") // waits for that Unload
	h.await(multiplex.EventMiss, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.c.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Close = %v", err)
	}
	if r := <-ra; !errors.Is(r.err, context.Canceled) {
		t.Errorf("Get(a) = %v, want context.Canceled", r.err)
	}
	if got := h.loadCount("a"); got != 1 {
		t.Errorf("a loaded %d times, want 1: the reload must not start", got)
	}
	openUnload()
	<-rb // b's load may end either way; only that it ends matters
	if err := h.c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestWaiterWokenAfterClose: a caller whose load ended just before Close
// gets ErrClosed, like any call after Close, and the model is unloaded.
func TestWaiterWokenAfterClose(t *testing.T) {
	for _, acquire := range []bool{false, true} {
		var c *multiplex.Cache[int]
		unloaded := 0
		c, err := multiplex.New(func(context.Context, string) (int, error) { return 1, nil },
			multiplex.Config[int]{
				Unload: func(context.Context, string, int) error { unloaded++; return nil },
				OnEvent: func(ev multiplex.Event) {
					if ev.Kind == multiplex.EventLoad { // before the waiter wakes
						ctx, cancel := context.WithCancel(context.Background())
						cancel()
						_ = c.Close(ctx) // does not wait: the waiter pins the model
					}
				},
			})
		if err != nil {
			t.Fatal(err)
		}
		if acquire {
			_, release, err := c.Acquire(context.Background(), "a")
			if !errors.Is(err, multiplex.ErrClosed) {
				t.Errorf("Acquire = %v, want ErrClosed", err)
			}
			release()
		} else if _, err := c.Get(context.Background(), "a"); !errors.Is(err, multiplex.ErrClosed) {
			t.Errorf("Get = %v, want ErrClosed", err)
		}
		if err := c.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if unloaded != 1 {
			t.Errorf("acquire=%v: unloads = %d, want 1", acquire, unloaded)
		}
	}
}
