package router

import (
	"errors"
	"slices"
	"testing"
)

func TestPick(t *testing.T) {
	tests := []struct {
		name    string
		reps    []rep
		model   string
		rand    []int // scripted draws; nil means a seeded source
		want    []string
		wantErr error
		hits    uint64
		misses  uint64
	}{
		{name: "no replicas", wantErr: ErrNoReplicas},
		{name: "no replicas with a model", model: "m", wantErr: ErrNoReplicas},
		{name: "one replica with room", reps: []rep{{id: "a", max: 2, count: 1}}, want: []string{"a"}},
		{name: "one replica full", reps: []rep{{id: "a", max: 2, count: 2}}, wantErr: ErrNoCapacity},
		{
			name: "fewer in flight wins, first drawn fuller",
			reps: []rep{{id: "a", max: 5, count: 3}, {id: "b", max: 5, count: 1}},
			rand: []int{pair(2, 0, 1)}, want: []string{"b"},
		},
		{
			name: "fewer in flight wins, second drawn fuller",
			reps: []rep{{id: "a", max: 5, count: 3}, {id: "b", max: 5, count: 1}},
			rand: []int{pair(2, 1, 0)}, want: []string{"b"},
		},
		{
			name: "tie goes to the first drawn",
			reps: []rep{{id: "a", max: 5, count: 2}, {id: "b", max: 5, count: 2}},
			rand: []int{pair(2, 1, 0)}, want: []string{"b"},
		},
		{
			name: "only the two drawn are compared",
			reps: []rep{{id: "a", max: 5, count: 2}, {id: "b", max: 5, count: 0}, {id: "c", max: 5, count: 1}},
			rand: []int{pair(3, 0, 2)}, want: []string{"c"},
		},
		{
			name: "the emptier of the pair is full: the other",
			reps: []rep{{id: "a", max: 2, count: 2}, {id: "b", max: 10, count: 3}},
			rand: []int{pair(2, 0, 1)}, want: []string{"b"},
		},
		{
			name: "both drawn full: scan finds the least loaded with room",
			reps: []rep{{id: "a", max: 3, count: 3}, {id: "b", max: 3, count: 3}, {id: "c", max: 9, count: 5}, {id: "d", max: 9, count: 4}},
			rand: []int{pair(4, 0, 1), 0}, want: []string{"d"},
		},
		{
			name: "both drawn full: scan skips full ones with fewer",
			reps: []rep{{id: "a", max: 1, count: 1}, {id: "b", max: 1, count: 1}, {id: "c", max: 1, count: 1}, {id: "d", max: 9, count: 8}},
			rand: []int{pair(4, 2, 0), 3}, want: []string{"d"},
		},
		{
			name:    "all full",
			reps:    []rep{{id: "a", max: 1, count: 1}, {id: "b", max: 2, count: 2}, {id: "c", max: 3, count: 3}},
			wantErr: ErrNoCapacity,
		},
		{
			name:  "model loaded on two: pick among them",
			reps:  []rep{{id: "a", max: 5, models: []string{"m"}, count: 4}, {id: "b", max: 5, count: 0}, {id: "c", max: 5, models: []string{"m"}, count: 3}},
			model: "m", rand: []int{pair(2, 0, 1)}, want: []string{"c"}, hits: 1,
		},
		{
			name:  "model loaded on one with room: it, though fuller",
			reps:  []rep{{id: "a", max: 5, models: []string{"m"}, count: 4}, {id: "b", max: 5, count: 0}},
			model: "m", want: []string{"a"}, hits: 1,
		},
		{
			name:  "replicas with the model full: fewest models next",
			reps:  []rep{{id: "a", max: 1, models: []string{"m"}, count: 1}, {id: "b", max: 5, models: []string{"x"}, count: 0}, {id: "c", max: 5, count: 3}},
			model: "m", want: []string{"c"}, misses: 1,
		},
		{
			name:  "model nowhere: fewest models loaded, though busier",
			reps:  []rep{{id: "a", max: 9, models: []string{"x", "y"}, count: 0}, {id: "b", max: 9, count: 7}, {id: "c", max: 9, models: []string{"x"}, count: 0}},
			model: "m", want: []string{"b"}, misses: 1,
		},
		{
			name:  "model nowhere, fewest-models replicas full: any",
			reps:  []rep{{id: "a", max: 9, models: []string{"x", "y"}, count: 5}, {id: "b", max: 2, count: 2}, {id: "c", max: 9, models: []string{"x"}, count: 1}},
			model: "m", rand: []int{pair(3, 0, 2)}, want: []string{"c"}, misses: 1,
		},
		{
			name:  "model nowhere, all with equal model counts: P2C over all",
			reps:  []rep{{id: "a", max: 9, models: []string{"x"}, count: 5}, {id: "b", max: 9, models: []string{"y"}, count: 1}},
			model: "m", rand: []int{pair(2, 0, 1)}, want: []string{"b"}, misses: 1,
		},
		{
			name:    "model: everything full",
			reps:    []rep{{id: "a", max: 1, models: []string{"m"}, count: 1}, {id: "b", max: 1, count: 1}},
			model:   "m",
			wantErr: ErrNoCapacity,
		},
		{
			name: "no model ID ignores models",
			reps: []rep{{id: "a", max: 9, models: []string{"m"}, count: 5}, {id: "b", max: 9, count: 1}},
			rand: []int{pair(2, 0, 1)},
			want: []string{"b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rnd := seeded(1)
			if tt.rand != nil {
				rnd = scripted(t, tt.rand...)
			}
			r := newRouter(t, rnd, tt.reps...)
			before, totalBefore := counts(r)
			tk, err := r.Pick(tt.model)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Pick(%q) error = %v, want %v", tt.model, err, tt.wantErr)
			}
			after, totalAfter := counts(r)
			st := r.Stats()
			if err != nil {
				if tk.ReplicaID() != "" {
					t.Errorf("failed Pick returned replica %q", tk.ReplicaID())
				}
				if totalAfter != totalBefore {
					t.Errorf("failed Pick changed counts: %v -> %v", before, after)
				}
				if errors.Is(err, ErrNoCapacity) && st.NoCapacity != 1 {
					t.Errorf("Stats.NoCapacity = %d, want 1", st.NoCapacity)
				}
				return
			}
			got := tk.ReplicaID()
			if !slices.Contains(tt.want, got) {
				t.Fatalf("Pick(%q) = %q, want one of %v", tt.model, got, tt.want)
			}
			if h := tk.Handle(); h != "h-"+got {
				t.Errorf("Handle() = %v, want h-%s", h, got)
			}
			for _, p := range tt.reps {
				want := p.count
				if p.id == got {
					want++
					if want > p.max {
						t.Errorf("replica %s above its max: %d > %d", p.id, want, p.max)
					}
				}
				if after[p.id] != want {
					t.Errorf("count of %s = %d, want %d", p.id, after[p.id], want)
				}
			}
			if st.ModelHits != tt.hits || st.ModelMisses != tt.misses {
				t.Errorf("Stats = %+v, want hits %d misses %d", st, tt.hits, tt.misses)
			}
			tk.Done()
			if _, total := counts(r); total != totalBefore {
				t.Errorf("after Done total = %d, want %d", total, totalBefore)
			}
		})
	}
}

