package router

import (
	"errors"
	"strings"
	"testing"
)

func TestUpdateKeepsCounts(t *testing.T) {
	r := newRouter(t, seeded(1), rep{id: "a", max: 5, count: 3}, rep{id: "b", max: 5, count: 0})
	if err := r.Update([]Replica{{ID: "a", MaxOngoing: 7}, {ID: "c", MaxOngoing: 5}}); err != nil {
		t.Fatal(err)
	}
	got, total := counts(r)
	want := map[string]int{"a": 3, "c": 0}
	if len(got) != len(want) || got["a"] != 3 || got["c"] != 0 || total != 3 {
		t.Fatalf("Ongoing = %v (total %d), want %v (b removed with nothing in flight)", got, total, want)
	}
	if r.Len() != 2 {
		t.Fatalf("Len = %d, want 2", r.Len())
	}
	// The new MaxOngoing applies: a can take 4 more.
	setCount(t, r, "c", 5)
	for i := 0; i < 4; i++ {
		if tk, err := r.Pick(""); err != nil || tk.ReplicaID() != "a" {
			t.Fatalf("pick %d: %q, %v; want a", i, tk.ReplicaID(), err)
		}
	}
	if _, err := r.Pick(""); !errors.Is(err, ErrNoCapacity) {
		t.Fatalf("Pick with a at its new max: %v, want ErrNoCapacity", err)
	}
}

func TestUpdateRemovesWithRequestsInFlight(t *testing.T) {
	r := newRouter(t, seeded(1), rep{id: "a", max: 5}, rep{id: "b", max: 5})
	var held []*Ticket
	for len(held) < 6 {
		tk := new(Ticket)
		var err error
		*tk, err = r.Pick("")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, tk)
	}
	onB := 0
	for _, tk := range held {
		if tk.ReplicaID() == "b" {
			onB++
		}
	}
	if onB == 0 || onB == 6 {
		t.Fatalf("seeded picks put %d of 6 on b; want a mix", onB)
	}

	if err := r.Update([]Replica{{ID: "a", MaxOngoing: 5}}); err != nil {
		t.Fatal(err)
	}
	got, total := counts(r)
	if total != 6 || got["b"] != onB || got["a"] != 6-onB {
		t.Fatalf("after removing b: Ongoing = %v (total %d), want b still draining %d", got, total, onB)
	}
	for i := 0; i < 20; i++ {
		tk, err := r.Pick("")
		if err != nil {
			break
		}
		if tk.ReplicaID() == "b" {
			t.Fatal("picked a removed replica")
		}
		tk.Done()
	}

	// End b's requests twice over: counts stop at zero, and b is forgotten.
	for _, tk := range held {
		if tk.ReplicaID() == "b" {
			tk.Done()
			tk.Done()
		}
	}
	got, total = counts(r)
	if _, ok := got["b"]; ok || total != 6-onB {
		t.Fatalf("after b drained: Ongoing = %v (total %d), want b gone", got, total)
	}
	for _, tk := range held {
		tk.Done()
	}
	if _, total = counts(r); total != 0 {
		t.Fatalf("total after all Done = %d", total)
	}
}

