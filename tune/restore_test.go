package tune_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/tune"
)

// The SIGKILL test runs a driver in a child process (this test binary
// with tuneDriverEnv set), kills it with SIGKILL in the middle of an
// experiment, and restores the experiment here.
const (
	tuneDriverEnv   = "RAYO_TUNE_TEST_DRIVER"
	killedIters     = 20
	killedTrials    = 8
	killAfterResult = 30
)

// steps reports killedIters results, 10 ms apart, each with a checkpoint
// of its iteration; "start" says where it resumed from.
var steps = tune.Function("test.steps", func(ctx context.Context, p tune.Params) error {
	start := 0
	if c := tune.GetCheckpoint(ctx); c != nil {
		b, _ := c.Bytes()
		start, _ = strconv.Atoi(string(b))
	}
	for i := start + 1; i <= killedIters; i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		m := tune.Metrics{"iter": float64(i), "start": float64(start), "loss": p.Float("x") / float64(i)}
		if err := tune.Report(ctx, m, tune.CheckpointFromBytes([]byte(strconv.Itoa(i)))); err != nil {
			return err
		}
	}
	return nil
})

var quiet = tune.WithRunConfig(func(rc *tune.RunConfig) { rc.Quiet = true })

func stepsSpace() tune.Space { return tune.Space{"x": tune.Uniform(0, 10)} }

func stepsConfig() tune.TuneConfig {
	return tune.TuneConfig{NumSamples: killedTrials, MaxConcurrentTrials: 2, Seed: 7, Metric: "loss", Mode: tune.Min}
}

// killedDriver is the child: it runs the experiment and prints a line per
// result, until the parent kills it.
func killedDriver() int {
	ctx := context.Background()
	dir := os.Getenv(tuneDriverEnv)
	if err := rayo.Init(ctx, rayo.WithNumCPUs(2), rayo.WithLogToDriver(false), rayo.WithTempDir(filepath.Join(dir, "tmp"))); err != nil {
		fmt.Println("init:", err)
		return 1
	}
	defer rayo.Shutdown()
	var n atomic.Int64
	tn, err := tune.NewTuner(steps, stepsSpace(), stepsConfig(), tune.RunConfig{Name: "killed", StoragePath: dir, Quiet: true,
		Stop: tune.StopCondition{Func: func(string, tune.Result) bool {
			fmt.Printf("RESULT %d\n", n.Add(1))
			return false
		}}})
	if err != nil {
		fmt.Println("tuner:", err)
		return 1
	}
	if _, err := tn.Fit(ctx); err != nil {
		fmt.Println("fit:", err)
		return 1
	}
	fmt.Println("FINISHED")
	return 0
}

func TestRestoreAfterDriverSIGKILL(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), tuneDriverEnv+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its workers die with it
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
		}
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if n, ok := strings.CutPrefix(line, "RESULT "); ok {
			if k, _ := strconv.Atoi(n); k >= killAfterResult {
				break
			}
			continue
		}
		t.Fatalf("the driver said %q before it was killed", line)
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed = true
	_ = cmd.Wait()

	path := filepath.Join(dir, "killed")
	if !tune.CanRestore(path) {
		t.Fatalf("CanRestore(%s) = false", path)
	}
	tn, err := tune.Restore(path, steps, stepsSpace(), tune.TuneConfig{}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	grid, err := tn.Fit(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// The same experiment, never killed: the restored one must have made
	// the same trials (the searcher went on where it was).
	ref, err := tune.NewTuner(steps, stepsSpace(), stepsConfig(), tune.RunConfig{Name: "reference", StoragePath: dir, Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref.Fit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(grid.Trials) != killedTrials || len(want.Trials) != killedTrials {
		t.Fatalf("%d trials restored, %d in the reference; want %d", len(grid.Trials), len(want.Trials), killedTrials)
	}
	resumed := 0
	for i, tr := range grid.Trials {
		if tr.State != tune.Terminated || tr.Err != nil {
			t.Fatalf("trial %s: %s %v", tr.ID, tr.State, tr.Err)
		}
		if got, w := tr.Params.Float("x"), want.Trials[i].Params.Float("x"); got != w {
			t.Fatalf("trial %s: x = %v after the restore, %v in the reference", tr.ID, got, w)
		}
		iters := make([]int, len(tr.History))
		for j, r := range tr.History {
			iters[j] = r.Iteration
			if int(r.Metrics["iter"]) != r.Iteration {
				t.Fatalf("trial %s: result %d says iter %v", tr.ID, r.Iteration, r.Metrics["iter"])
			}
			if r.Metrics["start"] > 0 && r.Metrics["start"] < float64(killedIters) {
				resumed++
			}
		}
		if len(iters) != killedIters || !slices.IsSorted(iters) || iters[0] != 1 {
			t.Fatalf("trial %s: iterations %v", tr.ID, iters)
		}
	}
	if resumed == 0 {
		t.Fatal("no trial resumed from a checkpoint")
	}
}

// TestRestoreAfterCancel: a cancelled Fit leaves the experiment
// resumable, with the same options as after a crash.
func TestRestoreAfterCancel(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int64
	tn, err := tune.NewTuner(steps, stepsSpace(), stepsConfig(), tune.RunConfig{Name: "cancelled", StoragePath: dir, Quiet: true,
		Stop: tune.StopCondition{Func: func(string, tune.Result) bool {
			if n.Add(1) == 15 {
				cancel()
			}
			return false
		}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tn.Fit(ctx); err == nil {
		t.Fatal("a cancelled Fit returned no error")
	}
	if _, err := tune.Restore(filepath.Join(dir, "cancelled"), steps, stepsSpace(), tune.TuneConfig{Seed: 99}); err == nil {
		t.Fatal("Restore took a different seed")
	}
	tn, err = tune.Restore(filepath.Join(dir, "cancelled"), steps, stepsSpace(), tune.TuneConfig{}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	grid, err := tn.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range grid.Trials {
		if tr.State != tune.Terminated || tr.Last.Iteration != killedIters {
			t.Fatalf("trial %s: %s %+v", tr.ID, tr.State, tr.Last)
		}
	}
}
