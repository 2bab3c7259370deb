package tune_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/tune"
)

// quadratic reports a loss that falls towards (x-3)² over "iters"
// iterations, with a bytes checkpoint of its iteration each time.
var quadratic = tune.Function("test.quadratic", func(ctx context.Context, p tune.Params) error {
	start := 0
	if c := tune.GetCheckpoint(ctx); c != nil {
		b, _ := c.Bytes()
		start, _ = strconv.Atoi(string(b))
	}
	x := p.Float("x")
	iters := p.Int("iters")
	for i := start + 1; i <= iters; i++ {
		loss := (x-3)*(x-3) + 10/float64(i)
		if err := tune.Report(ctx, tune.Metrics{"loss": loss, "resumed_at": float64(start)}, tune.CheckpointFromBytes([]byte(strconv.Itoa(i)))); err != nil {
			return err
		}
	}
	return nil
})

func tmpStorage(t *testing.T) string {
	t.Helper()
	return t.TempDir()
}

func TestFitFunctionTrainable(t *testing.T) {
	ctx := context.Background()
	tn, err := tune.NewTuner(quadratic, tune.Space{"x": tune.GridSearch(0.0, 2.0, 3.0, 5.0), "iters": 5},
		tune.TuneConfig{Metric: "loss", Mode: tune.Min, MaxConcurrentTrials: 2, Seed: 1},
		tune.RunConfig{Name: "quad", StoragePath: tmpStorage(t), Quiet: true, CheckpointConfig: tune.CheckpointConfig{NumToKeep: 2}})
	if err != nil {
		t.Fatal(err)
	}
	grid, err := tn.Fit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(grid.Trials) != 4 {
		t.Fatalf("%d trials, want 4", len(grid.Trials))
	}
	for _, tr := range grid.Trials {
		if tr.State != tune.Terminated || tr.Err != nil {
			t.Fatalf("trial %s: %s %v", tr.ID, tr.State, tr.Err)
		}
		if len(tr.History) != 5 || !tr.Last.Done || tr.Last.Iteration != 5 {
			t.Fatalf("trial %s: %d results, last %+v", tr.ID, len(tr.History), tr.Last)
		}
		dirs, _ := filepath.Glob(filepath.Join(tr.Path, "checkpoint_*"))
		if len(dirs) != 2 {
			t.Fatalf("trial %s keeps %v, want the newest 2", tr.ID, dirs)
		}
		b, err := tr.Checkpoint.Bytes()
		if err != nil || string(b) != "5" {
			t.Fatalf("trial %s: last checkpoint %q %v", tr.ID, b, err)
		}
		lines, _ := os.ReadFile(filepath.Join(tr.Path, "result.jsonl"))
		if n := strings.Count(string(lines), "\n"); n != 5 {
			t.Fatalf("trial %s: result.jsonl has %d lines", tr.ID, n)
		}
	}
	best, err := grid.Best("", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if best.Params.Float("x") != 3 {
		t.Fatalf("best x = %v, want 3", best.Params.Float("x"))
	}
	for _, f := range []string{"experiment.json", "journal.bin", "results.csv", "results.json"} {
		if _, err := os.Stat(filepath.Join(grid.Path, f)); err != nil {
			t.Fatal(err)
		}
	}
}

// flaky fails once at iteration 3 on its first run (it knows a rerun by
// its checkpoint), always when p["always"] is set, and panics when
// p["panic"] is set.
var flaky = tune.Function("test.flaky", func(ctx context.Context, p tune.Params) error {
	p = p.Sub("case")
	start := 0
	if c := tune.GetCheckpoint(ctx); c != nil {
		b, _ := c.Bytes()
		start, _ = strconv.Atoi(string(b))
	}
	for i := start + 1; i <= 5; i++ {
		switch {
		case p.Bool("panic") && i == 2:
			panic("boom")
		case p.Bool("always") && i == 2:
			return errors.New("always fails")
		case p.Bool("once") && i == 3 && start == 0:
			return errors.New("fails once")
		case p.Bool("nometric") && i == 2:
			if err := tune.Report(ctx, tune.Metrics{"other": 1}, nil); err != nil {
				return err
			}
			continue
		}
		if err := tune.Report(ctx, tune.Metrics{"score": float64(i), "start": float64(start)}, tune.CheckpointFromBytes([]byte(strconv.Itoa(i)))); err != nil {
			return err
		}
	}
	return nil
})

func TestTrialFailures(t *testing.T) {
	ctx := context.Background()
	tn, err := tune.NewTuner(flaky, tune.Space{"case": tune.GridSearch(
		map[string]any{"name": "ok"}, map[string]any{"once": true}, map[string]any{"always": true},
		map[string]any{"panic": true}, map[string]any{"nometric": true})},
		tune.TuneConfig{Metric: "score", Mode: tune.Max},
		tune.RunConfig{StoragePath: tmpStorage(t), Name: "flaky", Quiet: true, FailureConfig: tune.FailureConfig{MaxFailures: 1}})
	if err != nil {
		t.Fatal(err)
	}
	grid, err := tn.Fit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byCase := map[string]*tune.TrialResult{}
	for _, tr := range grid.Trials {
		c := tr.Params.Sub("case")
		for k := range c {
			byCase[k] = tr
		}
	}
	if tr := byCase["name"]; tr.State != tune.Terminated || tr.Last.Iteration != 5 {
		t.Fatalf("healthy trial: %s %+v", tr.State, tr.Last)
	}
	once := byCase["once"]
	if once.State != tune.Terminated || once.Failures != 1 || once.Last.Iteration != 5 || once.Last.Metrics["start"] != 2 {
		t.Fatalf("fails-once trial: %s failures %d last %+v err %v", once.State, once.Failures, once.Last, once.Err)
	}
	for i, r := range once.History {
		if r.Iteration != i+1 {
			t.Fatalf("fails-once history has a gap: %+v", once.History)
		}
	}
	for _, c := range []string{"always", "panic"} {
		tr := byCase[c]
		if tr.State != tune.Errored || !errors.Is(tr.Err, tune.ErrTrialFailed) {
			t.Fatalf("%s: %s %v", c, tr.State, tr.Err)
		}
	}
	if tr := byCase["always"]; !strings.Contains(tr.Err.Error(), "always fails") || tr.Failures != 1 {
		t.Fatalf("always: %v (failures %d)", tr.Err, tr.Failures)
	}
	if tr := byCase["panic"]; !strings.Contains(tr.Err.Error(), "boom") {
		t.Fatalf("panic: %v", tr.Err)
	}
	if tr := byCase["nometric"]; tr.State != tune.Errored || !errors.Is(tr.Err, tune.ErrMissingMetric) {
		t.Fatalf("nometric: %s %v", tr.State, tr.Err)
	}
	if n := len(grid.Errors()); n != 3 {
		t.Fatalf("%d errors, want 3", n)
	}
}

func TestNewTunerBadInput(t *testing.T) {
	dir := tmpStorage(t)
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	late := tune.Function("test.late", func(context.Context, tune.Params) error { return nil })
	rc := tune.RunConfig{StoragePath: dir, Quiet: true}
	for _, c := range []struct {
		name  string
		tr    *tune.Trainable
		space tune.Space
		tc    tune.TuneConfig
		rc    tune.RunConfig
		want  error
	}{
		{"low above high", quadratic, tune.Space{"x": tune.Uniform(2, 1)}, tune.TuneConfig{}, rc, tune.ErrInvalidSpace},
		{"log of zero", quadratic, tune.Space{"x": tune.LogUniform(0, 1)}, tune.TuneConfig{}, rc, tune.ErrInvalidSpace},
		{"empty choice", quadratic, tune.Space{"x": tune.Choice()}, tune.TuneConfig{}, rc, tune.ErrInvalidSpace},
		{"registered after Init", late, tune.Space{}, tune.TuneConfig{}, rc, tune.ErrNotRegistered},
		{"metric without mode", quadratic, tune.Space{}, tune.TuneConfig{Metric: "loss"}, rc, tune.ErrInvalidConfig},
		{"bad mode", quadratic, tune.Space{}, tune.TuneConfig{Metric: "loss", Mode: "up"}, rc, tune.ErrInvalidConfig},
		{"storage under a file", quadratic, tune.Space{}, tune.TuneConfig{}, tune.RunConfig{StoragePath: filepath.Join(file, "x"), Quiet: true}, tune.ErrStorage},
		{"negative resources", quadratic.WithResources(tune.Resources{CPU: -1}), tune.Space{}, tune.TuneConfig{}, rc, tune.ErrInvalidConfig},
		{"negative samples", quadratic, tune.Space{}, tune.TuneConfig{NumSamples: -2}, rc, tune.ErrInvalidConfig},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := tune.NewTuner(c.tr, c.space, c.tc, c.rc)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestInfeasibleTrialFailsAtOnce(t *testing.T) {
	tn, err := tune.NewTuner(quadratic.WithResources(tune.Resources{CPU: 64}), tune.Space{"x": 1.0, "iters": 1}, tune.TuneConfig{},
		tune.RunConfig{StoragePath: tmpStorage(t), Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tn.Fit(context.Background()); !errors.Is(err, tune.ErrInfeasible) {
		t.Fatalf("got %v, want ErrInfeasible", err)
	}
}

func TestStopConditionAndTimeBudget(t *testing.T) {
	tn, err := tune.NewTuner(quadratic, tune.Space{"x": tune.Uniform(0, 6), "iters": 1000},
		tune.TuneConfig{NumSamples: 2, Metric: "loss", Mode: tune.Min},
		tune.RunConfig{StoragePath: tmpStorage(t), Quiet: true, Stop: tune.StopCondition{Iterations: 7}})
	if err != nil {
		t.Fatal(err)
	}
	grid, err := tn.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range grid.Trials {
		if tr.State != tune.Terminated || tr.Last.Iteration != 7 || len(tr.Decisions) == 0 || !strings.Contains(tr.Decisions[len(tr.Decisions)-1].Reason, "training_iteration") {
			t.Fatalf("trial %s: %s at %d, decisions %+v", tr.ID, tr.State, tr.Last.Iteration, tr.Decisions)
		}
	}
}

// slowForever reports every 10 ms until stopped.
var slowForever = tune.Function("test.slowForever", func(ctx context.Context, p tune.Params) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if err := tune.Report(ctx, tune.Metrics{"v": 1}, nil); err != nil {
			return err
		}
	}
})

func TestTimeBudgetStopsRunningTrials(t *testing.T) {
	tn, err := tune.NewTuner(slowForever, tune.Space{}, tune.TuneConfig{NumSamples: 4, TimeBudget: 300 * time.Millisecond},
		tune.RunConfig{StoragePath: tmpStorage(t), Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	grid, err := tn.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range grid.Trials {
		if tr.State != tune.Terminated && tr.State != tune.Pending {
			t.Fatalf("trial %s: %s %v", tr.ID, tr.State, tr.Err)
		}
	}
}

func TestReuseActors(t *testing.T) {
	tn, err := tune.NewTuner(quadratic, tune.Space{"x": tune.Uniform(0, 6), "iters": 2},
		tune.TuneConfig{NumSamples: 6, ReuseActors: true, Metric: "loss", Mode: tune.Min},
		tune.RunConfig{StoragePath: tmpStorage(t), Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	grid, err := tn.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(grid.Trials) != 6 {
		t.Fatalf("%d trials", len(grid.Trials))
	}
	for _, tr := range grid.Trials {
		if tr.State != tune.Terminated || tr.Last.Iteration != 2 {
			t.Fatalf("trial %s: %s %+v %v", tr.ID, tr.State, tr.Last, tr.Err)
		}
	}
}

var _ = math.Abs
var _ = fmt.Sprint
var _ = rayo.IsWorker
