package multiplex_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/rayo-dev/rayo/serve/internal/multiplex"
)

func (h *harness) acquire(id string) (*model, func()) {
	h.t.Helper()
	m, release, err := h.c.Acquire(context.Background(), id)
	if err != nil {
		h.t.Fatalf("Acquire(%q): %v", id, err)
	}
	return m, release
}

// TestPinnedModelIsNotEvicted: the LRU model that is in use is skipped;
// the LRU one that is idle goes instead.
func TestPinnedModelIsNotEvicted(t *testing.T) {
	h := newHarness(t, 2)
	_, release := h.acquire("a") // oldest, but in use
	h.get("b")
	h.get("c") // evicts b, not a
	if got := strings.Join(h.logCopy(), ","); got != "load a,load b,unload b,load c" {
		t.Errorf("calls = %s", got)
	}
	release()
	if got := h.unloadCount("a"); got != 0 {
		t.Errorf("a unloaded on release with the cache within its limit")
	}
	h.get("d") // now a is the idle LRU
	if got := h.c.Loaded(); !slices.Equal(got, []string{"d", "c"}) {
		t.Errorf("Loaded = %v", got)
	}
}

// TestOverflowWhenAllPinned: with every resident model in use a load goes
// ahead above the limit, and the cache shrinks back when the pin goes.
func TestOverflowWhenAllPinned(t *testing.T) {
	h := newHarness(t, 1)
	_, release := h.acquire("a")
	h.get("b")
	if got := h.count(multiplex.EventOverflow); got != 1 {
		t.Errorf("overflow events = %d, want 1", got)
	}
	if got := h.c.Loaded(); !slices.Equal(got, []string{"b", "a"}) {
		t.Errorf("Loaded during overflow = %v", got)
	}
	if got := h.unloadCount("a"); got != 0 {
		t.Fatal("a pinned model was unloaded")
	}
	release()
	// a is now the idle LRU model above the limit: release trims it.
	if got := h.c.Loaded(); !slices.Equal(got, []string{"b"}) {
		t.Errorf("Loaded after release = %v", got)
	}
	if got := h.unloadCount("a"); got != 1 {
		t.Errorf("a unloads = %d, want 1", got)
	}
	release() // an extra call is ignored
	if got := h.c.Loaded(); !slices.Equal(got, []string{"b"}) {
		t.Errorf("Loaded after an extra release = %v", got)
	}
}

// TestPinsCount: a model acquired twice stays until both releases.
func TestPinsCount(t *testing.T) {
	h := newHarness(t, 1)
	_, r1 := h.acquire("a")
	_, r2 := h.acquire("a")
	h.get("b") // overflow
	r1()
	if got := h.unloadCount("a"); got != 0 {
		t.Fatal("a unloaded with one pin left")
	}
	r2()
	if got := h.unloadCount("a"); got != 1 {
		t.Errorf("a unloads = %d, want 1", got)
	}
}

// TestWaiterPinnedWhileLoading: an Acquire that waits for a load gets its
// model pinned even when other loads would evict it first.
func TestWaiterPinnedWhileLoading(t *testing.T) {
	h := newHarness(t, 1)
	open := h.gate("a")
	ra := make(chan func(), 1)
	go func() {
		_, release, err := h.c.Acquire(context.Background(), "a")
		if err != nil {
			t.Error(err)
		}
		ra <- release
	}()
	h.await(multiplex.EventMiss, 1)
	h.get("b") // overflow: a is loading, so it cannot be evicted
	h.await(multiplex.EventMiss, 1)
	open()
	release := <-ra
	// b is the idle model over the limit: a's completed load or c's evicts it
	// (the unload may still run in the background); a is pinned.
	h.get("c")
	if got := h.unloadCount("a"); got != 0 {
		t.Fatal("a evicted while pinned")
	}
	if got := h.c.Loaded(); !slices.Equal(got, []string{"c", "a"}) {
		t.Errorf("Loaded = %v", got)
	}
	release()
	if got := h.c.Loaded(); !slices.Equal(got, []string{"c"}) {
		t.Errorf("Loaded after release = %v", got)
	}
	if err := h.c.Close(context.Background()); err != nil { // waits for unloads
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		if got := h.unloadCount(id); got != 1 {
			t.Errorf("%s unloads = %d, want 1", id, got)
		}
	}
}

// TestOverflowFromConcurrentGetsShrinks: two models loading at once in one
// slot overflow; once both callers have their model the cache is back
// within its limit, without either caller's model unloaded in its own call.
func TestOverflowFromConcurrentGetsShrinks(t *testing.T) {
	h := newHarness(t, 1)
	openA, openB := h.gate("a"), h.gate("b")
	ra := h.getAsync(context.Background(), "a")
	h.await(multiplex.EventMiss, 1)
	rb := h.getAsync(context.Background(), "b")
	h.await(multiplex.EventOverflow, 1)
	openA()
	openB()
	for _, ch := range []<-chan result{ra, rb} {
		if r := <-ch; r.err != nil {
			t.Fatal(r.err)
		}
	}
	// The eviction is decided before the second caller returns; its unload
	// may still run in the load's goroutine.
	if got := h.c.Len(); got != 1 {
		t.Errorf("Len = %d after both Gets returned, want 1", got)
	}
	if err := h.c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a, b := h.unloadCount("a"), h.unloadCount("b"); a != 1 || b != 1 {
		t.Errorf("unloads a=%d b=%d, want 1 each (one evicted, one at Close)", a, b)
	}
}
