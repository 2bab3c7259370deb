package train_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/data"
	"github.com/rayo-dev/rayo/train"
)

const python = "/usr/bin/python3"

// needTorch skips without Debian's python3-torch, except under CI, where
// .ci/run installs it.
func needTorch(t testing.TB) {
	t.Helper()
	if err := exec.Command(python, "-c", "import torch").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s cannot import torch (apt-get install python3-torch): %v", python, err)
		}
		t.Skipf("%s cannot import torch: %v", python, err)
	}
}

type ddpOut struct {
	Weights []float64 `json:"weights"`
	T0      float64   `json:"t0"`
	T1      float64   `json:"t1"`
	Start   int       `json:"start"`
}

func readOut(t testing.TB, prefix string, rank int) ddpOut {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("%s.%d.json", prefix, rank))
	if err != nil {
		t.Fatal(err)
	}
	var o ddpOut
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	return o
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// handLaunch runs testdata/ddp.py as two processes with the environment
// torchrun gives: the reference (Debian's torchrun for torch 1.13 fails
// on Python 3.11, so the processes are started by hand).
func handLaunch(t testing.TB, out string, args ...string) {
	t.Helper()
	port := strconv.Itoa(freePort(t))
	// Bounded, and killed if the test ends first: a rank whose peer died
	// would wait for it in the rendezvous for torch's 30 minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmds := make([]*exec.Cmd, 2)
	for r := range cmds {
		cmd := exec.CommandContext(ctx, python, append([]string{"testdata/ddp.py", "--out", out}, args...)...)
		cmd.Env = append(os.Environ(), "MASTER_ADDR=127.0.0.1", "MASTER_PORT="+port, "RANK="+strconv.Itoa(r), "WORLD_SIZE=2",
			"LOCAL_RANK="+strconv.Itoa(r), "LOCAL_WORLD_SIZE=2", "GROUP_RANK=0", "TORCHELASTIC_RESTART_COUNT=0", "OMP_NUM_THREADS=1")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			cancel()
			for _, c := range cmds[:r] {
				_ = c.Wait()
			}
			t.Fatal(err)
		}
		cmds[r] = cmd
	}
	var errs []error
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			errs = append(errs, err)
			cancel() // the other rank would wait for this one
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("the reference run: %v", err)
	}
}

func torchTrainer(t testing.TB, out string, args ...string) *train.TorchTrainer {
	return &train.TorchTrainer{Script: "testdata/ddp.py", Args: append([]string{"--out", out}, args...), Python: python,
		Scaling: train.ScalingConfig{NumWorkers: 2},
		Run:     train.RunConfig{Name: "ddp", StoragePath: t.TempDir(), Checkpoint: train.CheckpointConfig{NumToKeep: 2}}}
}

