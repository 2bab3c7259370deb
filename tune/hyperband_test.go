package tune

import (
	"strings"
	"testing"
)

func TestHyperBandBrackets(t *testing.T) {
	h := HyperBand(HyperBandConfig{Metric: "v", Mode: Max}).(*hyperBandScheduler)
	if err := h.Setup("", ""); err != nil {
		t.Fatal(err)
	}
	for i := range 143 + 1 {
		h.OnTrialAdd(TrialInfo{ID: strings.Repeat("x", i+1)})
	}
	// MaxT 81, η 3: s_max 4; brackets s = 0..4 of 5, 8, 15, 34, 81 trials
	// starting at 81, 27, 9, 3, 1; then the next band.
	want := []struct {
		s, capacity int
		first       float64
	}{{0, 5, 81}, {1, 8, 27}, {2, 15, 9}, {3, 34, 3}, {4, 81, 1}, {0, 5, 81}}
	if len(h.brackets) != len(want) {
		t.Fatalf("%d brackets, want %d", len(h.brackets), len(want))
	}
	for i, w := range want {
		b := h.brackets[i]
		if b.s != w.s || b.capacity != w.capacity || b.cur != w.first {
			t.Errorf("bracket %d: s %d, %d trials, milestone %v; want %+v", i, b.s, b.capacity, b.cur, w)
		}
	}
	if h.brackets[5].added != 1 {
		t.Errorf("the second band's first bracket has %d trials, want 1", h.brackets[5].added)
	}
}

// MaxT 9, η 3: brackets of 3 (s=0, straight to 9), 5 (s=1: milestone 3,
// keep 2) and 9 trials (s=2: milestone 1, keep 3; milestone 3, keep 1).
// Values are the trial's index (max), 4 slots.
func TestHyperBandSynchronousHalving(t *testing.T) {
	vs := make([]float64, 17)
	for i := range vs {
		vs[i] = float64(i)
	}
	sim := newSchedSim(t, HyperBand(HyperBandConfig{MaxT: 9, ReductionFactor: 3}), schedConstTask{}, 4, 1000, "v", Max, schedValueParams(vs...))
	sim.run()
	wantStop := map[int]int{ // trial index → iteration it stops at
		0: 9, 1: 9, 2: 9, // bracket 0
		3: 3, 4: 3, 5: 3, 6: 9, 7: 9, // bracket 1
		8: 1, 9: 1, 10: 1, 11: 1, 12: 1, 13: 1, 14: 3, 15: 3, 16: 9, // bracket 2
	}
	for i, tr := range sim.trials {
		if got := sim.stopIter(tr.id); got != wantStop[i] {
			t.Errorf("%s stopped at %d, want %d (%q)", tr.id, got, wantStop[i], sim.stopReason(tr.id))
		}
		if tr.state != Terminated {
			t.Errorf("%s ends %s", tr.id, tr.state)
		}
	}
	if sim.iters != 27+27+21 {
		t.Errorf("%d iterations, want %d", sim.iters, 27+27+21)
	}
	schedMustContain(t, "reason", sim.stopReason("t003"), "bracket 1: halving at training_iteration=3: v=3 ranks 5 of 5, below the top 2 (cutoff 6)")
	schedMustContain(t, "reason", sim.stopReason("t016"), "reached max_t")
	// Synchronous: no trial of bracket 2 reports past a milestone before
	// every live one of them reached it, and those that wait are paused.
	firstPast := func(milestone int) int {
		for _, e := range sim.events {
			if e.trial >= "t008" && e.iter > milestone {
				return e.seq
			}
		}
		return -1
	}
	lastAt := func(milestone int) int {
		last := -1
		for _, e := range sim.events {
			if e.trial >= "t008" && e.iter == milestone {
				last = max(last, e.seq)
			}
		}
		return last
	}
	for _, m := range []int{1, 3} {
		if firstPast(m) < lastAt(m) {
			t.Errorf("a bracket-2 trial went past %d before all reached it", m)
		}
	}
	paused := 0
	for _, e := range sim.events {
		if e.action == Pause {
			paused++
			schedMustContain(t, "pause reason", e.reason, "waiting for")
		}
	}
	if paused == 0 {
		t.Error("no trial paused at a milestone")
	}
	// The winners paused at milestone 1 were resumed, told why.
	var promoted bool
	for _, e := range sim.byID["t014"].decisions {
		promoted = promoted || (e.action == Continue && strings.Contains(e.reason, "continues to 3"))
	}
	if !promoted {
		t.Errorf("t014's promotion not recorded: %+v", sim.byID["t014"].decisions)
	}
}

