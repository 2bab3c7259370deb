package tune_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/tune"
)

// dirTrainable checkpoints a directory of two files (one in a
// subdirectory) and checks, when resumed, that it got them back.
var dirTrainable = tune.Function("test.dir", func(ctx context.Context, p tune.Params) error {
	start := 0
	if c := tune.GetCheckpoint(ctx); c != nil {
		dir, err := c.Dir()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(filepath.Join(dir, "sub", "iter"))
		if err != nil {
			return err
		}
		start, _ = strconv.Atoi(string(b))
	}
	for i := start + 1; i <= 4; i++ {
		dir, err := os.MkdirTemp("", "ckpt-")
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o700); err != nil {
			return err
		}
		_ = os.WriteFile(filepath.Join(dir, "sub", "iter"), []byte(strconv.Itoa(i)), 0o600)
		_ = os.WriteFile(filepath.Join(dir, "weights"), bytes.Repeat([]byte{byte(i)}, 1000), 0o600)
		err = tune.Report(ctx, tune.Metrics{"start": float64(start)}, tune.CheckpointFromDir(dir))
		os.RemoveAll(dir)
		if err != nil {
			return err
		}
		if i == 2 && start == 0 && p.Bool("fail") {
			return errors.New("fails once after iteration 2")
		}
	}
	return nil
})

// TestDirectoryCheckpoints, through the object store and written
// directly on shared storage.
func TestDirectoryCheckpoints(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprint("shared=", shared), func(t *testing.T) { testDirectoryCheckpoints(t, shared) })
	}
}

func testDirectoryCheckpoints(t *testing.T, shared bool) {
	tn, err := tune.NewTuner(dirTrainable, tune.Space{"fail": true}, tune.TuneConfig{},
		tune.RunConfig{StoragePath: t.TempDir(), Quiet: true, SharedStorage: shared, FailureConfig: tune.FailureConfig{MaxFailures: 1}})
	if err != nil {
		t.Fatal(err)
	}
	grid, err := tn.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tr := grid.Trials[0]
	if tr.State != tune.Terminated || tr.Failures != 1 || tr.Last.Metrics["start"] != 2 {
		t.Fatalf("%s failures %d last %+v err %v", tr.State, tr.Failures, tr.Last, tr.Err)
	}
	dir, err := tr.Checkpoint.Dir()
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "sub", "iter")); err != nil || string(b) != "4" {
		t.Fatalf("the stored checkpoint says %q (%v)", b, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "weights")); len(b) != 1000 || b[0] != 4 {
		t.Fatalf("weights: %d bytes", len(b))
	}
	if !strings.HasPrefix(dir, grid.Path) {
		t.Fatalf("checkpoint %s is not under the experiment's %s", dir, grid.Path)
	}
}

// gated fails while its gate file is missing.
var gated = tune.Function("test.gated", func(ctx context.Context, p tune.Params) error {
	if _, err := os.Stat(p.String("gate")); err != nil {
		return errors.New("gate closed")
	}
	return tune.Report(ctx, tune.Metrics{"ok": 1}, nil)
})