func maxDiff(a, b []float64) float64 {
	if len(a) != len(b) || len(a) == 0 {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

// The same DDP script and seed under TorchTrainer and launched by hand
// end with the same weights on every rank; a rank killed mid-run
// (SIGKILL of its script) restarts the group from the checkpoint, and
// the weights are still those of the uninterrupted run.
func TestTorchDDP(t *testing.T) {
	needTorch(t)
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref")
	handLaunch(t, ref)
	want := readOut(t, ref, 0).Weights
	if d := maxDiff(want, readOut(t, ref, 1).Weights); d != 0 {
		t.Fatalf("the reference's ranks differ by %g", d)
	}

	for _, kill := range []bool{false, true} {
		t.Run("killed="+strconv.FormatBool(kill), func(t *testing.T) {
			out := filepath.Join(dir, "rayo"+strconv.FormatBool(kill))
			tr := torchTrainer(t, out)
			if kill {
				tr.Args = append(tr.Args, "--die-rank", "1", "--die-step", "12")
				tr.Run.Failure.MaxFailures = 1
			}
			res, err := tr.Fit(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for r := range 2 {
				o := readOut(t, out, r)
				if d := maxDiff(want, o.Weights); d > 1e-6 {
					t.Fatalf("rank %d's weights differ from the reference by %g", r, d)
				}
				if kill && o.Start != 10 {
					t.Fatalf("rank %d resumed at step %d, want 10 (the checkpoint of step 9)", r, o.Start)
				}
			}
			wantFailures := 0
			if kill {
				wantFailures = 1
			}
			last := res.MetricsHistory[len(res.MetricsHistory)-1]
			if res.Failures != wantFailures || last.Metrics.Int("step") != 19 || last.Attempt != wantFailures {
				t.Fatalf("failures %d, last round %+v", res.Failures, last)
			}
			if _, err := os.Stat(filepath.Join(res.Checkpoint.Path(), "state.pt")); err != nil || filepath.Base(res.Checkpoint.Path()) != "checkpoint_000019" {
				t.Fatalf("latest checkpoint %v: %v", res.Checkpoint, err)
			}
		})
	}
}

func TestTorchScriptFailures(t *testing.T) {
	needTorch(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	exit3 := write("exit3.py", "import sys\nprint('about to fail', file=sys.stderr)\nsys.exit(3)\n")
	raises := write("raises.py", "def f():\n    raise ValueError('bad value ' + __import__('os').environ['RANK'])\nf()\n")
	// Only rank 1 fails; rank 0's gloo call then fails with "Connection
	// closed by peer", an echo that must not hide the cause.
	oneRaises := write("one_raises.py", `import os, torch, torch.distributed as dist
dist.init_process_group("gloo")
t = torch.ones(2)
dist.all_reduce(t)
if dist.get_rank() == 1:
    raise ValueError("the real bug, on rank 1")
for _ in range(3):
    dist.all_reduce(t)
`)
	cases := []struct {
		name, script string
		want         error
		check        func(*train.WorkerError) bool
	}{
		{"missing", filepath.Join(dir, "nope.py"), train.ErrScriptNotFound, nil},
		{"exit 3", exit3, train.ErrWorkerFailed, func(we *train.WorkerError) bool {
			return strings.Contains(we.Message, "status 3") && strings.Contains(we.Message, "about to fail")
		}},
		{"exception", raises, train.ErrWorkerFailed, func(we *train.WorkerError) bool {
			return strings.Contains(we.Message, "ValueError: bad value") && strings.Contains(we.Stack, "line 2, in f")
		}},
		{"one rank's exception", oneRaises, train.ErrWorkerFailed, func(we *train.WorkerError) bool {
			return we.Rank == 1 && strings.Contains(we.Message, "the real bug, on rank 1")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := &train.TorchTrainer{Script: c.script, Python: python, Scaling: train.ScalingConfig{NumWorkers: 2},
				Run: train.RunConfig{StoragePath: t.TempDir(), Failure: train.FailureConfig{MaxFailures: 2}}}
			res, err := tr.Fit(context.Background())
			if !errors.Is(err, c.want) || res.Error != err || res.Failures != 0 {
				t.Fatalf("err %v (failures %d), want %v", err, res.Failures, c.want)
			}
			var we *train.WorkerError
			if c.check != nil && (!errors.As(err, &we) || !c.check(we)) {
				t.Fatalf("error %v (stack %q)", err, we.Stack)
			}
		})
	}
}

const shardScript = `
import rayo.train as train
ctx = train.get_context()
shard = train.get_dataset_shard("nums")
for epoch in range(2):
    rows = total = 0
    for batch in shard.iter_batches(batch_size=100):
        rows += len(batch["id"])
        total += int(batch["id"].sum())
    train.report({"rows": rows, "sum": total, "rank": ctx.get_world_rank(), "world": ctx.get_world_size()})
`

func TestTorchDatasetShard(t *testing.T) {
	needTorch(t)
	script := filepath.Join(t.TempDir(), "shard.py")
	if err := os.WriteFile(script, []byte(shardScript), 0o600); err != nil {
		t.Fatal(err)
	}
	tr := &train.TorchTrainer{Script: script, Python: python, Scaling: train.ScalingConfig{NumWorkers: 2},
		Run:      train.RunConfig{StoragePath: t.TempDir()},
		Datasets: map[string]*data.Dataset{"nums": data.Range(1000)}}
	res, err := tr.Fit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.MetricsHistory) != 2 {
		t.Fatalf("history %+v", res.MetricsHistory)
	}
	for _, r := range res.MetricsHistory {
		if r.Metrics.Int("rows") != 500 || r.Metrics.Int("rank") != 0 || r.Metrics.Int("world") != 2 {
			t.Fatalf("round %+v", r)
		}
	}
}

const hangScript = `
import os, time
import torch, torch.distributed as dist
dist.init_process_group("gloo")
t = torch.ones(4)
dist.all_reduce(t)  # both ranks: the group works
if dist.get_rank() == 1:
    time.sleep(3600)  # hangs outside the collective the others wait in
dist.all_reduce(t)
`

// A rank that makes the others wait in a collective past
// CollectiveTimeout fails the attempt, named, instead of hanging.
func TestTorchHungRankIsNamed(t *testing.T) {
	needTorch(t)
	script := filepath.Join(t.TempDir(), "hang.py")
	if err := os.WriteFile(script, []byte(hangScript), 0o600); err != nil {
		t.Fatal(err)
	}
	tr := &train.TorchTrainer{Script: script, Python: python, Scaling: train.ScalingConfig{NumWorkers: 2},
		Run: train.RunConfig{StoragePath: t.TempDir(), Failure: train.FailureConfig{CollectiveTimeout: 2 * time.Second}}}
	_, err := tr.Fit(context.Background())
	var we *train.WorkerError
	if !errors.Is(err, train.ErrWorkerHung) || !errors.As(err, &we) || we.Rank != 1 {
		t.Fatalf("err %v", err)
	}
}

const childScript = `
import os, subprocess, sys, time
import rayo.train as train
if train.get_context().get_world_rank() == 0:
    subprocess.Popen(["sleep", sys.argv[1]])  # a child of its own, in its process group
    open(sys.argv[2], "w").close()
    time.sleep(3600)
while not os.path.exists(sys.argv[2]):  # rank 1 fails once rank 0's child runs
    time.sleep(0.01)
raise ValueError("rank 1 fails")
`

// When the group stops, what the scripts started goes with them.
func TestTorchScriptChildrenStopWithTheGroup(t *testing.T) {
	needTorch(t)
	script := filepath.Join(t.TempDir(), "child.py")
	if err := os.WriteFile(script, []byte(childScript), 0o600); err != nil {
		t.Fatal(err)
	}
	marker := strconv.Itoa(90000 + os.Getpid()%9999) // the sleep's argument, to find it
	tr := &train.TorchTrainer{Script: script, Args: []string{marker, filepath.Join(t.TempDir(), "started")}, Python: python, Scaling: train.ScalingConfig{NumWorkers: 2},
		Run: train.RunConfig{StoragePath: t.TempDir()}}
	if _, err := tr.Fit(context.Background()); !errors.Is(err, train.ErrWorkerFailed) {
		t.Fatalf("err %v", err)
	}
	matches, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, m := range matches {
		if b, err := os.ReadFile(m); err == nil && string(b) == "sleep\x00"+marker+"\x00" {
			t.Fatalf("the script's child %s outlived the group", m)
		}
	}
}