// A trial that ends on its own no longer holds its bracket back.
func TestHyperBandHalvesWhenATrialEnds(t *testing.T) {
	h := HyperBand(HyperBandConfig{Metric: "v", Mode: Min, MaxT: 9, ReductionFactor: 3}).(*hyperBandScheduler)
	if err := h.Setup("", ""); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} { // a-c: bracket 0; d-h: bracket 1
		h.OnTrialAdd(TrialInfo{ID: id})
	}
	res := func(id string, it int, v float64) Decision {
		return h.OnTrialResult(TrialInfo{ID: id}, Result{Iteration: it, Metrics: Metrics{"v": v}})
	}
	for _, id := range []string{"d", "e", "f", "g"} {
		if d := res(id, 3, float64(id[0])); d.Action != Pause {
			t.Fatalf("%s at the milestone: %v %q", id, d.Action, d.Reason)
		}
	}
	h.OnTrialComplete(TrialInfo{ID: "h"}, nil)
	got := map[string]Action{}
	for _, d := range h.TakePausedDecisions() {
		got[d.TrialID] = d.Action
	}
	want := map[string]Action{"d": Continue, "e": Continue, "f": Stop, "g": Stop} // min: d, e best; keep ceil(5/3)=2
	for id, a := range want {
		if got[id] != a {
			t.Errorf("%s: %v, want %v", id, got[id], a)
		}
	}
	waiting := []TrialInfo{{ID: "a", State: Pending}, {ID: "g", State: Paused}, {ID: "e", State: Paused}}
	if id := h.ChooseTrialToRun(waiting); id != "e" {
		t.Errorf("ChooseTrialToRun = %q, want the promoted e", id)
	}
	if id := h.ChooseTrialToRun([]TrialInfo{{ID: "g", State: Paused}}); id != "" {
		t.Errorf("ChooseTrialToRun = %q, want none", id)
	}
}

// TimeAttr may jump past milestones; KeepLastTrials lets the last
// survivors run past MaxT.
func TestHyperBandJumpsAndKeepLastTrials(t *testing.T) {
	for _, keep := range []bool{false, true} {
		h := HyperBand(HyperBandConfig{Metric: "v", Mode: Max, MaxT: 9, ReductionFactor: 3, KeepLastTrials: keep}).(*hyperBandScheduler)
		if err := h.Setup("", ""); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
			h.OnTrialAdd(TrialInfo{ID: id})
		}
		res := func(id string, it int, v float64) Decision {
			return h.OnTrialResult(TrialInfo{ID: id}, Result{Iteration: it, Metrics: Metrics{"v": v}})
		}
		// Bracket 0 (a-c) runs straight to MaxT.
		if d := res("a", 9, 1); (d.Action == Stop) == keep {
			t.Errorf("keep=%v: a at MaxT: %v %q", keep, d.Action, d.Reason)
		}
		if keep {
			if d := res("a", 30, 1); d.Action != Continue {
				t.Errorf("a past MaxT: %v", d.Action)
			}
		}
		// Bracket 1 (d-h), milestone 3: d jumps to 10, past MaxT.
		if d := res("d", 10, 9); d.Action != Pause {
			t.Fatalf("d: %v %q", d.Action, d.Reason)
		}
		for _, id := range []string{"e", "f", "g"} {
			res(id, 3, float64(id[0]-'a'))
		}
		d := res("h", 4, 0) // completes the milestone, ranks last
		if d.Action != Stop || !strings.Contains(d.Reason, "ranks 5 of 5, below the top 2") {
			t.Errorf("h: %v %q", d.Action, d.Reason)
		}
		got := map[string]Decision{}
		for _, pd := range h.TakePausedDecisions() {
			got[pd.TrialID] = pd.Decision
		}
		wantD := Stop // already at MaxT
		if keep {
			wantD = Continue
		}
		if got["d"].Action != wantD || got["g"].Action != Continue || got["e"].Action != Stop || got["f"].Action != Stop {
			t.Errorf("keep=%v: paused decisions %+v", keep, got)
		}
	}
}
