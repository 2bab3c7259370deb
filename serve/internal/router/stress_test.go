package router

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestStress runs many goroutines picking and finishing requests while the
// replica set changes under them. Every successful Pick checks that its
// replica is at or below its max at that moment, a monitor samples all
// counts, and at the end every count is back to zero.
func TestStress(t *testing.T) {
	const (
		workers = 16
		iters   = 1500
	)
	maxOf := map[string]int{"r0": 1, "r1": 2, "r2": 3, "r3": 4, "r4": 8}
	sets := [][]string{
		{"r0", "r1", "r2", "r3", "r4"},
		{"r1", "r3"},
		{"r0", "r2", "r4"},
		{},
		{"r4"},
		{"r0", "r1", "r2"},
	}
	models := map[string][]string{"r1": {"m"}, "r2": {"m", "n"}, "r4": {"n"}}
	replicasOf := func(ids []string) []Replica {
		rs := make([]Replica, len(ids))
		for i, id := range ids {
			rs[i] = Replica{ID: id, MaxOngoing: maxOf[id], Models: models[id]}
		}
		return rs
	}

	r := New(Options{Rand: seeded(3)})
	if err := r.Update(replicasOf(sets[0])); err != nil {
		t.Fatal(err)
	}

	// Every state ever published, for the monitor and the final check.
	var statesMu sync.Mutex
	states := map[*state]int{}
	record := func() {
		s := r.snap.Load()
		statesMu.Lock()
		for i := range s.entries {
			states[s.entries[i].st] = maxOf[s.entries[i].st.id]
		}
		statesMu.Unlock()
	}
	record()

	var over atomic.Int64
	check := func(st *state, max int) {
		if c := st.inFlight.Load(); c > int64(max) || c < 0 {
			over.Add(1)
			t.Errorf("replica %s has %d in flight, max %d", st.id, c, max)
		}
	}

	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { // updater
		defer bg.Done()
		for k := 1; ; k++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := r.Update(replicasOf(sets[k%len(sets)])); err != nil {
				t.Error(err)
				return
			}
			record()
			r.Ongoing(nil)
			runtime.Gosched()
		}
	}()
	go func() { // monitor
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			statesMu.Lock()
			for st, max := range states {
				check(st, max)
			}
			statesMu.Unlock()
			runtime.Gosched()
		}
	}()

	var picked, refused, empty atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			model := []string{"", "m", "n", "x"}[w%4]
			for i := 0; i < iters; i++ {
				changed := r.Changed()
				tk, err := r.Pick(model)
				switch {
				case errors.Is(err, ErrNoCapacity):
					refused.Add(1)
					continue
				case errors.Is(err, ErrNoReplicas):
					empty.Add(1)
					<-changed // scaled to zero: wait for replicas, as a handle does
					continue
				case err != nil:
					t.Error(err)
					return
				}
				picked.Add(1)
				check(tk.st, maxOf[tk.ReplicaID()])
				runtime.Gosched()
				tk.Done()
				if i%7 == 0 {
					tk.Done() // idempotent
				}
			}
		}(w)
	}
	wg.Wait()
	close(stop)
	bg.Wait()

	if over.Load() > 0 {
		t.Fatalf("%d samples above max", over.Load())
	}
	for st := range states {
		if c := st.inFlight.Load(); c != 0 {
			t.Errorf("replica %s ends with %d in flight", st.id, c)
		}
	}
	if _, total := counts(r); total != 0 {
		t.Errorf("Ongoing total = %d at the end", total)
	}
	if picked.Load() == 0 {
		t.Fatal("no request was ever placed")
	}
	t.Logf("picked %d, no capacity %d, no replicas %d, stats %+v", picked.Load(), refused.Load(), empty.Load(), r.Stats())
}

// TestConcurrentFillExact: with capacity C and C+K concurrent single picks
// that never finish, exactly C succeed and K get ErrNoCapacity.
func TestConcurrentFillExact(t *testing.T) {
	for _, maxes := range [][]int{{1}, {1, 1}, {3, 1, 2}, {5, 5, 5, 5, 5, 5, 5, 5}} {
		t.Run(fmt.Sprint(maxes), func(t *testing.T) {
			var reps []rep
			capacity := 0
			for i, m := range maxes {
				reps = append(reps, rep{id: fmt.Sprint("r", i), max: m})
				capacity += m
			}
			r := newRouter(t, seeded(5), reps...)
			const extra = 7
			var ok, full atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			for g := 0; g < capacity+extra; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, err := r.Pick("")
					switch {
					case err == nil:
						ok.Add(1)
					case errors.Is(err, ErrNoCapacity):
						full.Add(1)
					default:
						t.Error(err)
					}
				}()
			}
			close(start)
			wg.Wait()
			if ok.Load() != int64(capacity) || full.Load() != extra {
				t.Fatalf("%d placed, %d refused; want %d and %d", ok.Load(), full.Load(), capacity, extra)
			}
			for _, p := range reps {
				if c := count(t, r, p.id); c != p.max {
					t.Errorf("%s has %d, want %d", p.id, c, p.max)
				}
			}
		})
	}
}
