package sched

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

// cpu builds a Resources with the given whole/fractional CPU count.
func cpu(n float64) Resources { return Resources{"CPU": int64(n * Unit)} }

// node builds an alive node with total and available CPU.
func node(id string, total, avail float64) NodeView {
	return NodeView{ID: id, Total: cpu(total), Available: cpu(avail), Alive: true}
}

func seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }

func TestPick(t *testing.T) {
	dead := node("a", 8, 8)
	dead.Alive = false
	draining := node("a", 8, 8)
	draining.Draining = true
	special := node("b", 4, 4)
	special.Total["special"] = Unit
	special.Available["special"] = Unit

	tests := []struct {
		name  string
		req   Resources
		nodes []NodeView
		local string
		strat Strategy
		opts  Options
		want  Decision
	}{
		{
			name:  "packs on local under 50% utilization",
			req:   cpu(1),
			nodes: []NodeView{node("a", 4, 4), node("b", 4, 4), node("c", 4, 4)},
			local: "b", // 1/4 after placing
			want:  Decision{Place, "b"},
		},
		{
			name:  "reaching exactly the threshold stops packing",
			req:   cpu(1),
			nodes: []NodeView{node("a", 4, 4), node("b", 4, 3), node("c", 4, 4)},
			local: "b", // (1+1)/4 = 0.5 is not below 0.5, so idle "a" wins
			want:  Decision{Place, "a"},
		},
		{
			name:  "packs on local even when others are emptier",
			req:   cpu(1),
			nodes: []NodeView{node("a", 8, 8), node("b", 8, 6), node("c", 8, 8)},
			local: "b", // (2+1)/8 = 0.375 < 0.5 → score 0, local wins
			want:  Decision{Place, "b"},
		},
		{
			name:  "spreads past threshold to least loaded",
			req:   cpu(1),
			nodes: []NodeView{node("a", 8, 2), node("b", 8, 4), node("c", 8, 8)},
			local: "b", // local: 5/8 ≥ 0.5; a: 7/8; c: 1/8 → 0
			want:  Decision{Place, "c"},
		},
		{
			name:  "above threshold everywhere picks lowest score",
			req:   cpu(1),
			nodes: []NodeView{node("a", 4, 2), node("b", 4, 1), node("c", 4, 3)},
			local: "b", // a: 3/4, b: 4/4, c: 2/4
			want:  Decision{Place, "c"},
		},
		{
			name:  "local not in view: first by ID among zero scores",
			req:   cpu(1),
			nodes: []NodeView{node("c", 8, 8), node("b", 8, 8), node("a", 8, 8)},
			local: "z",
			want:  Decision{Place, "a"},
		},
		{
			name:  "custom resource goes only to the node that has it",
			req:   Resources{"CPU": Unit, "special": Unit},
			nodes: []NodeView{node("a", 4, 4), special, node("c", 4, 4)},
			local: "a",
			want:  Decision{Place, "b"},
		},
		{
			name:  "custom resource busy queues on its holder",
			req:   Resources{"special": 2 * Unit},
			nodes: []NodeView{node("a", 4, 4), {ID: "b", Alive: true, Total: Resources{"special": 2 * Unit}, Available: Resources{"special": Unit}}},
			local: "a",
			want:  Decision{Queue, "b"},
		},
		{
			name:  "queue on local when everything is busy",
			req:   cpu(2),
			nodes: []NodeView{node("a", 4, 0), node("b", 4, 1), node("c", 4, 0)},
			local: "b",
			want:  Decision{Queue, "b"},
		},
		{
			name:  "queue on least loaded feasible node when local cannot ever fit",
			req:   cpu(4),
			nodes: []NodeView{node("a", 1, 1), node("b", 8, 0), node("c", 8, 1)},
			local: "a", // b: 12/8, c: 11/8
			want:  Decision{Queue, "c"},
		},
		{
			name:  "infeasible when no total fits",
			req:   cpu(16),
			nodes: []NodeView{node("a", 8, 8), node("b", 8, 8)},
			local: "a",
			want:  Decision{Infeasible, ""},
		},
		{
			name:  "infeasible with no nodes",
			req:   cpu(1),
			local: "a",
			want:  Decision{Infeasible, ""},
		},
		{
			name:  "dead local is skipped",
			req:   cpu(1),
			nodes: []NodeView{dead, node("b", 4, 4)},
			local: "a",
			want:  Decision{Place, "b"},
		},
		{
			name:  "draining local is skipped",
			req:   cpu(1),
			nodes: []NodeView{draining, node("b", 4, 4)},
			local: "a",
			want:  Decision{Place, "b"},
		},
		{
			name:  "only dead or draining nodes fit: infeasible",
			req:   cpu(6),
			nodes: []NodeView{draining, func() NodeView { n := node("c", 8, 8); n.Alive = false; return n }(), node("b", 4, 4)},
			local: "b",
			want:  Decision{Infeasible, ""},
		},
		{
			name:  "empty request scores on all resources and packs on local",
			req:   Resources{},
			nodes: []NodeView{node("a", 4, 4), node("b", 4, 3)},
			local: "b",
			want:  Decision{Place, "b"},
		},
		{
			name:  "custom threshold disables packing",
			req:   cpu(1),
			nodes: []NodeView{node("a", 8, 8), node("b", 8, 6)},
			local: "b",
			opts:  Options{SpreadThreshold: 0.1}, // b: 3/8, a: 1/8
			want:  Decision{Place, "a"},
		},
		{
			name:  "hard affinity places on target",
			req:   cpu(1),
			nodes: []NodeView{node("a", 8, 8), node("b", 8, 1)},
			local: "a",
			strat: Strategy{Kind: StrategyNodeAffinity, NodeID: "b"},
			want:  Decision{Place, "b"},
		},
		{
			name:  "hard affinity queues on busy target",
			req:   cpu(2),
			nodes: []NodeView{node("a", 8, 8), node("b", 8, 1)},
			local: "a",
			strat: Strategy{Kind: StrategyNodeAffinity, NodeID: "b"},
			want:  Decision{Queue, "b"},
		},
		{
			name:  "soft affinity queues on busy target rather than moving",
			req:   cpu(2),
			nodes: []NodeView{node("a", 8, 8), node("b", 8, 1)},
			local: "a",
			strat: Strategy{Kind: StrategyNodeAffinity, NodeID: "b", Soft: true},
			want:  Decision{Queue, "b"},
		},
		{
			name:  "hard affinity to dead node is unschedulable",
			req:   cpu(1),
			nodes: []NodeView{dead, node("b", 8, 8)},
			local: "b",
			strat: Strategy{Kind: StrategyNodeAffinity, NodeID: "a"},
			want:  Decision{Unschedulable, "a"},
		},
		{
			name:  "hard affinity to draining node is infeasible",
			req:   cpu(1),
			nodes: []NodeView{draining, node("b", 8, 8)},
			local: "b",
			strat: Strategy{Kind: StrategyNodeAffinity, NodeID: "a"},
			want:  Decision{Infeasible, ""},
		},
		{
			name:  "hard affinity to unknown node is unschedulable",
			req:   cpu(1),
			nodes: []NodeView{node("b", 8, 8)},
			local: "b",
			strat: Strategy{Kind: StrategyNodeAffinity, NodeID: "nope"},
			want:  Decision{Unschedulable, "nope"},
		},
		{
			name:  "hard affinity to unknown node with a label selector is unschedulable",
			req:   cpu(1),
			nodes: []NodeView{node("b", 8, 8)},
			local: "b",
			strat: Strategy{Kind: StrategyNodeAffinity, NodeID: "nope", Labels: []LabelRequirement{{Key: "zone", Op: LabelExists}}},
			want:  Decision{Unschedulable, "nope"},
		},
		{
			name:  "hard affinity to too-small node is infeasible",
			req:   cpu(4),
			nodes: []NodeView{node("a", 2, 2), node("b", 8, 8)},
			local: "b",
			strat: Strategy{Kind: StrategyNodeAffinity, NodeID: "a"},
			want:  Decision{Infeasible, ""},
		},
		{
			name:  "soft affinity to dead node falls back to default",
			req:   cpu(1),
			nodes: []NodeView{dead, node("b", 8, 8), node("c", 8, 8)},
			local: "c",
			strat: Strategy{Kind: StrategyNodeAffinity, NodeID: "a", Soft: true},
			want:  Decision{Place, "c"},
		},
		{
			name:  "soft affinity to too-small node falls back to default",
			req:   cpu(4),
			nodes: []NodeView{node("a", 2, 2), node("b", 8, 8)},
			local: "a",
			strat: Strategy{Kind: StrategyNodeAffinity, NodeID: "a", Soft: true},
			want:  Decision{Place, "b"},
		},
		{
			name:  "soft affinity with nothing feasible is infeasible",
			req:   cpu(40),
			nodes: []NodeView{node("a", 2, 2), node("b", 8, 8)},
			local: "a",
			strat: Strategy{Kind: StrategyNodeAffinity, NodeID: "a", Soft: true},
			want:  Decision{Infeasible, ""},
		},
		{
			name:  "spread with all busy queues on local",
			req:   cpu(1),
			nodes: []NodeView{node("a", 4, 0), node("b", 4, 0)},
			local: "b",
			strat: Strategy{Kind: StrategySpread},
			want:  Decision{Queue, "b"},
		},
		{
			name:  "spread infeasible",
			req:   cpu(5),
			nodes: []NodeView{node("a", 4, 4), node("b", 4, 4)},
			local: "b",
			strat: Strategy{Kind: StrategySpread},
			want:  Decision{Infeasible, ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Several seeds: these cases must not depend on randomness.
			for seed := range uint64(5) {
				got, _ := Pick(tt.req, tt.nodes, tt.local, tt.strat, tt.opts, seeded(seed), 0)
				if got != tt.want {
					t.Fatalf("seed %d: got %+v, want %+v", seed, got, tt.want)
				}
			}
		})
	}
}

