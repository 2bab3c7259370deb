package tune

import (
	"strings"
	"testing"
)

func TestMedianStoppingRule(t *testing.T) {
	type step struct {
		trial string
		iter  int
		value float64
		want  Action
		frag  string
	}
	// a and b report 1s and 2s for 4 iterations (min); grace 2.
	history := []step{
		{"a", 1, 1, Continue, ""}, {"a", 2, 1, Continue, ""}, {"a", 3, 1, Continue, ""}, {"a", 4, 1, Continue, ""},
		{"b", 1, 2, Continue, ""}, {"b", 2, 2, Continue, ""}, {"b", 3, 2, Continue, ""}, {"b", 4, 2, Continue, ""},
	}
	tests := []struct {
		name  string
		cfg   MedianStoppingConfig
		add   []string // trials added (PENDING) after a's and b's history
		steps []step
	}{
		{"stops below the median", MedianStoppingConfig{MinSamplesRequired: 2}, nil, []step{
			{"c", 1, 5, Continue, ""},
			{"c", 2, 5, Continue, ""}, // at the grace period: not yet
			{"c", 3, 5, Stop, "at training_iteration=3 the best v=5 is worse than the median 1.5 of 2 other trials' running means"},
		}},
		{"best so far counts", MedianStoppingConfig{MinSamplesRequired: 2}, nil, []step{
			{"c", 1, 0.5, Continue, ""}, // before the grace period, but still its best
			{"c", 3, 5, Continue, ""},
		}},
		{"soft stop pauses", MedianStoppingConfig{MinSamplesRequired: 2, SoftStop: true}, nil, []step{
			{"c", 3, 5, Pause, "worse than the median"},
			{"c", 4, 5, Continue, ""}, // resumed: runs on
		}},
		{"too few samples, nobody waiting", MedianStoppingConfig{MinSamplesRequired: 3}, nil, []step{
			{"c", 3, 5, Continue, ""},
		}},
		{"too few samples yields to a waiting trial", MedianStoppingConfig{MinSamplesRequired: 3}, []string{"d"}, []step{
			{"c", 3, 5, Pause, "only 2 of the 3 trials needed"},
		}},
		{"min time slice", MedianStoppingConfig{MinSamplesRequired: 3, MinTimeSlice: 2}, []string{"d"}, []step{
			{"c", 3, 5, Pause, "yielding to 1 waiting"},
			{"c", 4, 5, Continue, ""}, // 1 since the last pause, not over 2
		}},
		{"running means from the grace period to now", MedianStoppingConfig{MinSamplesRequired: 2}, nil, []step{
			{"a", 5, 10, Continue, ""},
			{"b", 5, 10, Continue, ""},
			{"c", 5, 3.7, Stop, "median 3.625 "}, // means over 2..5: a 3.25, b 4
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.TimeAttr = TrainingIteration
			tc.cfg.GracePeriod = 2
			m := MedianStopping(tc.cfg)
			if err := m.Setup("v", Min); err != nil {
				t.Fatal(err)
			}
			added := map[string]bool{}
			for i, st := range append(append([]step{}, history...), tc.steps...) {
				if i == len(history) {
					for _, id := range tc.add { // PENDING from now on
						m.OnTrialAdd(TrialInfo{ID: id})
					}
				}
				if !added[st.trial] { // a, b, c start as soon as added
					added[st.trial] = true
					m.OnTrialAdd(TrialInfo{ID: st.trial})
				}
				d := m.OnTrialResult(TrialInfo{ID: st.trial}, Result{Iteration: st.iter, Metrics: Metrics{"v": st.value}})
				if d.Action != st.want || !strings.Contains(d.Reason, st.frag) {
					t.Errorf("step %d (%s@%d=%v): %v %q, want %v with %q", i, st.trial, st.iter, st.value, d.Action, d.Reason, st.want, st.frag)
				}
			}
		})
	}
}

// In the schedSimulator with time_total_s (one second an iteration), 6 trials
// on 3 slots, at least 2 others needed: the first three run together and
// v=4 stops below the median 5.5 of 6 and 5, as do the three that start
// later.
func TestMedianStoppingInSimulator(t *testing.T) {
	sim := newSchedSim(t, MedianStopping(MedianStoppingConfig{GracePeriod: 5, MinSamplesRequired: 2}), schedConstTask{}, 3, 20, "v", Max,
		schedValueParams(6, 5, 4, 3, 2, 1))
	sim.run()
	for i, tr := range sim.trials {
		stopped := sim.stopIter(tr.id)
		if i < 2 && stopped != 0 {
			t.Errorf("%s (v=%d) stopped at %d: %s", tr.id, 6-i, stopped, sim.stopReason(tr.id))
		}
		if i >= 2 && stopped == 0 {
			t.Errorf("%s (v=%d) ran to the end", tr.id, 6-i)
		}
	}
}

// SoftStop pauses the condemned; they resume (FIFO) once the slots free
// up and run to their end.
func TestMedianSoftStopInSimulator(t *testing.T) {
	sim := newSchedSim(t, MedianStopping(MedianStoppingConfig{GracePeriod: 5, MinSamplesRequired: 2, SoftStop: true}), schedConstTask{}, 3, 20, "v", Max,
		schedValueParams(6, 5, 4, 3, 2, 1))
	sim.run()
	soft := 0
	for _, e := range sim.events {
		if e.action == Pause && strings.Contains(e.reason, "worse than the median") {
			soft++
		}
		if e.action == Stop {
			t.Errorf("%s stopped: %q", e.trial, e.reason)
		}
	}
	if soft == 0 {
		t.Error("nothing soft-stopped")
	}
	for _, tr := range sim.trials {
		if tr.state != Terminated || tr.iter != 20 {
			t.Errorf("%s ends %s at %d", tr.id, tr.state, tr.iter)
		}
	}
}
