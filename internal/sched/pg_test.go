package sched

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestParsePGStrategy(t *testing.T) {
	valid := map[string]PGStrategy{
		"PACK": PGPack, "pack": PGPack, " Pack ": PGPack,
		"SPREAD": PGSpread, "spread": PGSpread,
		"STRICT_PACK": PGStrictPack, "strict_pack": PGStrictPack,
		"STRICT_SPREAD": PGStrictSpread, "Strict_Spread": PGStrictSpread,
	}
	for in, want := range valid {
		got, err := ParsePGStrategy(in)
		if err != nil || got != want {
			t.Errorf("ParsePGStrategy(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "STRICT-PACK", "STRICTPACK", "packed", "STRICT_", "DEFAULT"} {
		if _, err := ParsePGStrategy(in); !errors.Is(err, ErrInvalidPGStrategy) {
			t.Errorf("ParsePGStrategy(%q): err = %v, want ErrInvalidPGStrategy", in, err)
		}
	}
	for s, want := range map[PGStrategy]string{PGPack: "PACK", PGSpread: "SPREAD", PGStrictPack: "STRICT_PACK", PGStrictSpread: "STRICT_SPREAD", 7: "PGStrategy(7)", -1: "PGStrategy(-1)"} {
		if got := s.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(s), got, want)
		}
		if s >= PGPack && s <= PGStrictSpread {
			if back, err := ParsePGStrategy(s.String()); err != nil || back != s {
				t.Errorf("round trip of %v: %v, %v", s, back, err)
			}
		}
	}
}

func cpus(ns ...float64) []Resources {
	out := make([]Resources, len(ns))
	for i, n := range ns {
		out[i] = cpu(n)
	}
	return out
}

// three returns three idle 4-CPU nodes in scrambled input order.
func three() []NodeView {
	return []NodeView{node("b", 4, 4), node("c", 4, 4), node("a", 4, 4)}
}