func TestPickSpreadRoundRobin(t *testing.T) {
	tests := []struct {
		name   string
		nodes  []NodeView
		cursor int
		want   []string
	}{
		{
			name:  "three idle nodes in ID order",
			nodes: []NodeView{node("c", 4, 4), node("a", 4, 4), node("b", 4, 4)},
			want:  []string{"a", "b", "c", "a", "b", "c"},
		},
		{
			name:  "busy node skipped",
			nodes: []NodeView{node("a", 4, 4), node("b", 4, 0), node("c", 4, 4)},
			want:  []string{"a", "c", "a", "c"},
		},
		{
			name:   "cursor past the end wraps",
			nodes:  []NodeView{node("a", 4, 4), node("b", 4, 4), node("c", 4, 4)},
			cursor: 7, // 7 % 3 = 1
			want:   []string{"b", "c", "a"},
		},
		{
			name:   "negative cursor wraps",
			nodes:  []NodeView{node("a", 4, 4), node("b", 4, 4), node("c", 4, 4)},
			cursor: -1,
			want:   []string{"c", "a", "b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cursor := tt.cursor
			for i, want := range tt.want {
				var d Decision
				d, cursor = Pick(cpu(1), tt.nodes, "a", Strategy{Kind: StrategySpread}, Options{}, seeded(1), cursor)
				if d != (Decision{Place, want}) {
					t.Fatalf("pick %d: got %+v, want Place on %s", i, d, want)
				}
			}
		})
	}
}

