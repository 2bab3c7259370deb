package tune

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// history makes a trial's results from its values of "loss".
func history(id string, losses ...float64) []Result {
	out := make([]Result, len(losses))
	for i, l := range losses {
		out[i] = Result{TrialID: id, Iteration: i + 1, Metrics: Metrics{"loss": l}}
	}
	return out
}

func trialWith(id string, losses ...float64) *TrialResult {
	h := history(id, losses...)
	t := &TrialResult{ID: id, State: Terminated, History: h}
	if len(h) > 0 {
		t.Last = &h[len(h)-1]
	}
	return t
}

func TestTrialResultScore(t *testing.T) {
	// 12 values: the last 5 are 8..12, the last 10 are 3..12.
	long := trialWith("long", 20, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
	short := trialWith("short", 4, 2)
	lastOnly := &TrialResult{ID: "lastonly", Last: &Result{Iteration: 7, Metrics: Metrics{"loss": 0.5}}}
	tests := []struct {
		name  string
		trial *TrialResult
		mode  Mode
		scope Scope
		want  float64
		ok    bool
	}{
		{"last", long, Min, ScopeLast, 12, true},
		{"avg", long, Min, ScopeAvg, 96.0 / 12, true},
		{"last-5-avg", long, Min, ScopeLast5Avg, 10, true},
		{"last-10-avg", long, Min, ScopeLast10Avg, 7.5, true},
		{"max", long, Min, ScopeMax, 20, true},
		{"min", long, Max, ScopeMin, 1, true},
		{"all min", long, Min, ScopeAll, 1, true},
		{"all max", long, Max, ScopeAll, 20, true},
		{"last-5-avg of fewer", short, Min, ScopeLast5Avg, 3, true},
		{"no history: last", lastOnly, Min, ScopeAvg, 0.5, true},
		{"all with a bad mode", long, "up", ScopeAll, 0, false},
		{"bad scope", long, Min, "first", 0, false},
		{"no results", &TrialResult{ID: "none"}, Min, ScopeLast, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.trial.Score("loss", tt.mode, tt.scope)
			if ok != tt.ok || (ok && math.Abs(got-tt.want) > 1e-12) {
				t.Fatalf("Score = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
	if v, ok := lastOnly.Score(TrainingIteration, Max, ScopeLast); !ok || v != 7 {
		t.Fatalf("Score(training_iteration) = %v, %v; want 7, true", v, ok)
	}
}

func TestResultGridBest(t *testing.T) {
	grid := &ResultGrid{Metric: "loss", Mode: Min, Trials: []*TrialResult{
		trialWith("a", 5, 4, 3),      // last 3, avg 4, min 3, max 5
		trialWith("b", 1, 9, 9),      // last 9, avg 6.33, min 1, max 9
		trialWith("c", 6, 3.5, 3.25), // last 3.25, avg 4.25, min 3.25, max 6
		trialWith("nan", math.NaN()), // never the best
		trialWith("inf", math.Inf(-1)),
		{ID: "failed", State: Errored, Err: errors.New("boom")}, // no results
		nil,
	}}
	tests := []struct {
		name   string
		metric string
		mode   Mode
		scope  Scope
		want   string
		err    error
	}{
		{"defaults: last, min", "", "", "", "a", nil},
		{"avg", "loss", Min, ScopeAvg, "a", nil},
		{"all min", "loss", Min, ScopeAll, "b", nil},
		{"all max", "loss", Max, ScopeAll, "b", nil},
		{"last max", "", Max, ScopeLast, "b", nil},
		{"max scope, min mode", "", Min, ScopeMax, "a", nil},
		{"min scope, max mode", "", Max, ScopeMin, "c", nil},
		{"iteration ties: the first wins", TrainingIteration, Max, "", "a", nil},
		{"unknown metric", "acc", Max, "", "", ErrNoResults},
		{"bad mode", "", "best", "", "", ErrInvalidConfig},
		{"bad scope", "", "", "first", "", ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := grid.Best(tt.metric, tt.mode, tt.scope)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Best err = %v; want %v", err, tt.err)
				}
				return
			}
			if err != nil || got.ID != tt.want {
				t.Fatalf("Best = %v, %v; want %s", got, err, tt.want)
			}
		})
	}
	if _, err := (&ResultGrid{}).Best("", Min, ""); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Best without a metric: err = %v; want ErrInvalidConfig", err)
	}
}

func TestResultGridLenErrors(t *testing.T) {
	e1, e2 := errors.New("one"), errors.New("two")
	grid := &ResultGrid{Trials: []*TrialResult{
		{ID: "a", State: Errored, Err: e1}, {ID: "b", State: Terminated}, {ID: "c", State: Errored, Err: e2},
	}}
	if grid.Len() != 3 {
		t.Fatalf("Len = %d; want 3", grid.Len())
	}
	errs := grid.Errors()
	if len(errs) != 2 || errs[0] != e1 || errs[1] != e2 {
		t.Fatalf("Errors = %v; want [one two]", errs)
	}
	if errs := (&ResultGrid{}).Errors(); errs != nil {
		t.Fatalf("Errors of an empty grid = %v; want nil", errs)
	}
}

// exportGrid is a small grid with nested params, a failed trial and
// metrics that not every trial has.
func exportGrid() *ResultGrid {
	ts := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	a := trialWith("t1", 0.5, 0.25)
	a.Params = Params{"lr": 0.01, "model": Params{"layers": int64(2), "act": "relu"}}
	a.History[1].Metrics["acc"] = 0.9
	a.History[1].Timestamp = ts
	a.History[1].TimeTotal = 1500 * time.Millisecond
	a.History[1].Done = true
	a.Checkpoint = CheckpointFromDir("/exp/t1/checkpoint_000002")
	a.Checkpoint.Iteration = 2
	a.BestCheckpoint = a.Checkpoint
	a.Decisions = []DecisionRecord{{Time: ts, Iteration: 2, Action: "stop", Reason: "done, with \"quotes\""}}
	b := &TrialResult{ID: "t2", State: Errored, Params: Params{"lr": 0.1, "batch": 32},
		Err: fmt.Errorf("%w: step 3: loss, diverged", ErrTrialFailed)}
	c := trialWith("t3", math.Inf(1))
	c.Params = Params{"lr": math.NaN()}
	return &ResultGrid{Metric: "loss", Mode: Min, Trials: []*TrialResult{a, b, c}}
}

func TestResultGridWriteCSV(t *testing.T) {
	var buf bytes.Buffer
	if err := exportGrid().WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	want := "trial_id,state,iterations,config/batch,config/lr,config/model/act,config/model/layers,acc,loss,error\n" +
		"t1,TERMINATED,2,,0.01,relu,2,0.9,0.25,\n" +
		"t2,ERROR,,32,0.1,,,,,\"tune: trial failed: step 3: loss, diverged\"\n" +
		"t3,TERMINATED,1,,NaN,,,,+Inf,\n"
	if got := buf.String(); got != want {
		t.Fatalf("WriteCSV:\n%s\nwant:\n%s", got, want)
	}
	buf.Reset()
	if err := (&ResultGrid{}).WriteCSV(&buf); err != nil || buf.String() != "trial_id,state,iterations,error\n" {
		t.Fatalf("WriteCSV of an empty grid = %q, %v", buf.String(), err)
	}
}

func TestResultGridWriteJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := exportGrid().WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("WriteJSON wrote invalid JSON: %v\n%s", err, buf.String())
	}
	if len(got) != 3 {
		t.Fatalf("WriteJSON wrote %d trials; want 3", len(got))
	}
	t1, t2, t3 := got[0], got[1], got[2]
	checks := []struct {
		name      string
		got, want any
	}{
		{"id", t1["id"], "t1"},
		{"state", t1["state"], "TERMINATED"},
		{"nested config", t1["config"].(map[string]any)["model"].(map[string]any)["act"], "relu"},
		{"last result iteration", t1["last_result"].(map[string]any)["training_iteration"], 2.0},
		{"last result time_total_s", t1["last_result"].(map[string]any)["time_total_s"], 1.5},
		{"last result timestamp", t1["last_result"].(map[string]any)["timestamp"], "2026-12-07T08:00:00Z"},
		{"last result acc", t1["last_result"].(map[string]any)["metrics"].(map[string]any)["acc"], 0.9},
		{"history length", len(t1["history"].([]any)), 2},
		{"checkpoint", t1["checkpoint"], "/exp/t1/checkpoint_000002"},
		{"best checkpoint", t1["best_checkpoint"], "/exp/t1/checkpoint_000002"},
		{"decision time", t1["decisions"].([]any)[0].(map[string]any)["time"], "2026-12-07T08:00:00Z"},
		{"decision reason", t1["decisions"].([]any)[0].(map[string]any)["reason"], "done, with \"quotes\""},
		{"error", t2["error"], "tune: trial failed: step 3: loss, diverged"},
		{"no last result", t2["last_result"], nil},
		{"empty history", len(t2["history"].([]any)), 0},
		{"NaN config", t3["config"].(map[string]any)["lr"], "NaN"},
		{"+Inf metric", t3["last_result"].(map[string]any)["metrics"].(map[string]any)["loss"], "+Inf"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#v; want %#v", c.name, c.got, c.want)
		}
	}
	// Deterministic: the same grid gives the same bytes.
	var again bytes.Buffer
	if err := exportGrid().WriteJSON(&again); err != nil || !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Fatalf("WriteJSON is not deterministic")
	}
	if !strings.HasPrefix(buf.String(), "[\n") {
		t.Fatalf("WriteJSON does not start with an array: %.20q", buf.String())
	}
}
