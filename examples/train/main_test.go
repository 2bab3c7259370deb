//go:build linux

package main

import (
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/examples/internal/exampletest"
)

// summary is what a run of the example printed about its outcome.
type summary struct {
	diff, accuracy float64
	runDir         string
	restarts       int
	resumedFrom    int // the step a restarted attempt resumed from; -1 none
}

var (
	diffRe     = regexp.MustCompile(`(?m)^weights against one process on the same global batches: max abs difference (\S+) \(tolerance`)
	accuracyRe = regexp.MustCompile(`(?m)^trained in [0-9.]+s: .*; accuracy on all \d+ rows ([0-9.]+)$`)
	ckptRe     = regexp.MustCompile(`(?m)^checkpoints: (\S+) \(latest checkpoint_\d+, step (\d+); \d+ kept\)$`)
	restartsRe = regexp.MustCompile(`(?m)^restarts: (\d+)(?: \(attempt 1 resumed from the checkpoint of step (\d+)\))?$`)
)

func parseSummary(t *testing.T, out string) summary {
	t.Helper()
	d, a, c, r := diffRe.FindStringSubmatch(out), accuracyRe.FindStringSubmatch(out), ckptRe.FindStringSubmatch(out), restartsRe.FindStringSubmatch(out)
	if d == nil || a == nil || c == nil || r == nil {
		t.Fatalf("summary lines missing from the output:\n%s", out)
	}
	s := summary{runDir: c[1], resumedFrom: -1}
	var err error
	if s.diff, err = strconv.ParseFloat(d[1], 64); err != nil {
		t.Fatalf("difference %q: %v", d[1], err)
	}
	s.accuracy, _ = strconv.ParseFloat(a[1], 64)
	s.restarts, _ = strconv.Atoi(r[1])
	if r[2] != "" {
		s.resumedFrom, _ = strconv.Atoi(r[2])
	}
	return s
}

// TestTrainExample builds the example and runs it twice as a real
// process on its embedded cluster with 2 workers: once straight through,
// once with rank 1 killing its own process (SIGKILL) at step 35. Both
// exit 0 with weights within 1e-6 of one process training on the same
// global batches, a model well above chance (0.5), and checkpoints on
// disk; the second restarts once, from a checkpoint, and ends with the
// weights of the first.
func TestTrainExample(t *testing.T) {
	bin := exampletest.Build(t, "train")
	const steps, every, killStep = 60, 10, 35
	args := []string{"-workers", "2", "-steps", strconv.Itoa(steps), "-checkpoint-every", strconv.Itoa(every)}

	storage := t.TempDir()
	out, err := exampletest.Run(t, 2*time.Minute, nil, bin, append(args, "-storage", storage)...)
	if err != nil {
		t.Fatalf("the example failed: %v\n%s", err, out)
	}
	plain := parseSummary(t, out)
	checkRun(t, plain, storage, out)
	if plain.restarts != 0 {
		t.Errorf("%d restarts without a kill:\n%s", plain.restarts, out)
	}

	storage = t.TempDir()
	out, err = exampletest.Run(t, 2*time.Minute, nil, bin,
		append(args, "-storage", storage, "-kill-rank", "1", "-kill-step", strconv.Itoa(killStep), "-max-failures", "1")...)
	if err != nil {
		t.Fatalf("the example failed with a worker killed: %v\n%s", err, out)
	}
	killed := parseSummary(t, out)
	checkRun(t, killed, storage, out)
	// Rank 1 dies after 35 steps, when the driver has had both ranks'
	// reports up to step 33 at least (each report waits for the driver's
	// poll): the checkpoint of step 30 is saved by then.
	if killed.restarts != 1 || killed.resumedFrom <= 0 || killed.resumedFrom > killStep || killed.resumedFrom%every != 0 {
		t.Errorf("%d restarts, resumed from step %d: want 1 restart from a checkpoint of a step in (0, %d]:\n%s",
			killed.restarts, killed.resumedFrom, killStep, out)
	}
	// The checkpoint holds the optimiser's velocity as well as the
	// weights, so the resumed run takes the very steps of the first.
	a, b := finalState(t, plain.runDir, steps), finalState(t, killed.runDir, steps)
	for i := range a.Theta {
		if math.Abs(a.Theta[i]-b.Theta[i]) > 1e-12 {
			t.Fatalf("weight %d: %v after a restart, %v without", i, b.Theta[i], a.Theta[i])
		}
	}
}

