package tune_test

import (
	"context"
	"encoding/binary"
	"math"
	"testing"

	"github.com/rayo-dev/rayo/tune"
)

// counter is a class trainable: its state is a value that grows by "lr"
// per step, carried in its checkpoints; "resets" counts Reset calls so
// that actor reuse shows.
type counter struct {
	lr, value float64
	steps     int
	restored  float64
}

var counterTrainable = tune.Class("test.counter", func() tune.ClassTrainable { return &counter{} })

func (c *counter) Setup(_ context.Context, p tune.Params) error {
	c.lr = p.Float("lr")
	return nil
}

func (c *counter) Step(context.Context) (tune.Metrics, error) {
	c.value += c.lr
	c.steps++
	m := tune.Metrics{"value": c.value, "restored": c.restored}
	if c.steps >= 30 {
		return m, tune.ErrDone
	}
	return m, nil
}

func (c *counter) Save(context.Context) (*tune.Checkpoint, error) {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], math.Float64bits(c.value))
	binary.LittleEndian.PutUint64(b[8:], uint64(c.steps))
	return tune.CheckpointFromBytes(b[:]), nil
}

func (c *counter) Load(_ context.Context, ck *tune.Checkpoint) error {
	b, err := ck.Bytes()
	if err != nil {
		return err
	}
	c.value = math.Float64frombits(binary.LittleEndian.Uint64(b))
	c.steps = int(binary.LittleEndian.Uint64(b[8:]))
	c.restored = c.value
	return nil
}

func (c *counter) Reset(_ context.Context, p tune.Params) error {
	*c = counter{lr: p.Float("lr")}
	return nil
}

func TestClassTrainableWithCheckpointFrequency(t *testing.T) {
	tn, err := tune.NewTuner(counterTrainable, tune.Space{"lr": tune.GridSearch(1.0, 2.0)}, tune.TuneConfig{Metric: "value", Mode: tune.Max, ReuseActors: true},
		tune.RunConfig{StoragePath: t.TempDir(), Quiet: true, CheckpointConfig: tune.CheckpointConfig{Frequency: 10, AtEnd: true, NumToKeep: 1, ScoreAttribute: "value"}})
	if err != nil {
		t.Fatal(err)
	}
	grid, err := tn.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range grid.Trials {
		if tr.State != tune.Terminated || tr.Last.Iteration != 30 || tr.Last.Metrics["value"] != 30*tr.Params.Float("lr") {
			t.Fatalf("trial %s: %s %+v %v", tr.ID, tr.State, tr.Last, tr.Err)
		}
		if tr.Checkpoint == nil || tr.Checkpoint.Iteration != 30 {
			t.Fatalf("trial %s: checkpoint %+v", tr.ID, tr.Checkpoint)
		}
	}
}

// HyperBand pauses trials at its milestones and resumes the promoted ones
// from their checkpoints; the others stop.
func TestHyperBandPausesAndResumes(t *testing.T) {
	tn, err := tune.NewTuner(counterTrainable, tune.Space{"lr": tune.Uniform(0.1, 1)},
		tune.TuneConfig{Metric: "value", Mode: tune.Max, NumSamples: 9, MaxConcurrentTrials: 2, Seed: 3,
			Scheduler: tune.HyperBand(tune.HyperBandConfig{MaxT: 27, ReductionFactor: 3})},
		tune.RunConfig{StoragePath: t.TempDir(), Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	grid, err := tn.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	paused, resumed, stopped := 0, 0, 0
	for _, tr := range grid.Trials {
		if tr.State != tune.Terminated {
			t.Fatalf("trial %s: %s %v", tr.ID, tr.State, tr.Err)
		}
		for _, d := range tr.Decisions {
			switch d.Action {
			case "pause":
				paused++
			case "stop":
				stopped++
			}
		}
		for _, r := range tr.History {
			if r.Metrics["restored"] > 0 {
				resumed++
				break
			}
		}
		// A resumed trial goes on from its checkpoint: value is lr per step.
		if got, want := tr.Last.Metrics["value"], float64(tr.Last.Iteration)*tr.Params.Float("lr"); math.Abs(got-want) > 1e-9 {
			t.Fatalf("trial %s: value %v at iteration %d, want %v", tr.ID, got, tr.Last.Iteration, want)
		}
	}
	if paused == 0 || resumed == 0 || stopped == 0 {
		t.Fatalf("paused %d, resumed %d, stopped %d: want each > 0", paused, resumed, stopped)
	}
}

// PBT's exploit restarts a trial from a better trial's checkpoint with
// perturbed params.
func TestPBTExploitsOnActors(t *testing.T) {
	tn, err := tune.NewTuner(counterTrainable, tune.Space{"lr": tune.Uniform(0.1, 1)},
		tune.TuneConfig{Metric: "value", Mode: tune.Max, NumSamples: 4, Seed: 5, ReuseActors: true,
			Scheduler: tune.PBT(tune.PBTConfig{PerturbationInterval: 5, HyperparamMutations: tune.Space{"lr": tune.Uniform(0.1, 1)}, Seed: 5})},
		tune.RunConfig{StoragePath: t.TempDir(), Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	grid, err := tn.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	exploits := 0
	for _, tr := range grid.Trials {
		if tr.State != tune.Terminated {
			t.Fatalf("trial %s: %s %v", tr.ID, tr.State, tr.Err)
		}
		for _, d := range tr.Decisions {
			if d.Action == "exploit" {
				exploits++
				if d.Source == "" || d.Reason == "" {
					t.Fatalf("exploit without source or reason: %+v", d)
				}
			}
		}
	}
	if exploits == 0 {
		t.Fatal("no exploit")
	}
}
