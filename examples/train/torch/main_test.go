//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/examples/internal/exampletest"
)

const python = "/usr/bin/python3"

// needTorch skips without Debian's python3-torch, except under CI, where
// it is installed.
func needTorch(t *testing.T) {
	t.Helper()
	if err := exec.Command(python, "-c", "import torch").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s cannot import torch (apt-get install python3-torch): %v", python, err)
		}
		t.Skipf("%s cannot import torch: %v", python, err)
	}
}

var (
	accuracyRe = regexp.MustCompile(`(?m)^final accuracy ([0-9.]+) \(chance ([0-9.]+)\)`)
	restartsRe = regexp.MustCompile(`(?m)^restarts: (\d+)(?: \(attempt 1 resumed at epoch (\d+)\))?$`)
	ckptRe     = regexp.MustCompile(`(?m)^checkpoint: (\S+)$`)
	// The script's own lines, forwarded by rank 1's worker with its prefix.
	rank1Re = regexp.MustCompile(`(?m)\[rank 1\] rank 1 of 2: gloo on cpu`)
)

type summary struct {
	accuracy, chance float64
	restarts, resume int // resume: the epoch attempt 1 began at, 0 none
	ckpt             string
	lastEpoch        string // the history's last row, as printed
}

func parseSummary(t *testing.T, out string, epochs int) summary {
	t.Helper()
	a, r, c := accuracyRe.FindStringSubmatch(out), restartsRe.FindStringSubmatch(out), ckptRe.FindStringSubmatch(out)
	if a == nil || r == nil || c == nil {
		t.Fatalf("summary lines missing from the output:\n%s", out)
	}
	var s summary
	s.accuracy, _ = strconv.ParseFloat(a[1], 64)
	s.chance, _ = strconv.ParseFloat(a[2], 64)
	s.restarts, _ = strconv.Atoi(r[1])
	s.resume, _ = strconv.Atoi(r[2])
	s.ckpt = c[1]
	row := regexp.MustCompile(`(?m)^ +` + strconv.Itoa(epochs) + ` +\d+ +([0-9.]+ +[0-9.]+)$`).FindStringSubmatch(out)
	if row == nil {
		t.Fatalf("no history row for epoch %d:\n%s", epochs, out)
	}
	s.lastEpoch = row[1]
	return s
}

// TestTorchExample builds the example and runs train.py on 2 workers of
// its embedded cluster, twice: straight through, then with rank 1
// killing its own script (SIGKILL) in epoch 3. Both exit 0 with a model
// well above chance and a checkpoint on disk, rank 1's output reaches
// the driver prefixed with its rank, and the second restarts once, from
// the checkpoint of epoch 2, ending with the first run's loss and
// accuracy (the checkpoint holds the optimizer's momentum too).
func TestTorchExample(t *testing.T) {
	needTorch(t)
	bin := exampletest.Build(t, "torch")
	script, err := filepath.Abs("train.py")
	if err != nil {
		t.Fatal(err)
	}
	const epochs = 4
	args := []string{"-workers", "2", "-epochs", strconv.Itoa(epochs), "-samples", "2048", "-script", script, "-python", python}

	out, err := exampletest.Run(t, 2*time.Minute, nil, bin, append(args, "-storage", t.TempDir())...)
	if err != nil {
		t.Fatalf("the example failed: %v\n%s", err, out)
	}
	plain := parseSummary(t, out, epochs)
	checkRun(t, plain, out)
	if plain.restarts != 0 {
		t.Errorf("%d restarts without a kill:\n%s", plain.restarts, out)
	}
	if !rank1Re.MatchString(out) {
		t.Errorf("no line of rank 1's script, prefixed [rank 1], in the output:\n%s", out)
	}

	out, err = exampletest.Run(t, 2*time.Minute, nil, bin,
		append(args, "-storage", t.TempDir(), "-kill-rank", "1", "-kill-epoch", "3", "-max-failures", "1")...)
	if err != nil {
		t.Fatalf("the example failed with a worker killed: %v\n%s", err, out)
	}
	killed := parseSummary(t, out, epochs)
	checkRun(t, killed, out)
	// Rank 1 dies halfway through epoch 3: rank 0 has done a step of
	// epoch 3 with it (a DDP allreduce), so its report of epoch 2, with
	// the checkpoint, has returned: the driver has it.
	if killed.restarts != 1 || killed.resume != 3 {
		t.Errorf("%d restarts, resumed at epoch %d: want 1 restart at epoch 3:\n%s", killed.restarts, killed.resume, out)
	}
	if killed.lastEpoch != plain.lastEpoch {
		t.Errorf("epoch %d's loss and accuracy %q after a restart, %q without", epochs, killed.lastEpoch, plain.lastEpoch)
	}
}

func checkRun(t *testing.T, s summary, out string) {
	t.Helper()
	if s.chance <= 0 || s.accuracy < (1+s.chance)/2 {
		t.Errorf("accuracy %v, want at least halfway from chance (%v) to 1:\n%s", s.accuracy, s.chance, out)
	}
	if st, err := os.Stat(filepath.Join(s.ckpt, "state.pt")); err != nil || st.Size() == 0 {
		t.Errorf("checkpoint %s: no state.pt (%v)", s.ckpt, err)
	}
}

// Bad command lines are refused before the cluster starts.
func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args string
		ok   bool
	}{
		{"-script main.go", true},
		{"-script main.go -workers 3 -gpu -epochs 2", true},
		{"-script main.go -kill-rank 1 -kill-epoch 2 -max-failures 1", true},
		{"-script main.go -workers 0", false},
		{"-script main.go -lr 0", false},
		{"-script main.go -kill-rank 2", false},               // no such rank with 2 workers
		{"-script main.go -kill-rank 0 -kill-epoch 6", false}, // past the last epoch
		{"-script main.go -kill-rank 0 -kill-epoch 0", false}, // epochs count from 1
		{"-script main.go -max-failures -2", false},
		{"-script main.go extra", false},
	} {
		_, err := parseFlags(strings.Fields(tc.args))
		if (err == nil) != tc.ok {
			t.Errorf("parseFlags(%q) = %v, want ok %v", tc.args, err, tc.ok)
		}
	}
	// Without -script, train.py is found beside the source or in the
	// working directory (the package's, here).
	o, err := parseFlags(nil)
	if err != nil || filepath.Base(o.script) != "train.py" || !filepath.IsAbs(o.script) {
		t.Errorf("default script %q: %v", o.script, err)
	}
}
