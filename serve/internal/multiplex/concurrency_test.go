package multiplex_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rayo-dev/rayo/serve/internal/multiplex"
)

// getAsync starts Get(id) and returns a channel with its result.
func (h *harness) getAsync(ctx context.Context, id string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		m, err := h.c.Get(ctx, id)
		ch <- result{m, err}
	}()
	return ch
}

type result struct {
	m   *model
	err error
}

func TestConcurrentGetsShareOneLoad(t *testing.T) {
	h := newHarness(t, 2)
	open := h.gate("a")
	const n = 16
	var results []<-chan result
	for range n {
		results = append(results, h.getAsync(context.Background(), "a"))
	}
	h.await(multiplex.EventMiss, n) // all are waiting
	if got := h.c.Loaded(); !slices.Equal(got, []string{"a"}) {
		t.Errorf("Loaded while loading = %v, want [a] (loading IDs are reported)", got)
	}
	open()
	var first *model
	for _, ch := range results {
		r := <-ch
		if r.err != nil {
			t.Fatal(r.err)
		}
		if first == nil {
			first = r.m
		} else if r.m != first {
			t.Error("callers got different model instances")
		}
	}
	if got := h.loadCount("a"); got != 1 {
		t.Errorf("loader called %d times, want 1", got)
	}
	if got := h.count(multiplex.EventLoad); got != 1 {
		t.Errorf("load events = %d, want 1", got)
	}
}

func TestLoadErrorReachesEveryWaiterAndIsNotCached(t *testing.T) {
	h := newHarness(t, 2)
	boom := errors.New("no such model in the bucket")
	h.mu.Lock()
	h.errs["a"] = boom
	h.mu.Unlock()
	open := h.gate("a")
	const n = 4
	var results []<-chan result
	for range n {
		results = append(results, h.getAsync(context.Background(), "a"))
	}
	h.await(multiplex.EventMiss, n)
	open()
	for _, ch := range results {
		if r := <-ch; !errors.Is(r.err, boom) || !strings.Contains(r.err.Error(), `"a"`) {
			t.Errorf("waiter got %v, want the load error naming the model", r.err)
		}
	}
	if got := h.c.Loaded(); len(got) != 0 {
		t.Errorf("Loaded after a failed load = %v", got)
	}
	if got := h.count(multiplex.EventLoadError); got != 1 {
		t.Errorf("load_error events = %d, want 1", got)
	}
	// Not cached: the next Get loads again, and now succeeds.
	h.mu.Lock()
	delete(h.errs, "a")
	h.mu.Unlock()
	if m := h.get("a"); m.gen != 2 {
		t.Errorf("model gen = %d, want 2 (a fresh load)", m.gen)
	}
	if got := h.unloadCount("a"); got != 0 {
		t.Errorf("a failed load was unloaded %d times", got)
	}
}

func TestLoaderPanicIsAnError(t *testing.T) {
	h := newHarness(t, 2)
	h.mu.Lock()
	h.panics["a"] = true
	h.mu.Unlock()
	_, err := h.c.Get(context.Background(), "a")
	var pe *multiplex.PanicError
	if !errors.Is(err, multiplex.ErrPanic) || !errors.As(err, &pe) {
		t.Fatalf("Get = %v, want a *PanicError", err)
	}
	if pe.Hook != "load" || pe.ModelID != "a" || pe.Value != "boom a" || len(pe.Stack) == 0 {
		t.Errorf("PanicError = %+v", pe)
	}
	if want := `multiplex: load of model "a" panicked: boom a`; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	h.mu.Lock()
	h.panics["a"] = false
	h.mu.Unlock()
	h.get("a") // the cache lives on
}

func TestUnloadErrorsAreReported(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(h *harness)
		check func(t *testing.T, err error)
	}{
		{
			name:  "error",
			setup: func(h *harness) { h.uerrs["a"] = errors.New("device busy") },
			check: func(t *testing.T, err error) {
				if err == nil || !strings.Contains(err.Error(), "device busy") || !strings.Contains(err.Error(), `"a"`) {
					t.Errorf("evict Err = %v", err)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 1)
			h.mu.Lock()
			tc.setup(h)
			h.mu.Unlock()
			h.get("a")
			h.get("b") // evicts a
			h.mu.Lock()
			var ev *multiplex.Event
			for i := range h.events {
				if h.events[i].Kind == multiplex.EventEvict {
					ev = &h.events[i]
				}
			}
			h.mu.Unlock()
			if ev == nil || ev.ModelID != "a" {
				t.Fatalf("no eviction of a: %+v", ev)
			}
			tc.check(t, ev.Err)
			if got := h.c.Loaded(); !slices.Equal(got, []string{"b"}) {
				t.Errorf("Loaded = %v: a failed unload still evicts", got)
			}
		})
	}
}