func TestUpdateReaddWhileDraining(t *testing.T) {
	r := newRouter(t, seeded(1), rep{id: "a", max: 2})
	tk, err := r.Pick("")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Update(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Pick(""); !errors.Is(err, ErrNoReplicas) {
		t.Fatalf("Pick with no replicas: %v", err)
	}
	// a comes back while its request runs: it keeps the count, so the limit
	// still counts that request.
	if err := r.Update([]Replica{{ID: "a", MaxOngoing: 2}}); err != nil {
		t.Fatal(err)
	}
	if c := count(t, r, "a"); c != 1 {
		t.Fatalf("re-added a has %d in flight, want 1", c)
	}
	tk2, err := r.Pick("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Pick(""); !errors.Is(err, ErrNoCapacity) {
		t.Fatalf("third request on a (max 2): %v, want ErrNoCapacity", err)
	}
	tk.Done()
	tk2.Done()
	if c := count(t, r, "a"); c != 0 {
		t.Fatalf("count after both Done = %d", c)
	}
}

func TestUpdateReaddAfterDrained(t *testing.T) {
	r := newRouter(t, seeded(1), rep{id: "a", max: 2})
	old, err := r.Pick("")
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Update(nil)
	old.Done() // drained while removed
	_ = r.Update(nil)
	if err := r.Update([]Replica{{ID: "a", MaxOngoing: 2}}); err != nil {
		t.Fatal(err)
	}
	old.Done()
	if c := count(t, r, "a"); c != 0 {
		t.Fatalf("fresh a has %d in flight, want 0", c)
	}
}

func TestUpdateLowersMax(t *testing.T) {
	r := newRouter(t, seeded(1), rep{id: "a", max: 5, count: 3})
	if err := r.Update([]Replica{{ID: "a", MaxOngoing: 2}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Pick(""); !errors.Is(err, ErrNoCapacity) {
		t.Fatalf("3 in flight, max lowered to 2: %v, want ErrNoCapacity", err)
	}
	setCount(t, r, "a", 1)
	if _, err := r.Pick(""); err != nil {
		t.Fatalf("after draining to 1: %v", err)
	}
}

func TestUpdateModels(t *testing.T) {
	r := newRouter(t, seeded(1), rep{id: "a", max: 5}, rep{id: "b", max: 5})
	if err := r.Update([]Replica{{ID: "a", MaxOngoing: 5}, {ID: "b", MaxOngoing: 5, Models: []string{"m", "m"}}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		tk, err := r.Pick("m")
		if err != nil || tk.ReplicaID() != "b" {
			t.Fatalf("Pick(m) = %q, %v; want b, which loaded m", tk.ReplicaID(), err)
		}
	}
	if st := r.Stats(); st.ModelHits != 5 || st.ModelMisses != 0 {
		t.Fatalf("Stats = %+v", st)
	}
	tk, err := r.Pick("m")
	if err != nil || tk.ReplicaID() != "a" {
		t.Fatalf("b full: Pick(m) = %q, %v; want a", tk.ReplicaID(), err)
	}
	if st := r.Stats(); st.ModelMisses != 1 {
		t.Fatalf("Stats = %+v, want one miss", st)
	}
}

func TestUpdateRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		reps []Replica
		want string
	}{
		{"empty ID", []Replica{{ID: "a", MaxOngoing: 1}, {MaxOngoing: 1}}, "replicas[1].ID is empty"},
		{"duplicate ID", []Replica{{ID: "a", MaxOngoing: 1}, {ID: "a", MaxOngoing: 1}}, `replicas[1].ID "a" appears twice`},
		{"zero max", []Replica{{ID: "a"}}, "MaxOngoing is 0"},
		{"negative max", []Replica{{ID: "a", MaxOngoing: -3}}, "MaxOngoing is -3"},
		{"empty model", []Replica{{ID: "a", MaxOngoing: 1, Models: []string{"m", ""}}}, "Models[1] is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRouter(t, seeded(1), rep{id: "keep", max: 1})
			ch := r.Changed()
			err := r.Update(tt.reps)
			if !errors.Is(err, ErrInvalidReplica) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Update error = %v, want ErrInvalidReplica mentioning %q", err, tt.want)
			}
			if r.Len() != 1 {
				t.Fatalf("a refused Update changed the set: Len = %d", r.Len())
			}
			select {
			case <-ch:
				t.Fatal("a refused Update closed Changed")
			default:
			}
		})
	}
}

func TestChanged(t *testing.T) {
	r := New(Options{Rand: seeded(1)})
	ch := r.Changed()
	if _, err := r.Pick(""); !errors.Is(err, ErrNoReplicas) {
		t.Fatalf("empty router: %v", err)
	}
	select {
	case <-ch:
		t.Fatal("closed before any Update")
	default:
	}
	if err := r.Update([]Replica{{ID: "a", MaxOngoing: 1}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	default:
		t.Fatal("Update did not close Changed")
	}
	if r.Changed() == ch {
		t.Fatal("Changed after Update returns the closed channel")
	}
	if _, err := r.Pick(""); err != nil {
		t.Fatal(err)
	}
}
