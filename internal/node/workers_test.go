package node

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/internal/gcs/gcstest"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/sched"
)

// binaryAt describes an executable of this machine as a job's binary, run
// in place.
func binaryAt(t *testing.T, path string) protocol.Binary {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Skipf("no %s here: %v", path, err)
	}
	return protocol.Binary{Path: path, Size: st.Size()}
}

// requestLeaseAsync asks the node for a lease in the background; the
// result arrives on the returned channel.
func requestLeaseAsync(ctx context.Context, t *testing.T, n *Node, req *protocol.LeaseRequest) <-chan error {
	t.Helper()
	c, err := rpc.Dial(ctx, n.Addr(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	done := make(chan error, 1)
	go func() { done <- c.Call(ctx, protocol.NodeRequestLease, req, &protocol.LeaseReply{}) }()
	return done
}

func listState(t *testing.T, n *Node) map[string]int {
	t.Helper()
	reply, err := n.listWorkers(context.Background(), &protocol.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]int{}
	for _, w := range reply.Workers {
		states[w.State]++
	}
	return states
}

// A worker's process starts without the node's lock: while a start is
// in progress (held in testHookLaunch), the node still answers calls that
// take n.mu, and already counts the reserved worker (the pool's cap stays
// exact). When the start was made under n.mu, listWorkers here waited for
// the start, which the hook never lets finish: the test failed.
func TestWorkerStartsOutsideNodeLock(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	testHookLaunch = func() {
		if first.CompareAndSwap(false, true) { // the first start blocks
			close(entered)
			<-release
		}
	}
	t.Cleanup(func() { testHookLaunch = nil }) // after the node stops (cleanups run last first)
	g := gcstest.Start(t, testToken)
	n := startTestNode(t, g.Addr(), t.TempDir(), nil)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reqCtx, cancelReq := context.WithCancel(ctx)
	done := requestLeaseAsync(reqCtx, t, n, &protocol.LeaseRequest{RequestID: "r1",
		Job: protocol.JobSpec{JobID: "job1", Binary: binaryAt(t, "/bin/true")}, Resources: sched.Resources{"CPU": sched.Unit}})
	select {
	case <-entered:
	case <-ctx.Done():
		t.Fatal("no worker start began")
	}
	listed := make(chan map[string]int, 1)
	go func() { listed <- listState(t, n) }()
	select {
	case st := <-listed:
		if st["STARTING"] < 1 {
			t.Errorf("while its process starts, the worker is not listed as STARTING: %v", st)
		}
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("the node's lock is held while a worker's process starts")
	}
	cancelReq() // no more starts: /bin/true never registers
	<-done
	close(release)
}

// A process that cannot start undoes its reservation and fails the job's
// requests with worker_start_failed.
func TestWorkerStartFailureUndoesReservation(t *testing.T) {
	g := gcstest.Start(t, testToken)
	n := startTestNode(t, g.Addr(), t.TempDir(), nil)
	notExec := filepath.Join(t.TempDir(), "not-executable")
	if err := os.WriteFile(notExec, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := <-requestLeaseAsync(ctx, t, n, &protocol.LeaseRequest{RequestID: "r1",
		Job: protocol.JobSpec{JobID: "job1", Binary: binaryAt(t, notExec)}, Resources: sched.Resources{"CPU": sched.Unit}})
	if rpc.CodeOf(err) != "worker_start_failed" {
		t.Fatalf("lease with an unstartable binary: %v, want worker_start_failed", err)
	}
	waitFor(t, "the failed start's reservation to go", func() bool { return len(listState(t, n)) == 0 })
	n.mu.Lock()
	j := n.jobs["job1"]
	starting := j.starting
	n.mu.Unlock()
	if starting != 0 {
		t.Fatalf("job's starting count after failed starts: %d, want 0", starting)
	}
}

// A lease request's environment is checked as it arrives: names the
// worker must not take, and a key that is not the environment's (it
// decides which workers may serve the request), are bad requests.
func TestLeaseRequestEnvChecked(t *testing.T) {
	g := gcstest.Start(t, testToken)
	n := startTestNode(t, g.Addr(), t.TempDir(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	good := []string{"A=1", "B=2"}
	for _, tc := range []struct {
		name   string
		env    []string
		envKey string
	}{
		{"reserved name", []string{"RAYO_TOKEN=x"}, protocol.EnvKey(testToken, []string{"RAYO_TOKEN=x"})},
		{"GPU list", []string{"CUDA_VISIBLE_DEVICES=0"}, protocol.EnvKey(testToken, []string{"CUDA_VISIBLE_DEVICES=0"})},
		{"unsorted", []string{"B=2", "A=1"}, protocol.EnvKey(testToken, []string{"B=2", "A=1"})},
		{"twice", []string{"A=1", "A=2"}, protocol.EnvKey(testToken, []string{"A=1", "A=2"})},
		{"no '='", []string{"A"}, protocol.EnvKey(testToken, []string{"A"})},
		{"key of another environment", good, protocol.EnvKey(testToken, []string{"A=1"})},
		{"key without environment", nil, protocol.EnvKey(testToken, good)},
	} {
		err := <-requestLeaseAsync(ctx, t, n, &protocol.LeaseRequest{Job: protocol.JobSpec{JobID: "job1"},
			Resources: sched.Resources{"CPU": sched.Unit}, Env: tc.env, EnvKey: tc.envKey})
		if rpc.CodeOf(err) != rpc.CodeBadRequest {
			t.Errorf("%s: %v, want bad_request", tc.name, err)
		}
	}
}

// endJobLocked ends every environment's entry of a job, and only that
// job's (its detached actors' entries live on); a new environment of an
// ended job is refused.
func TestEndJobEndsEveryEnvironment(t *testing.T) {
	n := &Node{jobs: map[string]*job{}, workers: map[string]*worker{}, stop: make(chan struct{}),
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	logs := newLogForwarder(n, &protocol.JobSpec{JobID: "j"})
	for _, k := range []string{"j", "j#e1", "j#e2", "j/detached", "j/detached#e1", "k#e1"} {
		n.jobs[k] = &job{key: k, logs: logs}
	}
	n.workers["w1"] = &worker{id: "w1", jobID: "j#e1", exited: make(chan struct{})}
	n.workers["w2"] = &worker{id: "w2", jobID: "j/detached#e1", detached: true, exited: make(chan struct{})}
	ws := n.endJobLocked("j")
	if len(ws) != 1 || ws[0].id != "w1" {
		t.Fatalf("workers to stop: %v, want w1", ws)
	}
	for k, j := range n.jobs {
		if want := baseKey(k) == "j"; j.dead != want {
			t.Errorf("entry %s dead=%v, want %v", k, j.dead, want)
		}
	}
	if _, err := n.jobLocked(&protocol.JobSpec{JobID: "j"}, "j#e3", []string{"X=1"}); rpc.CodeOf(err) != "job_dead" {
		t.Errorf("new environment of an ended job: %v, want job_dead", err)
	}
	if ws := n.endJobLocked("nobody"); ws != nil {
		t.Errorf("ending an unknown job stopped %v", ws)
	}
}

// Idle workers past IdleWorkerTimeout are stopped beyond each entry's
// prestarted few; a call environment's entry keeps none, so that the
// workers of an environment nobody uses any more all go.
func TestIdleWorkersOfAnEnvironmentAreReaped(t *testing.T) {
	n := &Node{jobs: map[string]*job{}, cfg: Config{PrestartWorkers: 2, IdleWorkerTimeout: time.Second}}
	now := time.Now()
	old, fresh := now.Add(-time.Minute), now
	mk := func(key string, env []string, since ...time.Time) *job {
		j := &job{key: key, env: env}
		for i, s := range since {
			j.idle = append(j.idle, &worker{id: key + strconv.Itoa(i), idleSince: s})
		}
		n.jobs[key] = j
		return j
	}
	base := mk("j", nil, old, old, old)
	env := mk("j#e", []string{"A=1"}, old, old, fresh)
	victims := n.idleVictimsLocked(now)
	if len(victims) != 3 {
		t.Fatalf("stopped %d workers, want 3 (one of the job's, two of the environment's)", len(victims))
	}
	for _, w := range victims {
		if !w.dead {
			t.Errorf("victim %s not marked dead", w.id)
		}
	}
	if len(base.idle) != 2 {
		t.Errorf("the job keeps %d idle workers, want its 2 prestarted", len(base.idle))
	}
	if len(env.idle) != 1 || env.idle[0].idleSince != fresh {
		t.Errorf("the environment keeps %v, want only its recently idle worker", env.idle)
	}
}

// A worker stopped while its process is starting (its job ended) does not
// run: its reservation is undone without marking the job's binary bad.
func TestWorkerStoppedBeforeItsProcessStarts(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	testHookLaunch = func() {
		if first.CompareAndSwap(false, true) {
			close(entered)
			<-release
		}
	}
	t.Cleanup(func() { testHookLaunch = nil })
	g := gcstest.Start(t, testToken)
	n := startTestNode(t, g.Addr(), t.TempDir(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := requestLeaseAsync(ctx, t, n, &protocol.LeaseRequest{RequestID: "r1",
		Job: protocol.JobSpec{JobID: "job1", Binary: binaryAt(t, "/bin/sleep")}, Resources: sched.Resources{"CPU": sched.Unit}})
	select {
	case <-entered:
	case <-ctx.Done():
		t.Fatal("no worker start began")
	}
	n.mu.Lock()
	ws := n.endJobLocked("job1")
	n.mu.Unlock()
	if len(ws) != 1 {
		t.Fatalf("the ended job had %d workers, want the 1 starting", len(ws))
	}
	ws[0].kill()
	close(release)
	if err := <-done; rpc.CodeOf(err) != "job_dead" {
		t.Errorf("lease of an ended job: %v, want job_dead", err)
	}
	select {
	case <-ws[0].exited:
	case <-ctx.Done():
		t.Fatal("the stopped worker's reservation stays")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	j := n.jobs["job1"]
	if len(n.workers) != 0 || j.starting != 0 || j.err != nil {
		t.Errorf("after the stop: %d workers, %d starting, job error %v; want none", len(n.workers), j.starting, j.err)
	}
	ws[0].procMu.Lock()
	defer ws[0].procMu.Unlock()
	if ws[0].cmd != nil {
		t.Error("the stopped worker's process started")
	}
}

// A burst of requests starts at most MaxStartingWorkers processes at
// once; the rest wait for those to register (or fail) instead of all
// starting together.
func TestWorkerStartsAreBounded(t *testing.T) {
	entered, release := make(chan struct{}, 16), make(chan struct{})
	testHookLaunch = func() {
		entered <- struct{}{}
		<-release
	}
	t.Cleanup(func() { testHookLaunch = nil })
	g := gcstest.Start(t, testToken)
	dir := t.TempDir()
	n, err := Start(Config{HeadAddr: g.Addr(), Token: testToken, Resources: sched.Resources{"CPU": 8 * sched.Unit},
		LogsDir: filepath.Join(dir, "logs"), BinariesDir: filepath.Join(dir, "bin"), StoreDir: t.TempDir(),
		ObjectStoreMemory: 1 << 20, MaxStartingWorkers: 2, PrestartWorkers: 1, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	t.Cleanup(func() { close(release) }) // runs before n.Stop: the held starts go on and end

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 6 {
		requestLeaseAsync(ctx, t, n, &protocol.LeaseRequest{RequestID: "r" + strconv.Itoa(i), Dedicated: true,
			Job: protocol.JobSpec{JobID: "job1", Binary: binaryAt(t, "/bin/true")}, Resources: sched.Resources{"CPU": sched.Unit}})
	}
	for range 2 {
		select {
		case <-entered:
		case <-time.After(20 * time.Second):
			t.Fatal("the first starts did not begin")
		}
	}
	waitFor(t, "every request to reach the node", func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		return len(n.queue) == 6
	})
	n.mu.Lock()
	n.scheduleLocked() // a pass with every request waiting: still two
	starting := n.startingLocked()
	n.mu.Unlock()
	if starting != 2 {
		t.Fatalf("%d workers starting at once, want the bound, 2", starting)
	}
	select {
	case <-entered:
		t.Fatal("a third start began while two were starting")
	default:
	}
}
