package sched

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func TestParseLabelSelector(t *testing.T) {
	tests := []struct {
		expr string
		want []LabelRequirement
	}{
		{"", nil},
		{"   \t ", nil},
		{"zone=us-east", []LabelRequirement{{Key: "zone", Op: LabelIn, Values: []string{"us-east"}}}},
		{"zone==us-east", []LabelRequirement{{Key: "zone", Op: LabelIn, Values: []string{"us-east"}}}},
		{" zone = us-east ", []LabelRequirement{{Key: "zone", Op: LabelIn, Values: []string{"us-east"}}}},
		{"zone in (a,b)", []LabelRequirement{{Key: "zone", Op: LabelIn, Values: []string{"a", "b"}}}},
		{"zone in(a, b ,c)", []LabelRequirement{{Key: "zone", Op: LabelIn, Values: []string{"a", "b", "c"}}}},
		{"zone IN (a)", []LabelRequirement{{Key: "zone", Op: LabelIn, Values: []string{"a"}}}},
		{"zone in (a,a,b)", []LabelRequirement{{Key: "zone", Op: LabelIn, Values: []string{"a", "b"}}}},
		{"zone!=x", []LabelRequirement{{Key: "zone", Op: LabelNotIn, Values: []string{"x"}}}},
		{"zone != x", []LabelRequirement{{Key: "zone", Op: LabelNotIn, Values: []string{"x"}}}},
		{"zone notin (a,b)", []LabelRequirement{{Key: "zone", Op: LabelNotIn, Values: []string{"a", "b"}}}},
		{"zone NotIn(a)", []LabelRequirement{{Key: "zone", Op: LabelNotIn, Values: []string{"a"}}}},
		{"gpu", []LabelRequirement{{Key: "gpu", Op: LabelExists}}},
		{"!gpu", []LabelRequirement{{Key: "gpu", Op: LabelDoesNotExist}}},
		{"! gpu", []LabelRequirement{{Key: "gpu", Op: LabelDoesNotExist}}},
		{"ray.io/accelerator-type=A100", []LabelRequirement{{Key: "ray.io/accelerator-type", Op: LabelIn, Values: []string{"A100"}}}},
		{"in=notin", []LabelRequirement{{Key: "in", Op: LabelIn, Values: []string{"notin"}}}},
		{
			"zone in (a, b), gpu, !spot, tier!=dev, region notin (eu), zone=a",
			[]LabelRequirement{
				{Key: "zone", Op: LabelIn, Values: []string{"a", "b"}},
				{Key: "gpu", Op: LabelExists},
				{Key: "spot", Op: LabelDoesNotExist},
				{Key: "tier", Op: LabelNotIn, Values: []string{"dev"}},
				{Key: "region", Op: LabelNotIn, Values: []string{"eu"}},
				{Key: "zone", Op: LabelIn, Values: []string{"a"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := ParseLabelSelector(tt.expr)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			// Formatting parses back to the same requirements.
			if len(got) > 0 {
				again, err := ParseLabelSelector(FormatLabelSelector(got))
				if err != nil || !reflect.DeepEqual(again, got) {
					t.Fatalf("round trip of %q: %+v, %v", FormatLabelSelector(got), again, err)
				}
			}
		})
	}
}

func TestParseLabelSelectorErrors(t *testing.T) {
	tests := []struct {
		expr    string
		wantMsg string // a fragment of the error
	}{
		{",", "empty requirement"},
		{"a,,b", "empty requirement at offset 2"},
		{"a,", "trailing ','"},
		{"=x", "want a label key"},
		{"(a)", "want a label key"},
		{"zone=", "want a value after \"=\" for key \"zone\""},
		{"zone=,b", "want a value"},
		{"zone!=", "want a value after \"!=\""},
		{"zone==(a)", "want a value"},
		{"!", "want a label key after '!'"},
		{"!=x", "want a label key"},
		{"!!gpu", "want a label key after '!'"},
		{"!gpu=x", "unexpected \"=\" after requirement \"!gpu\""},
		{"zone in", "want '(' after \"in\""},
		{"zone in a", "want '(' after \"in\""},
		{"zone in ()", "empty value set for key \"zone\""},
		{"zone in (a", "missing ')'"},
		{"zone in (a,", "want a value in the set"},
		{"zone in (a,)", "want a value in the set"},
		{"zone in (a b)", "want ',' or ')'"},
		{"zone notin (a,(b))", "want a value in the set"},
		{"zone foo", "unexpected \"foo\" after key \"zone\""},
		{"zone (a)", "unexpected \"(\" after key \"zone\""},
		{"zone=a b", "unexpected \"b\" after requirement \"zone=a\""},
		{"zone=a)", "unexpected \")\""},
		{"gpu !spot", "unexpected \"!\" after key \"gpu\""},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := ParseLabelSelector(tt.expr)
			if err == nil {
				t.Fatalf("got %+v, want an error", got)
			}
			if !errors.Is(err, ErrInvalidLabelSelector) {
				t.Fatalf("error %v does not wrap ErrInvalidLabelSelector", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("error %q does not contain %q", err, tt.wantMsg)
			}
			if !strings.Contains(err.Error(), "offset") {
				t.Fatalf("error %q gives no offset", err)
			}
			if got != nil {
				t.Fatalf("got %+v alongside error", got)
			}
		})
	}
}

func TestMatchesLabels(t *testing.T) {
	east := map[string]string{"zone": "us-east", "gpu": "A100"}
	west := map[string]string{"zone": "us-west"}
	empty := map[string]string{"zone": ""}
	tests := []struct {
		name   string
		reqs   []LabelRequirement
		labels map[string]string
		want   bool
	}{
		{"no requirements match anything", nil, east, true},
		{"no requirements match nil labels", nil, nil, true},
		{"in matches", []LabelRequirement{{"zone", LabelIn, []string{"us-west", "us-east"}}}, east, true},
		{"in other value", []LabelRequirement{{"zone", LabelIn, []string{"us-east"}}}, west, false},
		{"in missing key", []LabelRequirement{{"zone", LabelIn, []string{"us-east"}}}, nil, false},
		{"in empty value", []LabelRequirement{{"zone", LabelIn, []string{""}}}, empty, true},
		{"in with no values matches nothing", []LabelRequirement{{"zone", LabelIn, nil}}, east, false},
		{"notin excludes", []LabelRequirement{{"zone", LabelNotIn, []string{"us-east"}}}, east, false},
		{"notin other value", []LabelRequirement{{"zone", LabelNotIn, []string{"us-east"}}}, west, true},
		{"notin missing key matches", []LabelRequirement{{"zone", LabelNotIn, []string{"us-east"}}}, nil, true},
		{"notin with no values matches everything", []LabelRequirement{{"zone", LabelNotIn, nil}}, east, true},
		{"exists", []LabelRequirement{{Key: "gpu", Op: LabelExists}}, east, true},
		{"exists missing", []LabelRequirement{{Key: "gpu", Op: LabelExists}}, west, false},
		{"exists with empty value", []LabelRequirement{{Key: "zone", Op: LabelExists}}, empty, true},
		{"does not exist", []LabelRequirement{{Key: "gpu", Op: LabelDoesNotExist}}, west, true},
		{"does not exist but does", []LabelRequirement{{Key: "gpu", Op: LabelDoesNotExist}}, east, false},
		{"unknown op fails closed", []LabelRequirement{{Key: "gpu", Op: LabelOp(42)}}, east, false},
		{"all must hold", []LabelRequirement{{Key: "gpu", Op: LabelExists}, {"zone", LabelIn, []string{"us-west"}}}, east, false},
		{"all hold", []LabelRequirement{{Key: "gpu", Op: LabelExists}, {"zone", LabelNotIn, []string{"us-west"}}}, east, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Strategy{Labels: tt.reqs}
			if got := s.MatchesLabels(tt.labels); got != tt.want {
				t.Fatalf("MatchesLabels(%v) with %v = %v, want %v", tt.labels, FormatLabelSelector(tt.reqs), got, tt.want)
			}
		})
	}
}

