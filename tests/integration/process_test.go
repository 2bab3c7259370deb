package integration_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func realPath(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// startSeparateNode starts a head and a special node that shares no
// directory with the driver or the head, connects the driver, and returns
// the cluster and the node's daemon.
func startSeparateNode(t *testing.T) (*testcluster.Cluster, *testcluster.Proc) {
	t.Helper()
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 2},
		testcluster.NodeSpec{CPUs: 1, Resources: special, SeparateDirs: true})
	connect(t, c)
	return c, c.NodeProcs()[0]
}

// jobBinaryHash is the SHA-256 of this test binary: the job binary's name
// in a session's binaries directory.
func jobBinaryHash(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return fileSHA256(t, exe)
}

// A node that shares no directory with the driver or the head fetches the
// job binary from the head, caches it, and runs its workers from there.
func TestJobBinaryFetched(t *testing.T) {
	c, node := startSeparateNode(t)
	ctx := withTimeout(t, time.Minute)

	w, err := where.Options(rayo.Resources(special)).Remote().Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if w.NodeID != node.NodeID {
		t.Fatalf("the task ran on %s, want the separate node %s (%+v)", w.NodeID, node.NodeID, w)
	}

	hash := jobBinaryHash(t)
	sess, err := node.SessionDir()
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(sess, c.TempDir()) {
		t.Fatalf("the node's session %s is under the head's temp dir %s", sess, c.TempDir())
	}
	cached := filepath.Join(sess, "binaries", hash)
	if got := fileSHA256(t, cached); got != hash {
		t.Fatalf("cached binary %s hashes to %s", cached, got)
	}
	if realPath(t, w.Exe) != realPath(t, cached) {
		t.Fatalf("the worker runs %s, not the cached binary %s", w.Exe, cached)
	}
}

// daemonsUnder lists live `rayo start` processes whose command line names
// dir.
func daemonsUnder(dir string) []int {
	var pids []int
	for _, p := range testcluster.Processes() {
		isStart, names := false, false
		for _, a := range p.Cmdline {
			isStart = isStart || a == "start"
			names = names || strings.Contains(a, dir)
		}
		if isStart && names {
			pids = append(pids, p.Pid)
		}
	}
	return pids
}

// stopLeavesNothing runs `rayo stop` on a cluster started without --block
// and checks that neither daemon nor worker survives it. stopFirst stops
// the cluster while the driver is still connected and its workers alive.
func stopLeavesNothing(t *testing.T, stopFirst bool) {
	c := testcluster.StartDetached(t, testcluster.NodeSpec{CPUs: 2}, testcluster.NodeSpec{CPUs: 1, Resources: special})
	// The head, its machine's node daemon, and the other node daemon.
	if got := daemonsUnder(c.TempDir()); len(got) != 3 {
		t.Fatalf("rayo start daemons under %s: %v, want 3", c.TempDir(), got)
	}
	connect(t, c)
	ctx := withTimeout(t, time.Minute)
	refs := []rayo.ObjectRef[Where]{where.Remote(), where.Remote(), where.Options(rayo.Resources(special)).Remote()}
	if _, err := rayo.GetAll(ctx, refs); err != nil {
		t.Fatal(err)
	}
	if pids := c.WorkerPids(t); len(pids) < 2 {
		t.Fatalf("workers %v: want some on both nodes", pids)
	}
	if !stopFirst {
		rayo.Shutdown()
	}
	out, err := c.Rayo(t, "stop", "--temp-dir", c.TempDir())
	if err != nil {
		t.Fatalf("rayo stop: %v\n%s", err, out)
	}
	if !strings.Contains(out, "stopped 3 rayo daemon(s)") {
		t.Errorf("rayo stop printed %q", out)
	}
	c.WaitFor(t, 15*time.Second, func() bool {
		return len(daemonsUnder(c.TempDir())) == 0 && len(c.WorkerPids(t)) == 0 && len(c.DaemonPids()) == 0
	}, "every daemon and worker of the cluster to exit after rayo stop")
	if stopFirst {
		// The driver notices its node is gone: calls fail with a typed
		// error, none hangs.
		_, err := square.Remote(2).Get(withTimeout(t, 30*time.Second))
		if !errors.Is(err, rayo.ErrNodeDied) {
			t.Errorf("a task submitted after rayo stop: %v; want ErrNodeDied", err)
		}
		rayo.Shutdown()
	}
}

func TestStopLeavesNoProcess(t *testing.T) { stopLeavesNothing(t, false) }

func TestStopWithDriverConnected(t *testing.T) { stopLeavesNothing(t, true) }

// The quick start example runs, on its embedded cluster, and leaves no
// worker behind.
func TestQuickstart(t *testing.T) {
	bin := testcluster.BuildProgram(t, "./examples/quickstart")
	p := testcluster.Spawn(t, testcluster.Command{Name: "quickstart", Path: bin, Dir: t.TempDir(),
		Env: []string{"RAYO_ADDRESS="}})
	if !p.Wait(2 * time.Minute) {
		t.Fatalf("quickstart still running after 2 minutes:\n%s", p.Output())
	}
	out := p.Output()
	if err := p.ExitErr(); err != nil {
		t.Fatalf("quickstart: %v\n%s", err, out)
	}
	// (Not "first to finish: hare": which racer wins depends on timing.)
	for _, want := range []string{"3² + 4² + 100 = 125", `"the" appears 3 times`,
		"divide by zero is ErrTaskFailed: true | is ErrDivideByZero: true"} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
	if pids := testcluster.MarkedPids(p.Marker); len(pids) != 0 {
		t.Errorf("processes of quickstart alive after it exited: %v", pids)
	}
}

// A driver killed with SIGKILL takes its embedded cluster's workers with
// it, busy ones included.
func TestKilledDriverLeavesNoWorkers(t *testing.T) {
	bin := testcluster.BuildProgram(t, "./tests/integration/testdata/sleepy")
	dir := t.TempDir()
	p := testcluster.Spawn(t, testcluster.Command{Name: "sleepy", Path: bin, Dir: t.TempDir(),
		Args: []string{dir, t.TempDir()}})

	var busy []int
	testcluster.WaitFor(t, time.Minute, func() bool {
		if p.Exited() {
			t.Fatalf("sleepy exited: %v\n%s", p.ExitErr(), p.Output())
		}
		files, _ := filepath.Glob(filepath.Join(dir, "started-*"))
		busy = busy[:0]
		for _, f := range files {
			pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(f), "started-"))
			if err != nil {
				t.Fatalf("bad marker %s", f)
			}
			busy = append(busy, pid)
		}
		return len(busy) == 2
	}, "both sleepy tasks to start")

	var workers []int
	for _, pr := range testcluster.Processes() {
		if pr.PPid == p.Pid && pr.Env["RAYO_WORKER_MODE"] == "1" {
			workers = append(workers, pr.Pid)
		}
	}
	for _, b := range busy {
		found := false
		for _, w := range workers {
			found = found || w == b
		}
		if !found {
			t.Fatalf("busy worker %d is not among the driver's worker children %v", b, workers)
		}
	}

	if err := syscall.Kill(p.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !p.Wait(10 * time.Second) {
		t.Fatal("the driver survived SIGKILL")
	}
	testcluster.WaitFor(t, 10*time.Second, func() bool {
		for _, w := range workers {
			if testcluster.Alive(w) {
				return false
			}
		}
		return true
	}, "the killed driver's workers to exit")
}
