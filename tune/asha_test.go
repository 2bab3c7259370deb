package tune

import (
	"math"
	"strings"
	"testing"
)

// Direct calls: a rung's cutoff is the (1-1/η) percentile of the values
// recorded there before, linearly interpolated.
func TestASHACutoffs(t *testing.T) {
	type step struct {
		trial string
		iter  int
		value float64
		want  Action
		frag  string // in the reason
	}
	tests := []struct {
		name  string
		cfg   ASHAConfig
		mode  Mode
		steps []step
	}{
		{"rf2 max", ASHAConfig{MaxT: 16, ReductionFactor: 2}, Max, []step{
			{"a", 1, 5, Continue, "first value"},
			{"b", 1, 3, Stop, "cutoff 5 (top 1/2 of 1 recorded)"},
			{"c", 1, 8, Continue, "cutoff 4 "},
			{"d", 1, 1, Stop, "cutoff 5 "},
			{"e", 1, 6, Continue, "cutoff 4 "},
			{"a", 2, 5, Continue, "rung 1 (training_iteration=2)"},
			{"c", 2, 4, Stop, "cutoff 5 "},
			{"a", 3, 0, Continue, ""}, // between rungs
			{"a", 16, 0, Stop, "max_t"},
		}},
		{"rf4 min", ASHAConfig{MaxT: 100, ReductionFactor: 4}, Min, []step{
			{"a", 1, 1, Continue, "first value"},
			{"b", 1, 2, Stop, "cutoff 1 "},
			{"c", 1, 3, Stop, "cutoff 1.25 "},                  // signed values -1,-2: 25th percentile of loss = 1.25
			{"d", 1, 1.5, Continue, "reaches the cutoff 1.5 "}, // ties continue
			{"e", 1, 1.4, Stop, "cutoff 1.375 (top 1/4 of 4 recorded)"},
		}},
		{"grace 3 skips earlier iterations", ASHAConfig{MaxT: 20, GracePeriod: 3, ReductionFactor: 2}, Max, []step{
			{"a", 1, 5, Continue, ""},
			{"a", 3, 5, Continue, "rung 0 (training_iteration=3)"},
			{"b", 2, 1, Continue, ""},
			{"b", 7, 1, Continue, "rung 1 (training_iteration=6) of bracket 0: m=1 is the first"}, // jumped past rung 0: judged at the highest reached
			{"b", 8, 1, Continue, ""},
			{"a", 6, 0.5, Stop, "rung 1 (training_iteration=6) of bracket 0: m=0.5 is worse than the cutoff 1"},
		}},
		{"keep last trials", ASHAConfig{MaxT: 4, ReductionFactor: 2, KeepLastTrials: true}, Max, []step{
			{"a", 4, 5, Continue, ""},
			{"a", 9, 5, Continue, ""},
		}},
		{"NaN loses to a cutoff", ASHAConfig{MaxT: 10, ReductionFactor: 2}, Max, []step{
			{"a", 1, 5, Continue, ""},
			{"b", 1, math.NaN(), Stop, "NaN"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Metric = "m"
			s := ASHA(tc.cfg)
			if err := s.Setup("", tc.mode); err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"a", "b", "c", "d", "e"} {
				s.OnTrialAdd(TrialInfo{ID: id})
			}
			for i, st := range tc.steps {
				d := s.OnTrialResult(TrialInfo{ID: st.trial}, Result{Iteration: st.iter, Metrics: Metrics{"m": st.value}})
				if d.Action != st.want || !strings.Contains(d.Reason, st.frag) {
					t.Errorf("step %d (%s@%d=%v): %v %q, want %v with %q", i, st.trial, st.iter, st.value, d.Action, d.Reason, st.want, st.frag)
				}
			}
		})
	}
}