func TestPlaceBundles(t *testing.T) {
	dead := func(ns []NodeView, id string) []NodeView {
		for i := range ns {
			if ns[i].ID == id {
				ns[i].Alive = false
			}
		}
		return ns
	}
	drain := func(ns []NodeView, id string) []NodeView {
		for i := range ns {
			if ns[i].ID == id {
				ns[i].Draining = true
			}
		}
		return ns
	}
	gpuNode := func(id string, c, g float64) NodeView {
		return NodeView{ID: id, Alive: true,
			Total:     Resources{"CPU": int64(c * Unit), "GPU": int64(g * Unit)},
			Available: Resources{"CPU": int64(c * Unit), "GPU": int64(g * Unit)}}
	}

	tests := []struct {
		name           string
		bundles        []Resources
		strategy       PGStrategy
		nodes          []NodeView
		want           []string // nil: not placed
		wantInfeasible bool
	}{
		// PACK
		{"pack: all on one node", cpus(1, 1, 1), PGPack, three(), []string{"a", "a", "a"}, false},
		{"pack: fills one node then the next", cpus(2, 2, 2), PGPack, three(), []string{"a", "a", "b"}, false},
		{"pack: one bundle per node when each fills a node", cpus(3, 3, 3), PGPack, three(), []string{"a", "b", "c"}, false},
		{"pack: least loaded node first", cpus(1, 1), PGPack,
			[]NodeView{node("a", 4, 2), node("b", 4, 4), node("c", 4, 4)}, []string{"b", "b"}, false},
		{"pack: prefers the node that holds everything over a less loaded one", cpus(2, 2), PGPack,
			[]NodeView{node("a", 4, 3), node("b", 16, 8), node("c", 4, 1)}, []string{"b", "b"}, false},
		{"pack: skips dead node", cpus(1, 1), PGPack, dead(three(), "a"), []string{"b", "b"}, false},
		{"pack: bundle bigger than every node is infeasible", cpus(1, 5), PGPack, three(), nil, true},
		{"pack: sum bigger than the cluster is infeasible", cpus(3, 3, 3, 3), PGPack, three(), nil, true},
		{"pack: all or nothing when one bundle cannot fit now", cpus(1, 1, 3), PGPack,
			[]NodeView{node("a", 4, 2), node("b", 4, 2), node("c", 4, 2)}, nil, false},

		// SPREAD
		{"spread: one per node", cpus(1, 1, 1), PGSpread, three(), []string{"a", "b", "c"}, false},
		{"spread: reuses nodes when bundles outnumber them", cpus(1, 1, 1, 1, 1), PGSpread, three(), []string{"a", "b", "c", "a", "b"}, false},
		{"spread: reuses when a node is busy", cpus(1, 1, 1), PGSpread,
			[]NodeView{node("a", 4, 0), node("b", 4, 4), node("c", 4, 4)}, []string{"b", "c", "b"}, false},
		{"spread: least loaded first", cpus(1, 1), PGSpread,
			[]NodeView{node("a", 4, 2), node("b", 4, 3), node("c", 4, 4)}, []string{"c", "b"}, false},
		{"spread: largest bundle placed first", cpus(1, 4, 1), PGSpread, three(), []string{"b", "a", "c"}, false},
		{"spread: skips draining node", cpus(1, 1, 1), PGSpread, drain(three(), "b"), []string{"a", "c", "a"}, false},
		{"spread: all or nothing when one bundle cannot fit now", cpus(1, 1, 3), PGSpread,
			[]NodeView{node("a", 4, 2), node("b", 4, 2), node("c", 4, 2)}, nil, false},
		{"spread: bundle bigger than every node is infeasible", cpus(1, 5), PGSpread, three(), nil, true},

		// STRICT_PACK
		{"strict pack: all on one node", cpus(1, 2, 1), PGStrictPack, three(), []string{"a", "a", "a"}, false},
		{"strict pack: least loaded node that fits", cpus(1, 1), PGStrictPack,
			[]NodeView{node("a", 4, 2), node("b", 8, 8), node("c", 4, 4)}, []string{"b", "b"}, false},
		{"strict pack: sum exceeds every node is infeasible", cpus(2, 2, 1), PGStrictPack, three(), nil, true},
		{"strict pack: fits a total but no node now", cpus(2, 2), PGStrictPack,
			[]NodeView{node("a", 4, 3), node("b", 4, 2), node("c", 4, 3)}, nil, false},
		{"strict pack: only dead node could hold it: infeasible", cpus(4, 4), PGStrictPack,
			dead([]NodeView{node("a", 4, 4), node("b", 4, 4), node("c", 8, 8)}, "c"), nil, true},

		// STRICT_SPREAD
		{"strict spread: one per node", cpus(1, 1, 1), PGStrictSpread, three(), []string{"a", "b", "c"}, false},
		{"strict spread: more bundles than nodes is infeasible", cpus(1, 1, 1, 1), PGStrictSpread, three(), nil, true},
		{"strict spread: too few alive nodes is infeasible", cpus(1, 1, 1), PGStrictSpread, dead(three(), "c"), nil, true},
		{"strict spread: too few non-draining nodes is infeasible", cpus(1, 1, 1), PGStrictSpread, drain(three(), "a"), nil, true},
		{"strict spread: all or nothing when one node is busy", cpus(1, 1, 1), PGStrictSpread,
			[]NodeView{node("a", 4, 4), node("b", 4, 0), node("c", 4, 4)}, nil, false},
		{"strict spread: avoids the busy node when it can", cpus(1, 1), PGStrictSpread,
			[]NodeView{node("a", 4, 4), node("b", 4, 0), node("c", 4, 4)}, []string{"a", "c"}, false},
		{"strict spread: moves a bundle to make room (matching)",
			[]Resources{{"GPU": Unit}, cpu(3), cpu(1)}, PGStrictSpread,
			[]NodeView{gpuNode("a", 4, 1), gpuNode("b", 1, 1), node("c", 1, 1)}, []string{"b", "a", "c"}, false},
		{"strict spread: two bundles need the only big node: infeasible",
			[]Resources{{"GPU": Unit}, cpu(3)}, PGStrictSpread,
			[]NodeView{gpuNode("a", 4, 1), node("b", 2, 2), node("c", 2, 2)}, nil, true},

		// Edge cases
		{"no bundles", nil, PGStrictSpread, three(), []string{}, false},
		{"no nodes", cpus(1), PGPack, nil, nil, true},
		{"empty bundles fit anywhere", []Resources{{}, {}}, PGStrictSpread, three(), []string{"a", "b"}, false},
		{"unknown strategy", cpus(1), PGStrategy(9), three(), nil, true},
		{"custom resource only on one node", []Resources{{"special": Unit}, cpu(1)}, PGSpread,
			[]NodeView{node("a", 4, 4), {ID: "b", Alive: true, Total: Resources{"special": Unit}, Available: Resources{"special": Unit}}, node("c", 4, 4)},
			[]string{"b", "a"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantNodes, wantBundles := tt.nodes, cloneBundles(tt.bundles)
			if tt.nodes != nil {
				wantNodes = cloneNodes(tt.nodes)
			}
			got, ok, infeasible := PlaceBundles(tt.bundles, tt.strategy, tt.nodes, nil)
			if ok != (tt.want != nil) || infeasible != tt.wantInfeasible || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v ok=%v infeasible=%v; want %v ok=%v infeasible=%v",
					got, ok, infeasible, tt.want, tt.want != nil, tt.wantInfeasible)
			}
			if ok {
				if err := checkPlacement(tt.bundles, tt.strategy, tt.nodes, got); err != nil {
					t.Fatal(err)
				}
			}
			if !reflect.DeepEqual(tt.nodes, wantNodes) || !reflect.DeepEqual(tt.bundles, wantBundles) {
				t.Fatalf("inputs mutated: nodes %+v bundles %v", tt.nodes, tt.bundles)
			}
			// A seeded rnd may break ties differently but must agree on the outcome.
			for seed := range uint64(5) {
				a, ok2, inf2 := PlaceBundles(tt.bundles, tt.strategy, tt.nodes, seeded(seed))
				if ok2 != ok || inf2 != infeasible {
					t.Fatalf("seed %d: ok=%v infeasible=%v, nil rnd gave ok=%v infeasible=%v", seed, ok2, inf2, ok, infeasible)
				}
				if ok2 {
					if err := checkPlacement(tt.bundles, tt.strategy, tt.nodes, a); err != nil {
						t.Fatalf("seed %d: %v", seed, err)
					}
				}
			}
		})
	}
}