func TestPickSpreadCursorUnchangedWhenNotPlaced(t *testing.T) {
	nodes := []NodeView{node("a", 4, 0)}
	if d, c := Pick(cpu(1), nodes, "a", Strategy{Kind: StrategySpread}, Options{}, nil, 5); d.Outcome != Queue || c != 5 {
		t.Fatalf("got %+v cursor %d", d, c)
	}
	if _, c := Pick(cpu(1), []NodeView{node("a", 4, 4)}, "a", Strategy{}, Options{}, nil, 5); c != 5 {
		t.Fatalf("default strategy moved cursor to %d", c)
	}
}

// clusterPastThreshold has a saturated-ish local node and four idle peers, so
// the hybrid policy must randomize among the top k.
func clusterPastThreshold() []NodeView {
	return []NodeView{node("local", 4, 1), node("n1", 4, 4), node("n2", 4, 4), node("n3", 4, 4), node("n4", 4, 4)}
}

func TestPickTopK(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want map[string]bool // the set of nodes that may be chosen
	}{
		// 5 alive nodes: ceil(0.2*5) = 1 → always the first idle node by ID.
		{"default k=1", Options{}, map[string]bool{"n1": true}},
		{"k from fraction", Options{TopKFraction: 0.5}, map[string]bool{"n1": true, "n2": true, "n3": true}},
		{"k from minimum", Options{TopKMin: 2}, map[string]bool{"n1": true, "n2": true}},
		{"k capped by available", Options{TopKMin: 100}, map[string]bool{"n1": true, "n2": true, "n3": true, "n4": true, "local": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes := clusterPastThreshold()
			seen := map[string]bool{}
			rnd := seeded(42)
			for range 500 {
				d, _ := Pick(cpu(1), nodes, "local", Strategy{}, tt.opts, rnd, 0)
				if d.Outcome != Place || !tt.want[d.NodeID] {
					t.Fatalf("got %+v, want Place on one of %v", d, tt.want)
				}
				seen[d.NodeID] = true
			}
			if !reflect.DeepEqual(seen, tt.want) {
				t.Fatalf("over 500 picks saw %v, want all of %v", seen, tt.want)
			}
		})
	}
}