func TestUnloadPanicIsReported(t *testing.T) {
	var mu sync.Mutex
	var evs []multiplex.Event
	c, err := multiplex.New(func(_ context.Context, id string) (string, error) { return id, nil },
		multiplex.Config[string]{
			MaxModels: 1,
			Unload:    func(context.Context, string, string) error { panic("unload boom") },
			OnEvent: func(ev multiplex.Event) {
				mu.Lock()
				evs = append(evs, ev)
				mu.Unlock()
			},
		})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if _, err := c.Get(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	var pe *multiplex.PanicError
	found := false
	for _, ev := range evs {
		if ev.Kind == multiplex.EventEvict && ev.ModelID == "a" {
			found = errors.As(ev.Err, &pe) && pe.Hook == "unload"
		}
	}
	mu.Unlock()
	if !found {
		t.Errorf("no eviction of a with an unload PanicError: %+v", evs)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestWaiterCancelled: a caller that gives up does not cancel the load for
// the others, nor the load of the model it asked for.
func TestWaiterCancelled(t *testing.T) {
	h := newHarness(t, 2)
	open := h.gate("a")
	ctx1, cancel1 := context.WithCancel(context.Background())
	r1 := h.getAsync(ctx1, "a") // starts the load
	h.await(multiplex.EventMiss, 1)
	r2 := h.getAsync(context.Background(), "a")
	h.await(multiplex.EventMiss, 1)
	if id := <-h.started; id != "a" {
		t.Fatalf("loader started for %q", id)
	}
	cancel1()
	if r := <-r1; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled waiter got %v, want context.Canceled", r.err)
	}
	h.mu.Lock()
	loadCtx := h.loadCtx["a"]
	h.mu.Unlock()
	if loadCtx.Err() != nil {
		t.Fatal("the load's context was cancelled with its first caller")
	}
	open()
	if r := <-r2; r.err != nil || r.m.id != "a" {
		t.Fatalf("remaining waiter got %+v", r)
	}
	if got := h.loadCount("a"); got != 1 {
		t.Errorf("loads = %d, want 1", got)
	}
}

// TestEveryWaiterCancelled: the load still completes and is cached for
// the next request, which the router is sending here.
func TestEveryWaiterCancelled(t *testing.T) {
	h := newHarness(t, 2)
	open := h.gate("a")
	ctx, cancel := context.WithCancel(context.Background())
	r := h.getAsync(ctx, "a")
	h.await(multiplex.EventMiss, 1)
	cancel()
	if res := <-r; !errors.Is(res.err, context.Canceled) {
		t.Fatalf("got %v", res.err)
	}
	open()
	h.await(multiplex.EventLoad, 1)
	h.get("a")
	if got := h.loadCount("a"); got != 1 {
		t.Errorf("loads = %d, want 1 (the abandoned load is kept)", got)
	}
	if got := h.count(multiplex.EventHit); got != 1 {
		t.Errorf("hits = %d, want 1", got)
	}
}

func TestCancelledBeforeMissDoesNotLoad(t *testing.T) {
	h := newHarness(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.c.Get(ctx, "a"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get = %v", err)
	}
	if got := h.loadCount("a"); got != 0 {
		t.Errorf("loads = %d", got)
	}
}

// TestReloadWaitsForUnload: a model evicted and asked for again is loaded
// only after its Unload has returned.
func TestReloadWaitsForUnload(t *testing.T) {
	h := newHarness(t, 1)
	h.get("a")
	h.await(multiplex.EventMiss, 1) // consume the signal of that first miss
	openUnload := h.unloadGate("a")
	rb := h.getAsync(context.Background(), "b") // evicts a; its Unload blocks
	h.await(multiplex.EventMiss, 1)
	ra := h.getAsync(context.Background(), "a") // must wait for that Unload
	h.await(multiplex.EventMiss, 1)
	if got := h.loadCount("a"); got != 1 {
		t.Fatalf("a reloaded before its unload returned")
	}
	openUnload()
	for _, ch := range []<-chan result{ra, rb} {
		if r := <-ch; r.err != nil {
			t.Fatal(r.err)
		}
	}
	log := h.logCopy()
	iUnload, iReload := slices.Index(log, "unload a"), slices.Index(log[1:], "load a")+1
	if iUnload < 0 || iReload <= iUnload {
		t.Errorf("calls %v: want unload a before the second load a", log)
	}
}

// TestStress mixes Get and Acquire on many goroutines over more models than
// fit; -race checks the locking, the counts check that nothing leaks.
func TestStress(t *testing.T) {
	var mu sync.Mutex
	loads, unloads := map[string]int{}, map[string]int{}
	c, err := multiplex.New(func(_ context.Context, id string) (string, error) {
		mu.Lock()
		loads[id]++
		mu.Unlock()
		return id, nil
	}, multiplex.Config[string]{
		MaxModels: 3,
		Unload: func(_ context.Context, id string, m string) error {
			if m != id {
				t.Errorf("unload %q got %q", id, m)
			}
			mu.Lock()
			unloads[id]++
			mu.Unlock()
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	all := ids(7)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				id := all[(g*7+i*3)%len(all)]
				if i%2 == 0 {
					m, err := c.Get(context.Background(), id)
					if err != nil || m != id {
						t.Errorf("Get(%q) = %q, %v", id, m, err)
					}
					continue
				}
				m, release, err := c.Acquire(context.Background(), id)
				if err != nil || m != id {
					t.Errorf("Acquire(%q) = %q, %v", id, m, err)
				}
				release()
			}
		})
	}
	wg.Wait()
	if n := c.Len(); n > 3 {
		t.Errorf("Len = %d after every pin was released, want <= 3", n)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range all {
		if loads[id] != unloads[id] {
			t.Errorf("%s: %d loads, %d unloads", id, loads[id], unloads[id])
		}
	}
}