func cloneBundles(bs []Resources) []Resources {
	if bs == nil {
		return nil
	}
	out := make([]Resources, len(bs))
	for i, b := range bs {
		out[i] = b.Clone()
	}
	return out
}

// checkPlacement verifies that assign is a valid placement of bundles.
func checkPlacement(bundles []Resources, strategy PGStrategy, nodes []NodeView, assign []string) error {
	if len(assign) != len(bundles) {
		return fmt.Errorf("assignment %v has %d entries for %d bundles", assign, len(assign), len(bundles))
	}
	byID := map[string]*NodeView{}
	for i := range nodes {
		byID[nodes[i].ID] = &nodes[i]
	}
	used := map[string]Resources{}
	for i, id := range assign {
		n := byID[id]
		if n == nil || !n.Alive || n.Draining {
			return fmt.Errorf("bundle %d on unusable node %q", i, id)
		}
		if used[id] == nil {
			used[id] = Resources{}
		}
		used[id].Add(bundles[i])
	}
	for id, u := range used {
		if !u.FitsIn(byID[id].Available) {
			return fmt.Errorf("node %s oversubscribed: %v > %v", id, u, byID[id].Available)
		}
	}
	switch {
	case strategy == PGStrictPack && len(used) > 1:
		return fmt.Errorf("STRICT_PACK used %d nodes: %v", len(used), assign)
	case strategy == PGStrictSpread && len(used) != len(bundles):
		return fmt.Errorf("STRICT_SPREAD reused a node: %v", assign)
	}
	return nil
}

// Greedy first fit fails here (5+4 on one node, then 4+3+2 leaves a 2 over);
// PACK's search must still find 5+3+2 / 4+4+2.
func TestPlaceBundlesPackSearchesWhenGreedyFails(t *testing.T) {
	nodes := []NodeView{node("a", 10, 10), node("b", 10, 10), node("c", 10, 0)}
	bundles := cpus(5, 4, 4, 3, 2, 2)
	for _, st := range []PGStrategy{PGPack, PGSpread} {
		got, ok, infeasible := PlaceBundles(bundles, st, nodes, nil)
		if !ok || infeasible {
			t.Fatalf("%v: got %v ok=%v infeasible=%v", st, got, ok, infeasible)
		}
		if err := checkPlacement(bundles, st, nodes, got); err != nil {
			t.Fatalf("%v: %v", st, err)
		}
	}
	// One more CPU and it cannot fit now, but could on the idle cluster.
	more := append(cloneBundles(bundles), cpu(1))
	if got, ok, infeasible := PlaceBundles(more, PGPack, nodes, nil); ok || infeasible || got != nil {
		t.Fatalf("got %v ok=%v infeasible=%v, want not placeable now but feasible", got, ok, infeasible)
	}
}