// checkRun checks one run's summary and its directory: the last
// checkpoint and result.json are there.
func checkRun(t *testing.T, s summary, storage, out string) {
	t.Helper()
	if s.diff > tolerance || math.IsNaN(s.diff) {
		t.Errorf("max abs difference %g against one process, want at most %g:\n%s", s.diff, tolerance, out)
	}
	if s.accuracy < 0.8 {
		t.Errorf("accuracy %v, want at least 0.8:\n%s", s.accuracy, out)
	}
	if filepath.Dir(s.runDir) != storage {
		t.Errorf("run directory %s is not in -storage %s", s.runDir, storage)
	}
	if _, err := os.Stat(filepath.Join(s.runDir, "result.json")); err != nil {
		t.Errorf("run directory: %v", err)
	}
	ckpts, _ := filepath.Glob(filepath.Join(s.runDir, "checkpoint_*", stateFile))
	if len(ckpts) == 0 {
		t.Errorf("no checkpoint with a %s in %s", stateFile, s.runDir)
	}
}

// finalState is the run's checkpoint of its last step.
func finalState(t *testing.T, runDir string, steps int) *state {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(runDir, "checkpoint_*"))
	if len(dirs) == 0 {
		t.Fatalf("no checkpoint in %s", runDir)
	}
	s, err := loadState(dirs[len(dirs)-1], hyper{features: 12, steps: steps}) // Glob sorts: the latest is last
	if err != nil {
		t.Fatal(err)
	}
	if s.Step != steps {
		t.Fatalf("the latest checkpoint in %s is of step %d, want %d", runDir, s.Step, steps)
	}
	return s
}

// The gradient is the loss's: central finite differences of the summed
// loss match it in every coordinate.
func TestGradient(t *testing.T) {
	h := hyper{rows: 50, features: 5, seed: 7, steps: 1, batch: 50}
	d, s := makeData(h), newState(h)
	for i := range s.Theta {
		s.Theta[i] += 0.3 * float64(i%3-1) // away from the tiny initial weights
	}
	rows := batchRows(0, 20, h.rows)
	grad := make([]float64, len(s.Theta))
	d.gradient(s.Theta, rows, grad)
	const eps = 1e-6
	scratch := make([]float64, len(s.Theta))
	for i := range s.Theta {
		theta := append([]float64(nil), s.Theta...)
		theta[i] += eps
		up, _ := d.gradient(theta, rows, scratch)
		theta[i] -= 2 * eps
		down, _ := d.gradient(theta, rows, scratch)
		if fd := (up - down) / (2 * eps); math.Abs(fd-grad[i]) > 1e-5*max(1, math.Abs(fd)) {
			t.Errorf("d loss / d theta[%d]: gradient %v, finite differences %v", i, grad[i], fd)
		}
	}
}

// The ranks' shares of a global batch cover it exactly once, and their
// summed gradients are the whole batch's: what makes data-parallel
// training equal to one process's.
func TestShardsAddUp(t *testing.T) {
	h := hyper{rows: 100, features: 4, seed: 3, steps: 1, batch: 37}
	d, s := makeData(h), newState(h)
	global := batchRows(5, h.batch, h.rows) // wraps past the last row
	whole := make([]float64, len(s.Theta))
	wholeLoss, wholeRight := d.gradient(s.Theta, global, whole)
	for _, size := range []int{1, 2, 3, 5} {
		sum, part := make([]float64, len(s.Theta)), make([]float64, len(s.Theta))
		loss, right, seen := 0.0, 0, map[int]int{}
		for rank := range size {
			mine := shard(global, rank, size)
			for _, r := range mine {
				seen[r]++
			}
			l, c := d.gradient(s.Theta, mine, part)
			loss, right = loss+l, right+c
			for i := range sum {
				sum[i] += part[i]
			}
		}
		if len(seen) != h.batch {
			t.Errorf("%d ranks: shares cover %d rows of %d", size, len(seen), h.batch)
		}
		for i := range sum {
			if math.Abs(sum[i]-whole[i]) > 1e-9 {
				t.Errorf("%d ranks: gradient[%d] %v, whole batch %v", size, i, sum[i], whole[i])
			}
		}
		if math.Abs(loss-wholeLoss) > 1e-9 || right != wholeRight {
			t.Errorf("%d ranks: loss %v, right %d; whole batch %v, %d", size, loss, right, wholeLoss, wholeRight)
		}
	}
}

// Bad command lines are refused before the cluster starts.
func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args string
		ok   bool
	}{
		{"", true},
		{"-workers 3 -steps 10 -batch 30", true},
		{"-kill-rank 1 -kill-step 5 -max-failures 1", true},
		{"-workers 0", false},
		{"-batch 1", false},                    // fewer rows than workers
		{"-batch 5000", false},                 // more than the dataset
		{"-momentum 1", false},                 // never decays
		{"-kill-rank 2", false},                // no such rank with 2 workers
		{"-kill-rank 0 -kill-step 200", false}, // past the last step
		{"-max-failures -2", false},
		{"extra", false},
	} {
		_, err := parseFlags(strings.Fields(tc.args))
		if (err == nil) != tc.ok {
			t.Errorf("parseFlags(%q) = %v, want ok %v", tc.args, err, tc.ok)
		}
	}
}
