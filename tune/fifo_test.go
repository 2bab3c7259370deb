package tune

import "testing"

func TestFIFOChoosesFirstPendingThenFirstPaused(t *testing.T) {
	s := FIFO()
	if err := s.Setup("", ""); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		waiting []TrialInfo
		want    string
	}{
		{nil, ""},
		{[]TrialInfo{{ID: "a", State: Paused}, {ID: "b", State: Pending}, {ID: "c", State: Pending}}, "b"},
		{[]TrialInfo{{ID: "a", State: Paused}, {ID: "b", State: Paused}}, "a"},
		{[]TrialInfo{{ID: "a", State: Running}, {ID: "b", State: Terminated}}, ""},
	}
	for i, tc := range tests {
		if got := s.ChooseTrialToRun(tc.waiting); got != tc.want {
			t.Errorf("%d: ChooseTrialToRun = %q, want %q", i, got, tc.want)
		}
	}
	if d := s.OnTrialResult(TrialInfo{ID: "a"}, Result{Iteration: 1}); d.Action != Continue {
		t.Errorf("FIFO decided %v", d.Action)
	}
}

func TestFIFORunsEveryTrialToItsEnd(t *testing.T) {
	sim := newSchedSim(t, FIFO(), schedConstTask{}, 2, 5, "v", Max, schedValueParams(1, 2, 3))
	sim.run()
	if sim.iters != 15 {
		t.Errorf("%d iterations, want 15", sim.iters)
	}
	for _, tr := range sim.trials {
		if tr.state != Terminated || tr.iter != 5 {
			t.Errorf("%s: %s at %d", tr.id, tr.state, tr.iter)
		}
	}
}