func TestPlaceBundlesDeterminism(t *testing.T) {
	bundles := cpus(1, 1)
	for _, st := range []PGStrategy{PGPack, PGSpread, PGStrictPack, PGStrictSpread} {
		// Input order does not matter with a nil rnd.
		nodes := three()
		rev := []NodeView{nodes[2], nodes[1], nodes[0]}
		a, _, _ := PlaceBundles(bundles, st, nodes, nil)
		b, _, _ := PlaceBundles(bundles, st, rev, nil)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%v: node order changed the result: %v vs %v", st, a, b)
		}
		// Same seed, same result.
		for seed := range uint64(10) {
			x, _, _ := PlaceBundles(bundles, st, nodes, seeded(seed))
			y, _, _ := PlaceBundles(bundles, st, nodes, seeded(seed))
			if !reflect.DeepEqual(x, y) {
				t.Fatalf("%v seed %d: %v vs %v", st, seed, x, y)
			}
		}
	}
	// rnd breaks ties among equally loaded nodes, and only among them.
	seen := map[string]bool{}
	nodes := []NodeView{node("a", 4, 4), node("b", 4, 4), node("c", 4, 4), node("d", 4, 1)}
	for seed := range uint64(200) {
		got, ok, _ := PlaceBundles(cpus(1), PGPack, nodes, seeded(seed))
		if !ok {
			t.Fatal("not placed")
		}
		seen[got[0]] = true
	}
	if want := map[string]bool{"a": true, "b": true, "c": true}; !reflect.DeepEqual(seen, want) {
		t.Fatalf("over 200 seeds placed on %v, want each of %v", seen, want)
	}
}

// TestPlaceBundlesMatchesBruteForce checks ok and infeasible against an
// exhaustive search on many small random clusters: for these sizes the
// placement is exact (never gives up on a placeable group, never calls a
// feasible one infeasible).
func TestPlaceBundlesMatchesBruteForce(t *testing.T) {
	rnd := seeded(99)
	for iter := range 3000 {
		nn := 1 + rnd.IntN(3)
		nb := 1 + rnd.IntN(5)
		var nodes []NodeView
		for i := range nn {
			total := Resources{"CPU": int64(1+rnd.IntN(6)) * Unit}
			if rnd.IntN(3) == 0 {
				total["GPU"] = int64(1+rnd.IntN(2)) * Unit
			}
			avail := Resources{}
			for k, v := range total {
				avail[k] = v - int64(rnd.IntN(int(v/Unit)+1))*Unit
			}
			nodes = append(nodes, NodeView{ID: string(rune('a' + i)), Total: total, Available: avail,
				Alive: rnd.IntN(8) != 0, Draining: rnd.IntN(10) == 0})
		}
		var bundles []Resources
		for range nb {
			b := Resources{"CPU": int64(rnd.IntN(4)) * Unit}
			if rnd.IntN(4) == 0 {
				b["GPU"] = Unit
			}
			bundles = append(bundles, b)
		}
		for _, st := range []PGStrategy{PGPack, PGSpread, PGStrictPack, PGStrictSpread} {
			got, ok, infeasible := PlaceBundles(bundles, st, nodes, seeded(uint64(iter)))
			wantOK := bruteForce(bundles, st, nodes, func(n NodeView) Resources { return n.Available })
			wantInf := !wantOK && !bruteForce(bundles, st, nodes, func(n NodeView) Resources { return n.Total })
			if ok != wantOK || infeasible != wantInf {
				t.Fatalf("iter %d %v: bundles %v nodes %+v: got %v ok=%v infeasible=%v, want ok=%v infeasible=%v",
					iter, st, bundles, nodes, got, ok, infeasible, wantOK, wantInf)
			}
			if ok {
				if err := checkPlacement(bundles, st, nodes, got); err != nil {
					t.Fatalf("iter %d %v: %v", iter, st, err)
				}
			}
		}
	}
}

