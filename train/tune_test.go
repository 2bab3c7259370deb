package train_test

import (
	"context"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/train"
	"github.com/rayo-dev/rayo/tune"
)

// trialTrainer is a Tune trainable whose trials are each a 2-worker
// training run of sumLoop with the trial's steps.
var trialTrainer = tune.Function("train_test.trial", func(ctx context.Context, p tune.Params) error {
	cfg := defaults("steps", p.Int("steps"))
	tr := &train.DataParallelTrainer{Loop: sumLoop, LoopConfig: cfg,
		Scaling: train.ScalingConfig{NumWorkers: 2, ResourcesPerWorker: map[string]float64{"CPU": 0.5}, PlacementTimeout: time.Minute},
		Run:     train.RunConfig{StoragePath: p.String("storage")}}
	_, err := tr.Fit(ctx)
	return err
}).WithResources(tune.Resources{CPU: 0.01})

func TestTrainerAsTuneTrainable(t *testing.T) {
	storage := t.TempDir()
	tn, err := tune.NewTuner(trialTrainer, tune.Space{"steps": tune.GridSearch(2, 3), "storage": storage},
		tune.TuneConfig{Metric: "total", Mode: tune.Max, MaxConcurrentTrials: 1},
		tune.RunConfig{Name: "tt", StoragePath: t.TempDir(), Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	grid, err := tn.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if errs := grid.Errors(); len(errs) > 0 {
		t.Fatal(errs)
	}
	best, err := grid.Best("total", tune.Max, tune.ScopeLast)
	if err != nil {
		t.Fatal(err)
	}
	if best.Last.Metrics["total"] != want(3, 2) || best.Last.Metrics["step"] != 2 {
		t.Fatalf("best trial's result %+v", best.Last)
	}
	if best.Checkpoint == nil {
		t.Fatal("the trial has no checkpoint: train's checkpoints did not reach Tune")
	}
}