// TestPickNeverFullerOfPair checks, over many seeded draws of counts and
// pairs, that Pick never takes the fuller of the two replicas it drew
// while the other had room, and never goes above a max.
func TestPickNeverFullerOfPair(t *testing.T) {
	src := seeded(7)
	var drawN, drawK int
	rec := func(n int) int {
		k := src(n)
		if drawN == 0 {
			drawN, drawK = n, k
		}
		return k
	}
	for trial := 0; trial < 2000; trial++ {
		n := 2 + src(9)
		reps := make([]rep, n)
		for i := range reps {
			reps[i] = rep{id: string(rune('a' + i)), max: 1 + src(6)}
			reps[i].count = src(reps[i].max + 1)
		}
		r := newRouter(t, rec, reps...)
		drawN = 0
		tk, err := r.Pick("")
		full := true
		for _, p := range reps {
			full = full && p.count == p.max
		}
		if errors.Is(err, ErrNoCapacity) != full {
			t.Fatalf("trial %d: err = %v with all full = %v (%+v)", trial, err, full, reps)
		}
		if err != nil {
			continue
		}
		if drawN != n*(n-1) {
			t.Fatalf("trial %d: first draw over %d, want %d", trial, drawN, n*(n-1))
		}
		i, j := drawK/(n-1), drawK%(n-1)
		if j >= i {
			j++
		}
		a, b := reps[i], reps[j]
		got := tk.ReplicaID()
		var chosen rep
		for _, p := range reps {
			if p.id == got {
				chosen = p
			}
		}
		if chosen.count >= chosen.max {
			t.Fatalf("trial %d: picked full replica %+v", trial, chosen)
		}
		aRoom, bRoom := a.count < a.max, b.count < b.max
		switch {
		case aRoom && bRoom:
			lo := min(a.count, b.count)
			if (got != a.id && got != b.id) || chosen.count != lo {
				t.Fatalf("trial %d: drew %+v and %+v, picked %+v", trial, a, b, chosen)
			}
		case aRoom != bRoom:
			want := a.id
			if bRoom {
				want = b.id
			}
			if got != want {
				t.Fatalf("trial %d: drew %+v and %+v (one full), picked %s", trial, a, b, got)
			}
		}
	}
}

// TestPickDrawIsUniform checks that the single draw covers every ordered
// pair of distinct positions.
func TestPickDrawIsUniform(t *testing.T) {
	for n := 2; n <= 5; n++ {
		seen := map[[2]int]bool{}
		for k := 0; k < n*(n-1); k++ {
			i, j := k/(n-1), k%(n-1)
			if j >= i {
				j++
			}
			if i == j || i >= n || j >= n {
				t.Fatalf("n=%d k=%d gives (%d,%d)", n, k, i, j)
			}
			seen[[2]int{i, j}] = true
			if pair(n, i, j) != k {
				t.Fatalf("pair(%d,%d,%d) = %d, want %d", n, i, j, pair(n, i, j), k)
			}
		}
		if len(seen) != n*(n-1) {
			t.Fatalf("n=%d: %d distinct pairs, want %d", n, len(seen), n*(n-1))
		}
	}
}

func TestPickAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	reps := make([]rep, 8)
	for i := range reps {
		reps[i] = rep{id: string(rune('a' + i)), max: 100, models: []string{"m" + string(rune('0'+i%2))}}
	}
	r := newRouter(t, nil, reps...)
	for _, model := range []string{"", "m0", "absent"} {
		allocs := testing.AllocsPerRun(1000, func() {
			tk, err := r.Pick(model)
			if err != nil {
				t.Fatal(err)
			}
			tk.Done()
		})
		if allocs != 0 {
			t.Errorf("Pick(%q)+Done: %v allocations per run, want 0", model, allocs)
		}
	}
	full := newRouter(t, nil, rep{id: "a", max: 1, count: 1}, rep{id: "b", max: 1, count: 1}, rep{id: "c", max: 1, count: 1})
	if allocs := testing.AllocsPerRun(1000, func() { _, _ = full.Pick("") }); allocs != 0 {
		t.Errorf("Pick with no capacity: %v allocations per run, want 0", allocs)
	}
}