func TestASHABrackets(t *testing.T) {
	s := ASHA(ASHAConfig{Metric: "m", Mode: Max, MaxT: 100, ReductionFactor: 4, Brackets: 3, Seed: 7}).(*ashaScheduler)
	if err := s.Setup("", ""); err != nil {
		t.Fatal(err)
	}
	wantRungs := [][]float64{{1, 4, 16, 64}, {4, 16, 64}, {16, 64}}
	for i, b := range s.brackets {
		if !schedEqualFloats(b.milestones, wantRungs[i]) {
			t.Errorf("bracket %d rungs %v, want %v", i, b.milestones, wantRungs[i])
		}
	}
	// Ray's weighting: softmax of the rung counts, e^0 : e^-1 : e^-2.
	counts := make([]int, 3)
	const n = 3000
	for i := range n {
		id := "t" + string(rune('A'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
		s.OnTrialAdd(TrialInfo{ID: id})
		counts[s.bracket[id]]++
	}
	z := 1 + math.Exp(-1) + math.Exp(-2)
	for i, c := range counts {
		want := n * math.Exp(-float64(i)) / z
		if math.Abs(float64(c)-want) > 0.1*want {
			t.Errorf("bracket %d got %d trials, want about %.0f", i, c, want)
		}
	}
	// The same seed gives the same brackets.
	again := ASHA(ASHAConfig{Metric: "m", Mode: Max, Brackets: 3, Seed: 7}).(*ashaScheduler)
	_ = again.Setup("", "")
	for i := range 50 {
		id := "t" + string(rune('A'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
		again.OnTrialAdd(TrialInfo{ID: id})
		if again.bracket[id] != s.bracket[id] {
			t.Fatalf("trial %s: bracket %d then %d with the same seed", id, s.bracket[id], again.bracket[id])
		}
	}
}

func schedEqualFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-9 {
			return false
		}
	}
	return true
}

// Through the schedSimulator, one slot so that trials run one after another:
// values 5, 3, 8, 6 (max), rungs 1, 2, 4, 8, MaxT 16.
func TestASHAInSimulator(t *testing.T) {
	sim := newSchedSim(t, ASHA(ASHAConfig{MaxT: 16, ReductionFactor: 2}), schedConstTask{}, 1, 100, "v", Max, schedValueParams(5, 3, 8, 6))
	sim.run()
	want := []struct {
		iter int
		frag string
	}{
		{16, "max_t"},
		{1, "rung 0 (training_iteration=1) of bracket 0: v=3 is worse than the cutoff 5"},
		{16, "max_t"},
		{2, "rung 1 (training_iteration=2) of bracket 0: v=6 is worse than the cutoff 6.5"},
	}
	for i, w := range want {
		id := sim.trials[i].id
		if got := sim.stopIter(id); got != w.iter {
			t.Errorf("%s stopped at %d, want %d", id, got, w.iter)
		}
		schedMustContain(t, id+" reason", sim.stopReason(id), w.frag)
	}
	if sim.iters != 35 {
		t.Errorf("%d iterations, want 35", sim.iters)
	}
}

// A trial that ends by itself leaves its value at the rung it reached.
func TestASHARecordsCompletedTrials(t *testing.T) {
	s := ASHA(ASHAConfig{Metric: "m", Mode: Max, MaxT: 10, ReductionFactor: 2})
	if err := s.Setup("", ""); err != nil {
		t.Fatal(err)
	}
	s.OnTrialAdd(TrialInfo{ID: "a"})
	s.OnTrialAdd(TrialInfo{ID: "b"})
	s.OnTrialComplete(TrialInfo{ID: "a"}, &Result{Iteration: 2, Metrics: Metrics{"m": 10}, Done: true})
	d := s.OnTrialResult(TrialInfo{ID: "b"}, Result{Iteration: 2, Metrics: Metrics{"m": 5}})
	if d.Action != Stop || !strings.Contains(d.Reason, "cutoff 10 ") {
		t.Errorf("b: %v %q", d.Action, d.Reason)
	}
}
