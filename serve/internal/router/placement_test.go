package router

import "testing"

// TestPlacementSticks: requests for a model nobody has follow the first
// miss to its replica (which is loading the model) while it has room,
// instead of spreading the load of the model over replicas.
func TestPlacementSticks(t *testing.T) {
	r := newRouter(t, seeded(11),
		rep{id: "a", max: 9, models: []string{"x"}},
		rep{id: "b", max: 3},
		rep{id: "c", max: 3},
		rep{id: "d", max: 3},
	)
	first, err := r.Pick("new")
	if err != nil {
		t.Fatal(err)
	}
	home := first.ReplicaID()
	if home == "a" {
		t.Fatalf("first miss went to a, which has more models than b, c, d")
	}
	for i := 0; i < 2; i++ {
		tk, err := r.Pick("new")
		if err != nil || tk.ReplicaID() != home {
			t.Fatalf("request %d for the model: %q, %v; want %s, where the first went", i+2, tk.ReplicaID(), err, home)
		}
	}
	// home is full now: the next goes elsewhere and becomes the new home.
	next, err := r.Pick("new")
	if err != nil || next.ReplicaID() == home {
		t.Fatalf("with %s full: %q, %v", home, next.ReplicaID(), err)
	}
	again, err := r.Pick("new")
	if err != nil || again.ReplicaID() != next.ReplicaID() {
		t.Fatalf("after moving: %q, %v; want %s", again.ReplicaID(), err, next.ReplicaID())
	}
	if st := r.Stats(); st.ModelHits != 0 || st.ModelMisses != 5 {
		t.Fatalf("Stats = %+v; want 5 misses (none of them known to have the model)", st)
	}

	// Another model is not drawn to the same replica by it.
	other := map[string]bool{}
	for i := 0; i < 40 && len(other) < 2; i++ {
		r2 := newRouter(t, seeded(uint64(i)), rep{id: "b", max: 3}, rep{id: "c", max: 3})
		p1, _ := r2.Pick("one")
		p2, _ := r2.Pick("two")
		other[p1.ReplicaID()+p2.ReplicaID()] = true
	}
	if len(other) < 2 {
		t.Fatalf("two models always placed alike: %v", other)
	}
}

// TestPlacementClearedByUpdate: after Update the replicas' reported model
// lists decide, not the remembered placement.
func TestPlacementClearedByUpdate(t *testing.T) {
	r := newRouter(t, seeded(2), rep{id: "b", max: 5}, rep{id: "c", max: 5})
	first, err := r.Pick("new")
	if err != nil {
		t.Fatal(err)
	}
	other := "b"
	if first.ReplicaID() == "b" {
		other = "c"
	}
	first.Done()
	// The controller reports the model loaded on the other replica.
	if err := r.Update([]Replica{{ID: "b", MaxOngoing: 5, Models: modelsIf(other == "b")}, {ID: "c", MaxOngoing: 5, Models: modelsIf(other == "c")}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		tk, err := r.Pick("new")
		if err != nil || tk.ReplicaID() != other {
			t.Fatalf("after Update: %q, %v; want %s, which has the model", tk.ReplicaID(), err, other)
		}
	}
}

func modelsIf(ok bool) []string {
	if ok {
		return []string{"new"}
	}
	return nil
}

// TestPlacementOnFullModelTier: overflow from busy replicas with the model
// also sticks to one replica rather than loading it everywhere.
func TestPlacementOnFullModelTier(t *testing.T) {
	r := newRouter(t, seeded(4),
		rep{id: "a", max: 1, models: []string{"m"}, count: 1},
		rep{id: "b", max: 5},
		rep{id: "c", max: 5},
		rep{id: "d", max: 5},
	)
	first, err := r.Pick("m")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		tk, err := r.Pick("m")
		if err != nil || tk.ReplicaID() != first.ReplicaID() {
			t.Fatalf("overflow %d: %q, %v; want %s", i, tk.ReplicaID(), err, first.ReplicaID())
		}
	}
	// The replica with the model frees up: it is preferred again.
	setCount(t, r, "a", 0)
	if tk, err := r.Pick("m"); err != nil || tk.ReplicaID() != "a" {
		t.Fatalf("a has room again: %q, %v; want a", tk.ReplicaID(), err)
	}
}