// bruteForce reports whether any assignment of bundles to usable nodes
// satisfies strategy's hard constraints within capacity.
func bruteForce(bundles []Resources, st PGStrategy, nodes []NodeView, capacity func(NodeView) Resources) bool {
	var usable []NodeView
	for _, n := range nodes {
		if n.Alive && !n.Draining {
			usable = append(usable, n)
		}
	}
	if len(usable) == 0 {
		return false
	}
	assign := make([]int, len(bundles))
	var try func(i int) bool
	try = func(i int) bool {
		if i == len(bundles) {
			used := map[int]Resources{}
			for b, n := range assign {
				if used[n] == nil {
					used[n] = Resources{}
				}
				used[n].Add(bundles[b])
			}
			if st == PGStrictPack && len(used) > 1 || st == PGStrictSpread && len(used) != len(bundles) {
				return false
			}
			for n, u := range used {
				if !u.FitsIn(capacity(usable[n])) {
					return false
				}
			}
			return true
		}
		for n := range usable {
			assign[i] = n
			if try(i + 1) {
				return true
			}
		}
		return false
	}
	return try(0)
}

func TestPlaceBundlesDoesNotMutateInputs(t *testing.T) {
	nodes := []NodeView{
		{ID: "c", Total: cpu(4), Available: cpu(1), Alive: true, Labels: map[string]string{"zone": "x"}},
		{ID: "a", Total: Resources{"CPU": 4 * Unit, "GPU": Unit}, Available: Resources{"CPU": 4 * Unit, "GPU": 0}, Alive: true},
		{ID: "b", Total: cpu(4), Available: cpu(4), Alive: false},
		{ID: "d", Total: cpu(8), Available: cpu(8), Alive: true, Draining: true},
		{ID: "e", Total: cpu(4), Available: cpu(4), Alive: true},
	}
	bundleSets := [][]Resources{cpus(1, 1), cpus(2, 2, 2), {{"CPU": Unit, "GPU": Unit}}, cpus(100), {{"CPU": 0, "x": -Unit}}, cpus(5, 4, 4, 3, 2, 2)}
	wantNodes := cloneNodes(nodes)
	for _, bs := range bundleSets {
		wantBundles := cloneBundles(bs)
		for _, st := range []PGStrategy{PGPack, PGSpread, PGStrictPack, PGStrictSpread} {
			PlaceBundles(bs, st, nodes, seeded(1))
			PlaceBundles(bs, st, nodes, nil)
			if !reflect.DeepEqual(nodes, wantNodes) {
				t.Fatalf("%v mutated nodes: %+v", st, nodes)
			}
			if !reflect.DeepEqual(bs, wantBundles) {
				t.Fatalf("%v mutated bundles: %v", st, bs)
			}
		}
	}
}

// Twelve 5-CPU nodes hold at most 24 two-CPU bundles, but 25 pass the cheap
// checks (each fits a node, 50 CPUs in all) and distinct memory amounts
// defeat the symmetry pruning, so the search runs out of work. The answer
// must then be conservative: not placeable now, yet not infeasible.
func TestPlaceBundlesSearchGivesUpConservatively(t *testing.T) {
	var nodes []NodeView
	for i := range 12 {
		r := Resources{"CPU": 5 * Unit, "mem": int64(100+i) * Unit}
		nodes = append(nodes, NodeView{ID: fmt.Sprintf("n%02d", i), Total: r, Available: r.Clone(), Alive: true})
	}
	bundles := make([]Resources, 25)
	for i := range bundles {
		bundles[i] = Resources{"CPU": 2 * Unit, "mem": Unit}
	}
	for _, st := range []PGStrategy{PGPack, PGSpread} {
		if got, ok, infeasible := PlaceBundles(bundles, st, nodes, nil); ok || infeasible {
			t.Fatalf("%v: got %v ok=%v infeasible=%v, want ok=false infeasible=false", st, got, ok, infeasible)
		}
		// One bundle fewer fits exactly: two per node.
		got, ok, _ := PlaceBundles(bundles[1:], st, nodes, nil)
		if !ok {
			t.Fatalf("%v: 24 bundles not placed", st)
		}
		if err := checkPlacement(bundles[1:], st, nodes, got); err != nil {
			t.Fatal(err)
		}
	}
}
