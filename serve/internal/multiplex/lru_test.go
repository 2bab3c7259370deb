package multiplex_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/rayo-dev/rayo/serve/internal/multiplex"
)

// TestLRU plays sequences of Gets and checks the loader and unload calls in
// order and what Loaded reports, most recent first.
func TestLRU(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		gets   string // space-separated IDs
		log    string // loader and unload calls, in order
		loaded string // Loaded() at the end
	}{
		{name: "fills up", max: 3, gets: "a b c", log: "load a,load b,load c", loaded: "c b a"},
		{name: "hits reorder", max: 3, gets: "a b c a b", log: "load a,load b,load c", loaded: "b a c"},
		{name: "evicts oldest", max: 2, gets: "a b c", log: "load a,load b,unload a,load c", loaded: "c b"},
		{name: "hit saves from eviction", max: 2, gets: "a b a c", log: "load a,load b,unload b,load c", loaded: "c a"},
		{name: "reload after eviction", max: 2, gets: "a b c a", log: "load a,load b,unload a,load c,unload b,load a", loaded: "a c"},
		{name: "one slot thrashes", max: 1, gets: "a b a", log: "load a,unload a,load b,unload b,load a", loaded: "a"},
		{name: "no limit", max: multiplex.NoLimit, gets: "a b c d e a", log: "load a,load b,load c,load d,load e", loaded: "a e d c b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.max)
			for _, id := range strings.Fields(tt.gets) {
				h.get(id)
			}
			if got := strings.Join(h.logCopy(), ","); got != tt.log {
				t.Errorf("calls:\n got %s\nwant %s", got, tt.log)
			}
			if got := strings.Join(h.c.Loaded(), " "); got != tt.loaded {
				t.Errorf("Loaded = %q, want %q", got, tt.loaded)
			}
		})
	}
}

func TestUnloadOncePerEviction(t *testing.T) {
	h := newHarness(t, 2)
	all := ids(5)
	const rounds = 4
	for range rounds {
		for _, id := range all {
			h.get(id)
		}
	}
	// Each round loads all 5 (2 slots, cycling), so each is evicted once per
	// round except the two left resident at the end.
	for i, id := range all {
		wantLoads, wantUnloads := rounds, rounds
		if i >= 3 {
			wantUnloads--
		}
		if got := h.loadCount(id); got != wantLoads {
			t.Errorf("%s loads = %d, want %d", id, got, wantLoads)
		}
		if got := h.unloadCount(id); got != wantUnloads {
			t.Errorf("%s unloads = %d, want %d", id, got, wantUnloads)
		}
	}
	if got := h.count(multiplex.EventEvict); got != rounds*5-2 {
		t.Errorf("evict events = %d, want %d", got, rounds*5-2)
	}
	// Close unloads the last two, once each.
	if err := h.c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, id := range all {
		if got := h.unloadCount(id); got != rounds {
			t.Errorf("after Close, %s unloads = %d, want %d", id, got, rounds)
		}
	}
}

func TestLoadedAndVersion(t *testing.T) {
	h := newHarness(t, 2)
	v0 := h.c.Version()
	h.get("a")
	v1 := h.c.Version()
	if v1 == v0 {
		t.Error("Version unchanged by a load")
	}
	h.get("a")
	if h.c.Version() != v1 {
		t.Error("Version changed by a hit")
	}
	h.get("b")
	h.get("a") // reorders only
	v2 := h.c.Version()
	h.get("b")
	if h.c.Version() != v2 {
		t.Error("Version changed by a reorder")
	}
	h.get("c") // evicts a
	if h.c.Version() == v2 {
		t.Error("Version unchanged by an eviction")
	}
	buf := make([]string, 0, 4)
	if got := h.c.AppendLoaded(buf[:0]); !slices.Equal(got, []string{"c", "b"}) {
		t.Errorf("AppendLoaded = %v", got)
	}
	if got := h.c.Len(); got != 2 {
		t.Errorf("Len = %d", got)
	}
}
