package tune_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/tune"
)

// --- ScoreAttribute ---
var rvRising = tune.Function("regression.rising", func(ctx context.Context, p tune.Params) error {
	for i := 1; i <= 5; i++ {
		if err := tune.Report(ctx, tune.Metrics{"value": float64(i)}, tune.CheckpointFromBytes([]byte(strconv.Itoa(i)))); err != nil {
			return err
		}
	}
	return nil
})

func TestRegressionScoreAttribute(t *testing.T) {
	dir := t.TempDir()
	tn, err := tune.NewTuner(rvRising, tune.Space{}, tune.TuneConfig{Metric: "value", Mode: tune.Max},
		tune.RunConfig{Name: "x", StoragePath: dir, Quiet: true, CheckpointConfig: tune.CheckpointConfig{NumToKeep: 2, ScoreAttribute: "value", Order: tune.Min}})
	if err != nil {
		t.Fatal(err)
	}
	grid, err := tn.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tr := grid.Trials[0]
	ents, _ := os.ReadDir(filepath.Join(dir, "x", tr.ID))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	t.Logf("on disk: %v; best checkpoint iteration %d", names, tr.BestCheckpoint.Iteration)
	if tr.BestCheckpoint.Iteration != 1 {
		t.Errorf("BestCheckpoint by value (Min) should be iteration 1, got %d", tr.BestCheckpoint.Iteration)
	}
}

// --- a trainable that ignores its ctx and does not report: TimeBudget ---
var rvHung = tune.Function("regression.hung", func(ctx context.Context, p tune.Params) error {
	if err := tune.Report(ctx, tune.Metrics{"v": 1}, nil); err != nil {
		return err
	}
	time.Sleep(40 * time.Second) // a long, non-cancellable computation
	return tune.Report(ctx, tune.Metrics{"v": 2}, nil)
})

