package tune_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/tune"
)

// --- (f) Restore of a space whose values are slices, maps or named types ---

var rv2Quick = tune.Function("regression2.quick", func(ctx context.Context, p tune.Params) error {
	return tune.Report(ctx, tune.Metrics{"v": 1}, nil)
})

// Choice's doc says values may be "numbers, strings, bools, slices, maps";
// the replay check compares the searcher's fresh Go values with the
// journal's msgpack-decoded ones ([]any of int8, map[string]any, int64 for
// a Duration) and refuses the Restore.
func TestRegression2RestoreNonScalarValues(t *testing.T) {
	spaces := map[string]func() tune.Space{
		"slices":   func() tune.Space { return tune.Space{"layers": tune.GridSearch([]int{32, 32}, []int{64})} },
		"strings":  func() tune.Space { return tune.Space{"acts": tune.GridSearch([]string{"relu", "tanh"})} },
		"maps":     func() tune.Space { return tune.Space{"opt": tune.GridSearch(map[string]any{"name": "sgd", "lr": 1})} },
		"duration": func() tune.Space { return tune.Space{"wait": tune.GridSearch(time.Millisecond)} },
	}
	for name, space := range spaces {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			tn, err := tune.NewTuner(rv2Quick, space(), tune.TuneConfig{}, tune.RunConfig{Name: "s", StoragePath: dir, Quiet: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tn.Fit(context.Background()); err != nil {
				t.Fatal(err)
			}
			tn, err = tune.Restore(filepath.Join(dir, "s"), rv2Quick, space(), tune.TuneConfig{}, quiet)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tn.Fit(context.Background()); err != nil {
				t.Errorf("Restore of a finished experiment with the same space and searcher refused: %v", err)
			}
		})
	}
}

// --- (g) launch leaves the trial waiting when its checkpoint cannot be
// put because ctx is cancelled; fill picks it again at once: a busy loop
// that never reaches run's select on ctx.Done ---

type cancelOnChoose struct {
	tune.Scheduler
	cancel func()
	calls  atomic.Int64
}

func (s *cancelOnChoose) ChooseTrialToRun(w []tune.TrialInfo) string {
	n := s.calls.Add(1)
	s.cancel() // stands for the user's cancel landing while fill runs
	if n > 1000 {
		return "review2-bogus" // ends the spin: Fit fails with "not waiting"
	}
	return s.Scheduler.ChooseTrialToRun(w)
}