func TestRestoreRestartsErroredTrials(t *testing.T) {
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	tn, err := tune.NewTuner(gated, tune.Space{"gate": gate}, tune.TuneConfig{NumSamples: 2},
		tune.RunConfig{Name: "gated", StoragePath: dir, Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	grid, err := tn.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(grid.Errors()) != 2 {
		t.Fatalf("%d errors, want 2", len(grid.Errors()))
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// Without an option, errored trials stay so.
	tn, err = tune.Restore(filepath.Join(dir, "gated"), gated, tune.Space{"gate": gate}, tune.TuneConfig{}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if grid, err = tn.Fit(context.Background()); err != nil || len(grid.Errors()) != 2 {
		t.Fatalf("restore without RestartErrored: %d errors, %v", len(grid.Errors()), err)
	}
	tn, err = tune.Restore(filepath.Join(dir, "gated"), gated, tune.Space{"gate": gate}, tune.TuneConfig{}, quiet, tune.RestartErrored())
	if err != nil {
		t.Fatal(err)
	}
	grid, err = tn.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range grid.Trials {
		if tr.State != tune.Terminated || tr.Err != nil || len(tr.History) != 1 {
			t.Fatalf("trial %s: %s %v %d results", tr.ID, tr.State, tr.Err, len(tr.History))
		}
	}
}

// TestStatusLinesAndMetrics: a run not on a terminal prints plain status
// lines and a final table, and its trials' metrics reach /metrics.
func TestStatusLinesAndMetrics(t *testing.T) {
	var buf bytes.Buffer
	tn, err := tune.NewTuner(quadratic, tune.Space{"x": tune.Uniform(0, 6), "iters": 3}, tune.TuneConfig{NumSamples: 3, Metric: "loss", Mode: tune.Min},
		tune.RunConfig{Name: "shown", StoragePath: t.TempDir(), Progress: &buf})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tn.Fit(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"shown", "TERMINATED", "trial_00002", "loss"} {
		if !strings.Contains(out, want) {
			t.Fatalf("status output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Fatalf("terminal escapes in a non-terminal's output:\n%q", out)
	}
	want := `rayo_tune_results_total{experiment="shown"}`
	deadline := time.Now().Add(10 * time.Second)
	for {
		if scrape(t, want) >= 9 && scrape(t, `rayo_tune_trials{experiment="shown",state="TERMINATED"}`) == 3 {
			break
		}
		if time.Now().After(deadline) {
			resp, _ := http.Get("http://" + rayo.DashboardAddress() + "/metrics")
			var lines []string
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if strings.Contains(sc.Text(), "tune") || strings.HasPrefix(sc.Text(), "rayo_metrics_app") {
					lines = append(lines, sc.Text())
				}
			}
			resp.Body.Close()
			t.Fatalf("%s never reached 9, or the trials 3 TERMINATED, at /metrics:\n%s", want, strings.Join(lines, "\n"))
		}
		time.Sleep(100 * time.Millisecond) // polling a scrape: the metrics push is periodic
	}
	if scrape(t, `rayo_tune_trial_metric{experiment="shown",metric="loss",trial="trial_00002"}`) == 0 {
		t.Fatal("no rayo_tune_trial_metric for trial_00002's loss")
	}
}

// scrape returns a metric's value at the dashboard's /metrics (name{labels},
// the labels in the exposition's order), 0 if absent.
func scrape(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + rayo.DashboardAddress() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	// Gauges carry the process's worker_id too: match the labels given.
	open := strings.TrimSuffix(series, "}")
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, series+" ") || strings.HasPrefix(line, open+",") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			return v
		}
	}
	return 0
}

// TestStatusTableOnATerminal: on a real terminal (a pseudo-terminal) the
// status table is redrawn in place.
func TestStatusTableOnATerminal(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	_ = pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 120})
	var out bytes.Buffer
	read := make(chan struct{})
	go func() {
		defer close(read)
		_, _ = io.Copy(&out, ptmx) // ends with EIO once tty is closed
	}()
	tn, err := tune.NewTuner(steps, stepsSpace(), tune.TuneConfig{NumSamples: 3, MaxConcurrentTrials: 1, Metric: "loss", Mode: tune.Min},
		tune.RunConfig{StoragePath: t.TempDir(), Progress: tty, ProgressInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tn.Fit(context.Background()); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	<-read
	s := out.String()
	if !strings.Contains(s, "\x1b[") || !strings.Contains(s, "A\r\x1b[J") {
		t.Fatalf("no redraw in place on a terminal:\n%q", s)
	}
	if !strings.Contains(s, "TERMINATED") || !strings.Contains(s, "trial_00002") {
		t.Fatalf("the final table is missing:\n%q", s)
	}
}