func TestRegressionHungTimeBudget(t *testing.T) {
	tn, err := tune.NewTuner(rvHung, tune.Space{}, tune.TuneConfig{NumSamples: 1, TimeBudget: 500 * time.Millisecond},
		tune.RunConfig{StoragePath: t.TempDir(), Quiet: true, StopTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = tn.Fit(context.Background())
	t.Logf("Fit returned after %v: %v", time.Since(start), err)
	if time.Since(start) > 20*time.Second {
		t.Errorf("Fit took %v with a 500ms TimeBudget and StopTimeout 1s", time.Since(start))
	}
}

// --- pause then resume of a function trainable: iteration labels ---
var rvEpochs = tune.Function("regression.epochs", func(ctx context.Context, p tune.Params) error {
	start := 0
	if c := tune.GetCheckpoint(ctx); c != nil {
		b, _ := c.Bytes()
		start, _ = strconv.Atoi(string(b))
	}
	for i := start + 1; i <= 6; i++ {
		var c *tune.Checkpoint
		if i%2 == 0 {
			c = tune.CheckpointFromBytes([]byte(strconv.Itoa(i)))
		}
		time.Sleep(10 * time.Millisecond)
		if err := tune.Report(ctx, tune.Metrics{"epoch": float64(i)}, c); err != nil {
			return err
		}
	}
	return nil
})

type pauseOnce struct {
	tune.Scheduler
	mu     sync.Mutex
	paused map[string]bool
}

func (s *pauseOnce) OnTrialResult(t tune.TrialInfo, r tune.Result) tune.Decision {
	s.Scheduler.OnTrialResult(t, r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Iteration == 3 && !s.paused[t.ID] {
		s.paused[t.ID] = true
		return tune.Decision{Action: tune.Pause, Reason: "review"}
	}
	return tune.Decision{Action: tune.Continue}
}

func TestRegressionPauseIterations(t *testing.T) {
	tn, err := tune.NewTuner(rvEpochs, tune.Space{}, tune.TuneConfig{Metric: "epoch", Mode: tune.Max, NumSamples: 1,
		Scheduler: &pauseOnce{Scheduler: tune.FIFO(), paused: map[string]bool{}}},
		tune.RunConfig{StoragePath: t.TempDir(), Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	grid, err := tn.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tr := grid.Trials[0]
	var s []string
	bad := false
	for _, r := range tr.History {
		s = append(s, strconv.Itoa(r.Iteration)+":"+strconv.Itoa(int(r.Metrics["epoch"])))
		bad = bad || r.Iteration != int(r.Metrics["epoch"])
	}
	t.Logf("state %s iteration:epoch %s", tr.State, strings.Join(s, " "))
	if bad {
		t.Errorf("results mislabelled after resume from pause")
	}
}

// --- exploit then driver death: Restore resumes from the wrong checkpoint ---
var rvOrigin = tune.Function("regression.origin", func(ctx context.Context, p tune.Params) error {
	tc, _ := tune.GetContext(ctx)
	origin, start := tc.TrialID, 0
	if c := tune.GetCheckpoint(ctx); c != nil {
		b, _ := c.Bytes()
		f := strings.SplitN(string(b), ":", 2)
		origin = f[0]
		start, _ = strconv.Atoi(f[1])
	}
	for i := start + 1; i <= 30; i++ {
		var c *tune.Checkpoint
		if i <= 2 {
			c = tune.CheckpointFromBytes([]byte(origin + ":" + strconv.Itoa(i)))
		}
		self := 0.0
		if origin == tc.TrialID {
			self = 1
		}
		time.Sleep(20 * time.Millisecond)
		if err := tune.Report(ctx, tune.Metrics{"self": self}, c); err != nil {
			return err
		}
	}
	return nil
})

type exploitOnce struct {
	tune.Scheduler
	mu   sync.Mutex
	done bool
}

func (s *exploitOnce) OnTrialResult(t tune.TrialInfo, r tune.Result) tune.Decision {
	s.Scheduler.OnTrialResult(t, r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.ID == "trial_00001" && r.Iteration == 5 && !s.done {
		s.done = true
		return tune.Decision{Action: tune.Exploit, Source: "trial_00000", Params: t.Params, Reason: "review"}
	}
	return tune.Decision{Action: tune.Continue}
}

func TestRegressionExploitRestore(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tn, err := tune.NewTuner(rvOrigin, tune.Space{"g": tune.GridSearch(1, 2)}, tune.TuneConfig{Metric: "self", Mode: tune.Max, MaxConcurrentTrials: 2,
		Scheduler: &exploitOnce{Scheduler: tune.FIFO()}},
		tune.RunConfig{Name: "e", StoragePath: dir, Quiet: true, Stop: tune.StopCondition{Func: func(id string, r tune.Result) bool {
			if id == "trial_00001" && r.Iteration == 9 {
				cancel()
			}
			return false
		}}})
	if err != nil {
		t.Fatal(err)
	}
	grid, err := tn.Fit(ctx)
	t.Logf("first Fit: %v", err)
	for _, tr := range grid.Trials {
		if tr.Last != nil {
			t.Logf("  %s %s last it %d self %v", tr.ID, tr.State, tr.Last.Iteration, tr.Last.Metrics["self"])
		}
	}
	tn, err = tune.Restore(filepath.Join(dir, "e"), rvOrigin, tune.Space{"g": tune.GridSearch(1, 2)}, tune.TuneConfig{MaxConcurrentTrials: 2},
		tune.WithRunConfig(func(rc *tune.RunConfig) { rc.Quiet = true }))
	if err != nil {
		t.Fatal(err)
	}
	grid, err = tn.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range grid.Trials {
		t.Logf("  %s %s last it %d self %v", tr.ID, tr.State, tr.Last.Iteration, tr.Last.Metrics["self"])
		if tr.ID == "trial_00001" && tr.Last.Metrics["self"] != 0 {
			t.Errorf("trial_00001 exploited trial_00000's weights, but after Restore it resumed from its own pre-exploit checkpoint")
		}
	}
}

func TestRegressionPendingAfterRestoreLosesCheckpoint(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	n := 0
	tn, err := tune.NewTuner(steps, stepsSpace(), tune.TuneConfig{NumSamples: 2, MaxConcurrentTrials: 2, Seed: 7, Metric: "loss", Mode: tune.Min},
		tune.RunConfig{Name: "p", StoragePath: dir, Quiet: true, Stop: tune.StopCondition{Func: func(string, tune.Result) bool {
			mu.Lock()
			defer mu.Unlock()
			if n++; n == 12 {
				cancel()
			}
			return false
		}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tn.Fit(ctx)
	t.Logf("first: %v", err)
	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	tn, err = tune.Restore(filepath.Join(dir, "p"), steps, stepsSpace(), tune.TuneConfig{MaxConcurrentTrials: 1},
		tune.WithRunConfig(func(rc *tune.RunConfig) {
			rc.Quiet = true
			rc.Stop.Func = func(string, tune.Result) bool { cancelA(); return false }
		}))
	if err != nil {
		t.Fatal(err)
	}
	g, err := tn.Fit(ctxA)
	t.Logf("second: %v", err)
	for _, tr := range g.Trials {
		t.Logf("  %s %s", tr.ID, tr.State)
	}
	tn, err = tune.Restore(filepath.Join(dir, "p"), steps, stepsSpace(), tune.TuneConfig{}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	g, err = tn.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range g.Trials {
		t.Logf("  %s %s last iteration %d iter %v start %v", tr.ID, tr.State, tr.Last.Iteration, tr.Last.Metrics["iter"], tr.Last.Metrics["start"])
		if tr.Last.Iteration != int(tr.Last.Metrics["iter"]) {
			t.Errorf("%s: restarted from scratch but numbered from its checkpoint", tr.ID)
		}
	}
}

var rvDirCkpt = tune.Function("regression.dirckpt", func(ctx context.Context, p tune.Params) error {
	d, err := os.MkdirTemp("", "rv")
	if err != nil {
		return err
	}
	defer os.RemoveAll(d)
	os.WriteFile(filepath.Join(d, "checkpoint.bin"), []byte("weights"), 0o600)
	os.WriteFile(filepath.Join(d, "meta.json"), []byte("{}"), 0o600)
	return tune.Report(ctx, tune.Metrics{"v": 1}, tune.CheckpointFromDir(d))
})

func TestRegressionDirCheckpointNamedCheckpointBin(t *testing.T) {
	tn, err := tune.NewTuner(rvDirCkpt, tune.Space{}, tune.TuneConfig{}, tune.RunConfig{StoragePath: t.TempDir(), Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	g, err := tn.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := g.Trials[0].Checkpoint
	if c == nil || !c.IsDir() {
		t.Errorf("a directory checkpoint comes back as a bytes checkpoint: %+v", c)
	}
}

type rvClass struct {
	marker  string
	inStep  atomic.Bool
	cleaned bool
}

func (c *rvClass) Setup(_ context.Context, p tune.Params) error {
	c.marker = p.String("marker")
	return nil
}
func (c *rvClass) Step(ctx context.Context) (tune.Metrics, error) {
	if c.cleaned {
		os.WriteFile(c.marker+".stepaftercleanup", nil, 0o600)
	}
	c.inStep.Store(true)
	time.Sleep(300 * time.Millisecond)
	c.inStep.Store(false)
	return tune.Metrics{"v": 1}, nil
}
func (c *rvClass) Save(context.Context) (*tune.Checkpoint, error) {
	return tune.CheckpointFromBytes([]byte("x")), nil
}
func (c *rvClass) Load(context.Context, *tune.Checkpoint) error { return nil }
func (c *rvClass) Reset(_ context.Context, p tune.Params) error {
	if c.cleaned {
		os.WriteFile(c.marker+".resetaftercleanup", nil, 0o600)
	}
	c.marker = p.String("marker")
	return nil
}
func (c *rvClass) Cleanup(context.Context) error {
	if c.inStep.Load() {
		os.WriteFile(c.marker+".cleanupduringstep", nil, 0o600)
	}
	c.cleaned = true
	return nil
}

var rvClassT = tune.Class("regression.class", func() tune.ClassTrainable { return &rvClass{} })

func TestRegressionClassCleanup(t *testing.T) {
	d := t.TempDir()
	m := filepath.Join(d, "m")
	tn, err := tune.NewTuner(rvClassT, tune.Space{"marker": m}, tune.TuneConfig{NumSamples: 1, TimeBudget: 500 * time.Millisecond},
		tune.RunConfig{StoragePath: t.TempDir(), Quiet: true, StopTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tn.Fit(context.Background()); err != nil {
		t.Fatal(err)
	}
	tn, err = tune.NewTuner(rvClassT, tune.Space{"marker": m}, tune.TuneConfig{NumSamples: 2, MaxConcurrentTrials: 1, ReuseActors: true},
		tune.RunConfig{StoragePath: t.TempDir(), Quiet: true, Stop: tune.StopCondition{Iterations: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tn.Fit(context.Background()); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(d)
	for _, e := range ents {
		t.Errorf("marker: %s", e.Name())
	}
}

func TestRegressionSecondRestoreRevivesErrors(t *testing.T) {
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	tn, err := tune.NewTuner(gated, tune.Space{"gate": gate}, tune.TuneConfig{NumSamples: 2},
		tune.RunConfig{Name: "gated", StoragePath: dir, Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tn.Fit(context.Background()); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(gate, nil, 0o600)
	tn, _ = tune.Restore(filepath.Join(dir, "gated"), gated, tune.Space{"gate": gate}, tune.TuneConfig{}, quiet, tune.RestartErrored())
	g, err := tn.Fit(context.Background())
	if err != nil || len(g.Errors()) != 0 {
		t.Fatalf("%v %v", err, g.Errors())
	}
	tn, _ = tune.Restore(filepath.Join(dir, "gated"), gated, tune.Space{"gate": gate}, tune.TuneConfig{}, quiet)
	g, err = tn.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range g.Trials {
		if tr.Err != nil {
			t.Errorf("%s: %s but Err %v after a second Restore", tr.ID, tr.State, tr.Err)
		}
	}
}

func TestRegressionInfeasibleBurnsName(t *testing.T) {
	dir := t.TempDir()
	big := rvRising.WithResources(tune.Resources{CPU: 64})
	tn, _ := tune.NewTuner(big, tune.Space{}, tune.TuneConfig{}, tune.RunConfig{Name: "n", StoragePath: dir, Quiet: true})
	_, err := tn.Fit(context.Background())
	t.Logf("first: %v", err)
	tn, _ = tune.NewTuner(rvRising, tune.Space{}, tune.TuneConfig{}, tune.RunConfig{Name: "n", StoragePath: dir, Quiet: true})
	if _, err := tn.Fit(context.Background()); err != nil {
		t.Errorf("after an ErrInfeasible Fit that ran nothing, the same Name is refused: %v", err)
	}
}

var rvDirFail = tune.Function("regression.dirfail", func(ctx context.Context, p tune.Params) error {
	if tune.GetCheckpoint(ctx) == nil {
		d, _ := os.MkdirTemp("", "rvsrc")
		defer os.RemoveAll(d)
		os.WriteFile(filepath.Join(d, "w"), make([]byte, 1000), 0o600)
		if err := tune.Report(ctx, tune.Metrics{"v": 1}, tune.CheckpointFromDir(d)); err != nil {
			return err
		}
	}
	return errors.New("boom")
})

func TestRegressionTempCopyLeak(t *testing.T) {
	before, _ := filepath.Glob(filepath.Join(os.TempDir(), "rayo-tune-ckpt-*"))
	tn, _ := tune.NewTuner(rvDirFail, tune.Space{}, tune.TuneConfig{NumSamples: 3},
		tune.RunConfig{StoragePath: t.TempDir(), Quiet: true, FailureConfig: tune.FailureConfig{MaxFailures: 1}})
	g, err := tn.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	after, _ := filepath.Glob(filepath.Join(os.TempDir(), "rayo-tune-ckpt-*"))
	t.Logf("states %s; temp copies before %d after %d", g.Trials[0].State, len(before), len(after))
	if len(after) > len(before) {
		t.Errorf("leaked %d local checkpoint copies", len(after)-len(before))
	}
}

var rvOriginFail = tune.Function("regression.originfail", func(ctx context.Context, p tune.Params) error {
	tc, _ := tune.GetContext(ctx)
	origin, start := tc.TrialID, 0
	if c := tune.GetCheckpoint(ctx); c != nil {
		b, _ := c.Bytes()
		f := strings.SplitN(string(b), ":", 2)
		origin = f[0]
		start, _ = strconv.Atoi(f[1])
	}
	for i := start + 1; i <= 12; i++ {
		var c *tune.Checkpoint
		if i <= 2 {
			c = tune.CheckpointFromBytes([]byte(origin + ":" + strconv.Itoa(i)))
		}
		self := 0.0
		if origin == tc.TrialID {
			self = 1
		}
		if origin != tc.TrialID && tc.Iteration >= 7 {
			if _, err := os.Stat(p.String("marker")); err != nil {
				os.WriteFile(p.String("marker"), nil, 0o600)
				return errors.New("injected failure after exploit")
			}
		}
		time.Sleep(20 * time.Millisecond)
		if err := tune.Report(ctx, tune.Metrics{"self": self}, c); err != nil {
			return err
		}
		tc, _ = tune.GetContext(ctx)
	}
	return nil
})

func TestRegressionExploitThenFailure(t *testing.T) {
	m := filepath.Join(t.TempDir(), "marker")
	tn, err := tune.NewTuner(rvOriginFail, tune.Space{"g": tune.GridSearch(1, 2), "marker": m}, tune.TuneConfig{Metric: "self", Mode: tune.Max, MaxConcurrentTrials: 2,
		Scheduler: &exploitOnce{Scheduler: tune.FIFO()}},
		tune.RunConfig{StoragePath: t.TempDir(), Quiet: true, FailureConfig: tune.FailureConfig{MaxFailures: 2}})
	if err != nil {
		t.Fatal(err)
	}
	g, err := tn.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tr := g.Trials[1]
	var s []string
	for _, r := range tr.History {
		s = append(s, strconv.Itoa(r.Iteration)+":"+strconv.Itoa(int(r.Metrics["self"])))
	}
	t.Logf("%s %s failures %d; iteration:self %s", tr.ID, tr.State, tr.Failures, strings.Join(s, " "))
	for _, d := range tr.Decisions {
		t.Logf("  decision %+v", d)
	}
}