func TestRegression2CancelWhileLaunchingSpins(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var n atomic.Int64
	tn, err := tune.NewTuner(steps, stepsSpace(), tune.TuneConfig{NumSamples: 1, Seed: 7, Metric: "loss", Mode: tune.Min},
		tune.RunConfig{Name: "c", StoragePath: dir, Quiet: true, Stop: tune.StopCondition{Func: func(string, tune.Result) bool {
			if n.Add(1) == 5 {
				cancel()
			}
			return false
		}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tn.Fit(ctx)
	t.Logf("first Fit: %v", err)

	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	s := &cancelOnChoose{Scheduler: tune.FIFO(), cancel: cancel2}
	tn, err = tune.Restore(filepath.Join(dir, "c"), steps, stepsSpace(), tune.TuneConfig{Scheduler: s}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tn.Fit(ctx2)
	t.Logf("restored Fit: %v after %d ChooseTrialToRun calls", err, s.calls.Load())
	if s.calls.Load() > 10 || !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled Fit spun in fill: %d ChooseTrialToRun calls, err %v (want context.Canceled)", s.calls.Load(), err)
	}
}

// --- (a) a stop that arrives while the actor is still in start (a class
// trainable's long Setup) finds no run, answers clean, and is never
// followed by a kill: TimeBudget waits for Setup and one Step ---

type rv2SlowSetup struct{}

func (c *rv2SlowSetup) Setup(context.Context, tune.Params) error {
	time.Sleep(30 * time.Second) // loading a data set; ignores ctx
	return nil
}
func (c *rv2SlowSetup) Step(context.Context) (tune.Metrics, error) { return tune.Metrics{"v": 1}, nil }
func (c *rv2SlowSetup) Save(context.Context) (*tune.Checkpoint, error) {
	return tune.CheckpointFromBytes([]byte("x")), nil
}
func (c *rv2SlowSetup) Load(context.Context, *tune.Checkpoint) error { return nil }

var rv2SlowSetupT = tune.Class("regression2.slowsetup", func() tune.ClassTrainable { return &rv2SlowSetup{} })

func TestRegression2TimeBudgetDuringSetup(t *testing.T) {
	tn, err := tune.NewTuner(rv2SlowSetupT, tune.Space{}, tune.TuneConfig{NumSamples: 1, TimeBudget: 2 * time.Second},
		tune.RunConfig{StoragePath: t.TempDir(), Quiet: true, StopTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = tn.Fit(context.Background())
	t.Logf("Fit returned after %v: %v", time.Since(start), err)
	if time.Since(start) > 25*time.Second {
		t.Errorf("Fit took %v with a 2s TimeBudget: the stop during Setup was a no-op and no kill followed", time.Since(start))
	}
}

// --- (g) a driver-side storage failure (here a checkpoint path too long
// for the driver's storage) fails Fit, but is also charged to the trial:
// with MaxFailures 0 it is journalled ERROR, so a plain Restore does not
// resume it ---

var rv2DeepCkpt = tune.Function("regression2.deepckpt", func(ctx context.Context, p tune.Params) error {
	d, err := os.MkdirTemp("", "r2")
	if err != nil {
		return err
	}
	defer os.RemoveAll(d)
	deep := d
	for range 16 {
		deep = filepath.Join(deep, strings.Repeat("d", 250))
	}
	if err := os.MkdirAll(deep, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(deep, "w"), []byte("x"), 0o600); err != nil {
		return err
	}
	return tune.Report(ctx, tune.Metrics{"v": 1}, tune.CheckpointFromDir(d))
})

func TestRegression2StorageFailureChargedToTrial(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("s", 200))
	tn, err := tune.NewTuner(rv2DeepCkpt, tune.Space{}, tune.TuneConfig{NumSamples: 1},
		tune.RunConfig{Name: "x", StoragePath: dir, Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	g, err := tn.Fit(context.Background())
	if !errors.Is(err, tune.ErrStorage) {
		t.Fatalf("want ErrStorage from Fit, got %v", err)
	}
	tr := g.Trials[0]
	t.Logf("Fit: ErrStorage; trial %s, failures %d", tr.State, tr.Failures)
	if tr.State == tune.Errored {
		t.Errorf("the driver's storage failure left the trial ERROR: a Restore without ResumeErrored will not resume it")
	}
}

// --- (f) a Restore refused by the replay check has already written to
// the journal: open runs resumeTrials (journalled) before Fit looks at
// r.fatal, so RestartErrored is applied although that Restore failed ---

func TestRegression2RefusedRestoreWritesJournal(t *testing.T) {
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	space := func() tune.Space { return tune.Space{"gate": gate, "x": tune.Uniform(0, 1)} }
	tn, err := tune.NewTuner(gated, space(), tune.TuneConfig{NumSamples: 1}, tune.RunConfig{Name: "g", StoragePath: dir, Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tn.Fit(context.Background()); err != nil {
		t.Fatal(err)
	}
	jf := filepath.Join(dir, "g", "journal.bin")
	before, _ := os.Stat(jf)
	// A searcher not built as the first run's: rightly refused...
	tn, err = tune.Restore(filepath.Join(dir, "g"), gated, space(),
		tune.TuneConfig{SearchAlg: tune.BasicVariantGenerator(tune.BasicConfig{Seed: 5})}, quiet, tune.RestartErrored())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tn.Fit(context.Background()); !errors.Is(err, tune.ErrInvalidConfig) {
		t.Fatalf("want the replay check's ErrInvalidConfig, got %v", err)
	}
	after, _ := os.Stat(jf)
	// ...but its RestartErrored is in the journal: a plain Restore now
	// restarts the errored trial.
	os.WriteFile(gate, nil, 0o600)
	tn, err = tune.Restore(filepath.Join(dir, "g"), gated, space(), tune.TuneConfig{}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	g, err := tn.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("journal %d -> %d bytes over the refused Restore; then a plain Restore leaves the trial %s", before.Size(), after.Size(), g.Trials[0].State)
	if after.Size() != before.Size() || g.Trials[0].State != tune.Errored {
		t.Errorf("a refused Restore changed the experiment")
	}
}

// --- (e) a class instance whose Load fails after Setup is never cleaned
// up: a.cls was cleared before Reset/Setup and is set only after Load ---

type rv2LoadFails struct{ dir string }

func (c *rv2LoadFails) Setup(_ context.Context, p tune.Params) error {
	c.dir = p.String("dir")
	f, _ := os.CreateTemp(c.dir, "setup-")
	f.Close()
	return nil
}
func (c *rv2LoadFails) Step(ctx context.Context) (tune.Metrics, error) {
	tc, _ := tune.GetContext(ctx)
	if tc.Iteration >= 1 {
		return nil, errors.New("step fails after the first")
	}
	return tune.Metrics{"v": 1}, nil
}
func (c *rv2LoadFails) Save(context.Context) (*tune.Checkpoint, error) {
	return tune.CheckpointFromBytes([]byte("x")), nil
}
func (c *rv2LoadFails) Load(context.Context, *tune.Checkpoint) error {
	return errors.New("bad checkpoint")
}
func (c *rv2LoadFails) Cleanup(context.Context) error {
	f, _ := os.CreateTemp(c.dir, "cleanup-")
	f.Close()
	return nil
}

var rv2LoadFailsT = tune.Class("regression2.loadfails", func() tune.ClassTrainable { return &rv2LoadFails{} })

func TestRegression2CleanupAfterLoadFailure(t *testing.T) {
	d := t.TempDir()
	tn, err := tune.NewTuner(rv2LoadFailsT, tune.Space{"dir": d}, tune.TuneConfig{NumSamples: 1},
		tune.RunConfig{StoragePath: t.TempDir(), Quiet: true, FailureConfig: tune.FailureConfig{MaxFailures: 1},
			CheckpointConfig: tune.CheckpointConfig{Frequency: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tn.Fit(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Fit returns once its actors are closed and killed.
	setups, _ := filepath.Glob(filepath.Join(d, "setup-*"))
	cleanups, _ := filepath.Glob(filepath.Join(d, "cleanup-*"))
	t.Logf("%d Setups, %d Cleanups", len(setups), len(cleanups))
	if len(setups) != len(cleanups) {
		t.Errorf("an instance set up was never cleaned up")
	}
}