func TestPickDeterministicWithSeed(t *testing.T) {
	run := func(seed uint64) []string {
		nodes := clusterPastThreshold()
		rnd := seeded(seed)
		var out []string
		for range 50 {
			d, _ := Pick(cpu(1), nodes, "local", Strategy{}, Options{TopKMin: 4}, rnd, 0)
			out = append(out, d.NodeID)
		}
		return out
	}
	a, b := run(7), run(7)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("same seed gave different sequences:\n%v\n%v", a, b)
	}
	if reflect.DeepEqual(a, run(8)) {
		t.Fatal("different seeds gave identical sequences; randomness is not used")
	}
	// Input order must not matter either.
	nodes := clusterPastThreshold()
	rev := make([]NodeView, len(nodes))
	for i, n := range nodes {
		rev[len(nodes)-1-i] = n
	}
	rnd1, rnd2 := seeded(3), seeded(3)
	for range 50 {
		d1, _ := Pick(cpu(1), nodes, "local", Strategy{}, Options{TopKMin: 4}, rnd1, 0)
		d2, _ := Pick(cpu(1), rev, "local", Strategy{}, Options{TopKMin: 4}, rnd2, 0)
		if d1 != d2 {
			t.Fatalf("node order changed the decision: %+v vs %+v", d1, d2)
		}
	}
}

func TestPickNilRandIsDeterministic(t *testing.T) {
	d, _ := Pick(cpu(1), clusterPastThreshold(), "local", Strategy{}, Options{TopKMin: 4}, nil, 0)
	if d != (Decision{Place, "n1"}) {
		t.Fatalf("got %+v", d)
	}
}

func cloneNodes(ns []NodeView) []NodeView {
	out := make([]NodeView, len(ns))
	for i, n := range ns {
		n.Total = n.Total.Clone()
		n.Available = n.Available.Clone()
		if n.Labels != nil {
			l := make(map[string]string, len(n.Labels))
			for k, v := range n.Labels {
				l[k] = v
			}
			n.Labels = l
		}
		out[i] = n
	}
	return out
}

func TestPickDoesNotMutateInputs(t *testing.T) {
	nodes := []NodeView{
		{ID: "c", Total: cpu(4), Available: cpu(1), Alive: true, Labels: map[string]string{"zone": "x"}},
		{ID: "a", Total: Resources{"CPU": 4 * Unit, "GPU": Unit}, Available: Resources{"CPU": 4 * Unit, "GPU": 0}, Alive: true},
		{ID: "b", Total: cpu(4), Available: cpu(4), Alive: false},
		{ID: "d", Total: cpu(4), Available: cpu(4), Alive: true, Draining: true},
	}
	reqs := []Resources{cpu(1), {"CPU": Unit, "GPU": Unit}, {}, cpu(100)}
	strats := []Strategy{
		{},
		{Kind: StrategySpread},
		{Kind: StrategyNodeAffinity, NodeID: "a"},
		{Kind: StrategyNodeAffinity, NodeID: "b", Soft: true},
	}
	wantNodes := cloneNodes(nodes)
	for _, req := range reqs {
		wantReq := req.Clone()
		for _, s := range strats {
			Pick(req, nodes, "c", s, Options{TopKMin: 3}, seeded(1), 1)
			if !reflect.DeepEqual(nodes, wantNodes) {
				t.Fatalf("strategy %+v mutated nodes: %+v", s, nodes)
			}
			if !reflect.DeepEqual(req, wantReq) {
				t.Fatalf("strategy %+v mutated req: %v", s, req)
			}
		}
	}
}
