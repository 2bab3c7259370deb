package multiplex_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/serve/internal/multiplex"
)

// TestEvents checks the metrics hook's events, in order, with the durations
// the step clock gives (1ms per load or unload).
func TestEvents(t *testing.T) {
	h := newHarness(t, 1)
	boom := errors.New("boom")
	h.mu.Lock()
	h.errs["x"] = boom
	h.mu.Unlock()
	h.get("a")
	h.get("a")
	h.get("b")
	if _, err := h.c.Get(context.Background(), "x"); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	ms := time.Millisecond
	want := []multiplex.Event{
		{Kind: multiplex.EventMiss, ModelID: "a", Models: 1},
		{Kind: multiplex.EventLoad, ModelID: "a", Duration: ms, Models: 1},
		{Kind: multiplex.EventHit, ModelID: "a", Models: 1},
		{Kind: multiplex.EventMiss, ModelID: "b", Models: 1},
		{Kind: multiplex.EventEvict, ModelID: "a", Duration: ms, Models: 1},
		{Kind: multiplex.EventLoad, ModelID: "b", Duration: ms, Models: 1},
		{Kind: multiplex.EventMiss, ModelID: "x", Models: 1},
		{Kind: multiplex.EventEvict, ModelID: "b", Duration: ms, Models: 1},
		{Kind: multiplex.EventLoadError, ModelID: "x", Duration: ms, Models: 0},
	}
	h.mu.Lock()
	got := append([]multiplex.Event(nil), h.events...)
	h.mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("events:\n got %+v\nwant %+v", got, want)
	}
	for i := range want {
		g := got[i]
		if g.Kind == multiplex.EventLoadError {
			if !errors.Is(g.Err, boom) {
				t.Errorf("event %d Err = %v", i, g.Err)
			}
			g.Err = nil
		}
		if g != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, g, want[i])
		}
	}
}
