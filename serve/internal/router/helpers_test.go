package router

import (
	"math/rand/v2"
	"sync"
	"testing"
)

// scripted returns a random source that answers vals in order and 0 after
// them; it fails the test if a value is out of range for the call.
func scripted(t *testing.T, vals ...int) func(n int) int {
	t.Helper()
	var mu sync.Mutex
	return func(n int) int {
		mu.Lock()
		defer mu.Unlock()
		if len(vals) == 0 {
			return 0
		}
		v := vals[0]
		vals = vals[1:]
		if v < 0 || v >= n {
			t.Errorf("scripted rand: %d out of [0,%d)", v, n)
			return 0
		}
		return v
	}
}

// pair encodes the draw of positions i then j (i != j) in a tier of n, as
// choose decodes it.
func pair(n, i, j int) int {
	if j > i {
		j--
	}
	return i*(n-1) + j
}

// seeded returns a deterministic source safe for concurrent use.
func seeded(seed uint64) func(n int) int {
	var mu sync.Mutex
	src := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return func(n int) int {
		mu.Lock()
		defer mu.Unlock()
		return src.IntN(n)
	}
}

// rep is a replica in a test table: its config and its in-flight count.
type rep struct {
	id     string
	max    int
	models []string
	count  int
}

// newRouter builds a Router over reps with their counts set by hand.
func newRouter(t *testing.T, rnd func(int) int, reps ...rep) *Router {
	t.Helper()
	r := New(Options{Rand: rnd})
	rs := make([]Replica, len(reps))
	for i, p := range reps {
		rs[i] = Replica{ID: p.id, MaxOngoing: p.max, Models: p.models, Handle: "h-" + p.id}
	}
	if err := r.Update(rs); err != nil {
		t.Fatalf("Update: %v", err)
	}
	for _, p := range reps {
		setCount(t, r, p.id, p.count)
	}
	return r
}

func stateOf(t *testing.T, r *Router, id string) *state {
	t.Helper()
	s := r.snap.Load()
	if i, ok := s.byID[id]; ok {
		return s.entries[i].st
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if st, ok := r.draining[id]; ok {
		return st
	}
	t.Fatalf("no replica %q", id)
	return nil
}

func setCount(t *testing.T, r *Router, id string, n int) {
	t.Helper()
	stateOf(t, r, id).inFlight.Store(int64(n))
}

func count(t *testing.T, r *Router, id string) int {
	t.Helper()
	return int(stateOf(t, r, id).inFlight.Load())
}

// counts returns every reported replica's in-flight count via Ongoing.
func counts(r *Router) (map[string]int, int) {
	m := map[string]int{}
	total := r.Ongoing(func(id string, n int) { m[id] = n })
	return m, total
}