func labeled(id string, total, avail float64, labels map[string]string) NodeView {
	n := node(id, total, avail)
	n.Labels = labels
	return n
}

func TestPickLabelSelectors(t *testing.T) {
	sel := func(expr string) []LabelRequirement {
		r, err := ParseLabelSelector(expr)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	cluster := func() []NodeView {
		return []NodeView{
			labeled("a", 8, 8, map[string]string{"zone": "east"}),
			labeled("b", 8, 8, map[string]string{"zone": "west", "gpu": "A100"}),
			labeled("c", 8, 8, map[string]string{"zone": "north", "gpu": "T4"}),
		}
	}
	busyB := cluster()
	busyB[1].Available = cpu(0)
	drainingB := cluster()
	drainingB[1].Draining = true

	tests := []struct {
		name  string
		req   Resources
		nodes []NodeView
		local string
		strat Strategy
		want  Decision
	}{
		{"in: leaves the local node", cpu(1), cluster(), "a", Strategy{Labels: sel("zone=west")}, Decision{Place, "b"}},
		{"in set: prefers local when it matches", cpu(1), cluster(), "c", Strategy{Labels: sel("zone in (west,north)")}, Decision{Place, "c"}},
		{"notin: skips local", cpu(1), cluster(), "a", Strategy{Labels: sel("zone!=east")}, Decision{Place, "b"}},
		{"notin set", cpu(1), cluster(), "a", Strategy{Labels: sel("zone notin (east,west)")}, Decision{Place, "c"}},
		{"exists", cpu(1), cluster(), "a", Strategy{Labels: sel("gpu")}, Decision{Place, "b"}},
		{"does not exist", cpu(1), cluster(), "b", Strategy{Labels: sel("!gpu")}, Decision{Place, "a"}},
		{"conjunction", cpu(1), cluster(), "a", Strategy{Labels: sel("gpu, zone!=west")}, Decision{Place, "c"}},
		{"matching node busy: queue there, not on a free non-matching local", cpu(1), busyB, "a", Strategy{Labels: sel("gpu=A100")}, Decision{Queue, "b"}},
		{"no node matches: infeasible", cpu(1), cluster(), "a", Strategy{Labels: sel("zone=south")}, Decision{Infeasible, ""}},
		{"only matching node draining: infeasible", cpu(1), drainingB, "a", Strategy{Labels: sel("zone=west")}, Decision{Infeasible, ""}},
		{"matching node too small: infeasible", cpu(9), cluster(), "a", Strategy{Labels: sel("zone=west")}, Decision{Infeasible, ""}},
		{"spread over matching nodes", cpu(1), cluster(), "a", Strategy{Kind: StrategySpread, Labels: sel("gpu")}, Decision{Place, "b"}},
		{"spread: no match infeasible", cpu(1), cluster(), "a", Strategy{Kind: StrategySpread, Labels: sel("!zone")}, Decision{Infeasible, ""}},
		{"hard affinity to matching node", cpu(1), cluster(), "a", Strategy{Kind: StrategyNodeAffinity, NodeID: "b", Labels: sel("gpu")}, Decision{Place, "b"}},
		{"hard affinity to non-matching node: infeasible", cpu(1), cluster(), "a", Strategy{Kind: StrategyNodeAffinity, NodeID: "a", Labels: sel("gpu")}, Decision{Infeasible, ""}},
		{"soft affinity to non-matching node falls back among matching", cpu(1), cluster(), "a", Strategy{Kind: StrategyNodeAffinity, NodeID: "a", Soft: true, Labels: sel("gpu=T4")}, Decision{Place, "c"}},
		{"soft affinity, nothing matches: infeasible", cpu(1), cluster(), "a", Strategy{Kind: StrategyNodeAffinity, NodeID: "a", Soft: true, Labels: sel("tpu")}, Decision{Infeasible, ""}},
		{"empty selector changes nothing", cpu(1), cluster(), "a", Strategy{Labels: []LabelRequirement{}}, Decision{Place, "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := cloneNodes(tt.nodes)
			for seed := range uint64(5) {
				got, _ := Pick(tt.req, tt.nodes, tt.local, tt.strat, Options{}, seeded(seed), 0)
				if got != tt.want {
					t.Fatalf("seed %d: got %+v, want %+v", seed, got, tt.want)
				}
			}
			if !reflect.DeepEqual(tt.nodes, want) {
				t.Fatalf("Pick mutated nodes: %+v", tt.nodes)
			}
		})
	}
}

func TestPickSpreadRoundRobinWithLabels(t *testing.T) {
	nodes := []NodeView{
		labeled("a", 4, 4, map[string]string{"pool": "x"}),
		labeled("b", 4, 4, nil),
		labeled("c", 4, 4, map[string]string{"pool": "x"}),
		labeled("d", 4, 4, map[string]string{"pool": "y"}),
	}
	strat := Strategy{Kind: StrategySpread, Labels: []LabelRequirement{{Key: "pool", Op: LabelIn, Values: []string{"x"}}}}
	cursor := 0
	for i, want := range []string{"a", "c", "a", "c"} {
		var d Decision
		d, cursor = Pick(cpu(1), nodes, "b", strat, Options{}, nil, cursor)
		if d != (Decision{Place, want}) {
			t.Fatalf("pick %d: got %+v, want Place on %s", i, d, want)
		}
	}
}

// Strategy travels over msgpack inside protocol messages.
func TestStrategyMsgpackRoundTrip(t *testing.T) {
	for _, s := range []Strategy{
		{},
		{Kind: StrategyNodeAffinity, NodeID: "n1", Soft: true},
		{Kind: StrategySpread, Labels: []LabelRequirement{
			{Key: "zone", Op: LabelIn, Values: []string{"a", "b"}},
			{Key: "gpu", Op: LabelDoesNotExist},
		}},
	} {
		b, err := msgpack.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var got Strategy
		if err := msgpack.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Fatalf("round trip: got %+v, want %+v", got, s)
		}
	}
}

func TestLabelOpString(t *testing.T) {
	for op, want := range map[LabelOp]string{LabelIn: "in", LabelNotIn: "notin", LabelExists: "exists", LabelDoesNotExist: "doesnotexist", 9: "LabelOp(9)"} {
		if got := op.String(); got != want {
			t.Errorf("%d: got %q, want %q", int(op), got, want)
		}
	}
}
