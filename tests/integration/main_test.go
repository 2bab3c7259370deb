// Package integration_test runs rayo end to end: real head and node
// daemons (the rayo binary, started by internal/testcluster), this test
// binary as the driver, and this same binary as the workers.
package integration_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

func TestMain(m *testing.M) {
	// Workers run this test binary: there, Init serves tasks and never
	// returns. It must come before anything else.
	if rayo.IsWorker() {
		err := rayo.Init(context.Background())
		fmt.Fprintln(os.Stderr, "integration test worker: Init returned:", err)
		os.Exit(3)
	}
	if _, err := testcluster.Build(testcluster.RayoPackage); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The driver (Init, Shutdown) must leave no goroutine behind.
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		testcluster.RemoveBuilds()
		os.Exit(code)
	}))
}

// Where tells where a task ran.
type Where struct {
	NodeID string
	Pid    int
	Exe    string
}

// errSentinel is registered so that errors.Is matches it across processes.
var errSentinel = errors.New("itest: the sentinel error")

func init() { rayo.RegisterError("itest.sentinel", errSentinel) }

// Tasks, registered at package level so that workers have them too.
var (
	where = rayo.Register[Where]("itest.where", func() (Where, error) {
		exe, err := os.Executable()
		return Where{NodeID: rayo.NodeID(), Pid: os.Getpid(), Exe: exe}, err
	})

	// hold keeps its CPU for d, then says where it ran.
	hold = rayo.Register[string]("itest.hold", func(d time.Duration) string {
		time.Sleep(d)
		return rayo.NodeID()
	})

	// firstTask reports what a worker's runtime offers a task: the node
	// ID and a working Put (which needs the worker's runtime).
	firstTask = rayo.Register[string]("itest.firstTask", func(ctx context.Context) (string, error) {
		id := rayo.NodeID()
		if id == "" {
			return "", errors.New("rayo.NodeID() is empty inside the task")
		}
		if _, err := rayo.Put(ctx, 1); err != nil {
			return "", fmt.Errorf("rayo.Put inside the task: %w", err)
		}
		return id, nil
	})

	inc    = rayo.Register[int]("itest.inc", func(x int) int { return x + 1 })
	square = rayo.Register[int]("itest.square", func(x int) int { return x * x })

	sumInts = rayo.Register[int]("itest.sumInts", func(xs []int) int {
		s := 0
		for _, x := range xs {
			s += x
		}
		return s
	})

	// sumRefs gets nested references (they arrive as references) from
	// their owner, the driver.
	sumRefs = rayo.Register[int]("itest.sumRefs", func(ctx context.Context, refs []rayo.ObjectRef[int]) (int, error) {
		xs, err := rayo.GetAll(ctx, refs)
		if err != nil {
			return 0, err
		}
		s := 0
		for _, x := range xs {
			s += x
		}
		return s, nil
	})

	// crashOnce kills its own worker the first time it runs (the marker
	// file does not exist yet), and succeeds afterwards.
	crashOnce = rayo.Register[string]("itest.crashOnce", func(marker string) (string, error) {
		f, err := os.OpenFile(marker, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			_ = f.Close()
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
		if errors.Is(err, fs.ErrExist) {
			return "ok", nil
		}
		return "", err
	})

	failSentinel = rayo.Register[int]("itest.failSentinel", func(x int) (int, error) {
		return 0, fmt.Errorf("itest: failing on %d: %w", x, errSentinel)
	})

	panics = rayo.Register[int]("itest.panics", func() int { panic("itest: boom") })

	// waitCtx announces it runs (creates started), then waits for its
	// context to be cancelled.
	waitCtx = rayo.Register[string]("itest.waitCtx", func(ctx context.Context, started string) (string, error) {
		if err := os.WriteFile(started, nil, 0o644); err != nil {
			return "", err
		}
		<-ctx.Done()
		return "", ctx.Err()
	})

	// ignoreCtx announces it runs, then ignores its context.
	ignoreCtx = rayo.Register[string]("itest.ignoreCtx", func(started string) (string, error) {
		if err := os.WriteFile(started, nil, 0o644); err != nil {
			return "", err
		}
		time.Sleep(time.Hour)
		return "too late", nil
	})
)

var special = map[string]float64{"special": 1}

// startCluster starts the usual test cluster: a head with 2 CPUs and a
// node with 1 CPU and {"special": 1}.
func startCluster(t *testing.T) *testcluster.Cluster {
	t.Helper()
	return testcluster.Start(t, testcluster.NodeSpec{CPUs: 2}, testcluster.NodeSpec{CPUs: 1, Resources: special})
}

// connect makes this test process the cluster's driver until the test ends.
func connect(t *testing.T, c *testcluster.Cluster) {
	t.Helper()
	ctx := withTimeout(t, time.Minute)
	if err := rayo.Init(ctx, rayo.WithAddress(c.Address()), rayo.WithToken(c.Token()), rayo.WithLogToDriver(false)); err != nil {
		t.Fatalf("rayo.Init: %v", err)
	}
	t.Cleanup(rayo.Shutdown)
}

func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitFile waits until a task has created path.
func waitFile(t *testing.T, path, what string) {
	t.Helper()
	testcluster.WaitFor(t, 30*time.Second, func() bool {
		_, err := os.Stat(path)
		return err == nil
	}, what)
}

func TestSpecialResourceLandsOnSpecialNode(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	want := c.NodeIDWithResource(t, "special")
	if want == c.HeadNodeID() {
		t.Fatalf("the head's node %s offers special", want)
	}
	ctx := withTimeout(t, time.Minute)
	refs := make([]rayo.ObjectRef[Where], 4)
	for i := range refs {
		refs[i] = where.Options(rayo.Resources(special)).Remote()
	}
	ws, err := rayo.GetAll(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range ws {
		if w.NodeID != want {
			t.Errorf("task %d ran on node %q, want the special node %q", i, w.NodeID, want)
		}
	}
	// A task without the resource may run anywhere, but it runs.
	if _, err := where.Remote().Get(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestSpillback(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	ctx := withTimeout(t, time.Minute)
	// Twelve 1-CPU tasks that hold their CPU: more than the head's 2.
	refs := make([]rayo.ObjectRef[string], 12)
	for i := range refs {
		refs[i] = hold.Remote(300 * time.Millisecond)
	}
	nodes, err := rayo.GetAll(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, n := range nodes {
		count[n]++
	}
	head, other := c.HeadNodeID(), c.NodeIDWithResource(t, "special")
	if count[head] == 0 || count[other] == 0 || count[head]+count[other] != len(refs) {
		t.Fatalf("tasks per node %v; want some on the head %s and some on %s", count, head, other)
	}
}

func TestInfeasibleThenFeasible(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	ctx := withTimeout(t, time.Minute)
	ref := where.Options(rayo.Resources(map[string]float64{"gpu_like": 1})).Remote()
	ready, notReady, err := rayo.Wait(ctx, []rayo.ObjectRef[Where]{ref}, 1, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(ready) != 0 || len(notReady) != 1 {
		t.Fatalf("an infeasible task is ready: ready %d, not ready %d", len(ready), len(notReady))
	}
	c.WaitFor(t, 30*time.Second, func() bool {
		for _, n := range c.Status(t).Nodes {
			for _, d := range n.Demands {
				if d.Infeasible && d.Shape["gpu_like"] > 0 && d.Count > 0 {
					return true
				}
			}
		}
		return false
	}, "ClusterStatus to report the gpu_like demand as infeasible")

	p := c.AddNode(t, testcluster.NodeSpec{CPUs: 1, Resources: map[string]float64{"gpu_like": 1}})
	w, err := ref.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if w.NodeID != p.NodeID {
		t.Fatalf("the task ran on %s, not on the gpu_like node %s", w.NodeID, p.NodeID)
	}
	c.WaitFor(t, 30*time.Second, func() bool {
		for _, n := range c.Status(t).Nodes {
			for _, d := range n.Demands {
				if d.Infeasible {
					return false
				}
			}
		}
		return true
	}, "the infeasible demand to leave ClusterStatus")
}

func TestChainAndFanIn(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	ctx := withTimeout(t, 2*time.Minute)

	const n = 1000
	ref := inc.Remote(0)
	for i := 1; i < n; i++ {
		ref = inc.Remote(ref)
	}
	if v, err := ref.Get(ctx); err != nil || v != n {
		t.Fatalf("chain of %d: got %d, %v; want %d", n, v, err, n)
	}

	refs := make([]rayo.ObjectRef[int], n)
	want := 0
	for i := range refs {
		var err error
		if refs[i], err = rayo.Put(ctx, i); err != nil {
			t.Fatal(err)
		}
		want += i
	}
	xs, err := rayo.GetAll(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := sumInts.Remote(xs).Get(ctx); err != nil || v != want {
		t.Fatalf("sum of %d values: got %d, %v; want %d", n, v, err, want)
	}
	// The same refs, nested in an argument: the worker gets them from
	// their owner, this driver.
	if v, err := sumRefs.Remote(refs).Get(ctx); err != nil || v != want {
		t.Fatalf("sum of %d nested refs: got %d, %v; want %d", n, v, err, want)
	}
	// Task results as inputs: fan-in over 1,000 task refs.
	sq := make([]rayo.ObjectRef[int], n)
	want = 0
	for i := range sq {
		sq[i] = square.Remote(i)
		want += i * i
	}
	if v, err := sumRefs.Remote(sq).Get(ctx); err != nil || v != want {
		t.Fatalf("sum of %d task results: got %d, %v; want %d", n, v, err, want)
	}
}

func TestTenThousandTasks(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	const n = 10000
	refs := make([]rayo.ObjectRef[int], n)
	for i := range refs {
		refs[i] = square.Remote(i)
	}
	vals, err := rayo.GetAll(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if v != i*i {
			t.Fatalf("task %d returned %d, want %d", i, v, i*i)
		}
	}
}

func TestKilledWorkerIsRetried(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	ctx := withTimeout(t, time.Minute)
	dir := t.TempDir()

	marker := filepath.Join(dir, "retried")
	if v, err := crashOnce.Remote(marker).Get(ctx); err != nil || v != "ok" {
		t.Fatalf("got %q, %v; want ok after a retry", v, err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the first attempt did not run: %v", err)
	}

	marker = filepath.Join(dir, "not-retried")
	_, err := crashOnce.Options(rayo.MaxRetries(0)).Remote(marker).Get(ctx)
	if !errors.Is(err, rayo.ErrWorkerCrashed) {
		t.Fatalf("with MaxRetries(0): %v; want ErrWorkerCrashed", err)
	}
	var te *rayo.TaskError
	if !errors.As(err, &te) || te.Pid == 0 {
		t.Fatalf("want a *TaskError naming the dead worker's pid, got %#v", err)
	}
	testcluster.WaitFor(t, 10*time.Second, func() bool { return !testcluster.Alive(te.Pid) },
		fmt.Sprintf("the crashed worker %d to be gone", te.Pid))
	// The cluster still serves.
	if v, err := square.Remote(9).Get(ctx); err != nil || v != 81 {
		t.Fatalf("after the crash: %d, %v", v, err)
	}
}

func TestTaskErrors(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	ctx := withTimeout(t, time.Minute)

	_, err := failSentinel.Remote(7).Get(ctx)
	if !errors.Is(err, errSentinel) || !errors.Is(err, rayo.ErrTaskFailed) {
		t.Fatalf("got %v; want it to match errSentinel and ErrTaskFailed", err)
	}
	if errors.Is(err, rayo.ErrWorkerCrashed) || errors.Is(err, rayo.ErrBadCall) {
		t.Errorf("%v matches unrelated sentinels", err)
	}
	var te *rayo.TaskError
	if !errors.As(err, &te) {
		t.Fatalf("%v is not a *TaskError", err)
	}
	if te.Message != "itest: failing on 7: itest: the sentinel error" || te.Panicked {
		t.Errorf("TaskError: message %q, panicked %v", te.Message, te.Panicked)
	}

	_, err = panics.Remote().Get(ctx)
	te = nil
	if !errors.As(err, &te) || !errors.Is(err, rayo.ErrTaskFailed) {
		t.Fatalf("panic: got %v; want a *TaskError matching ErrTaskFailed", err)
	}
	if !te.Panicked || te.Stack == "" || te.Message != "panic: itest: boom" {
		t.Errorf("panic: Panicked %v, Message %q, Stack %d bytes", te.Panicked, te.Message, len(te.Stack))
	}

	bad := map[string]rayo.ObjectRef[int]{
		"too many arguments": square.Remote(1, 2),
		"too few arguments":  square.Remote(),
		"wrong type":         square.Remote("seven"),
		"wrong ref type":     square.Remote(where.Remote()),
	}
	for name, ref := range bad {
		if _, err := ref.Get(ctx); !errors.Is(err, rayo.ErrBadCall) {
			t.Errorf("%s: got %v; want ErrBadCall", name, err)
		}
	}
	// The cluster still serves.
	if v, err := square.Remote(3).Get(ctx); err != nil || v != 9 {
		t.Fatalf("after errors: %d, %v", v, err)
	}
}

func TestCancel(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	ctx := withTimeout(t, time.Minute)
	dir := t.TempDir()

	// Queued forever (no node has the resource): it never runs.
	queued := square.Options(rayo.Resources(map[string]float64{"nowhere": 1})).Remote(1)
	if err := rayo.Cancel(queued, false); err != nil {
		t.Fatal(err)
	}
	if _, err := queued.Get(ctx); !errors.Is(err, rayo.ErrTaskCancelled) {
		t.Fatalf("queued task: got %v; want ErrTaskCancelled", err)
	}

	// Running, watching its context.
	started := filepath.Join(dir, "waitCtx")
	ref := waitCtx.Remote(started)
	waitFile(t, started, "waitCtx to start")
	if err := rayo.Cancel(ref, false); err != nil {
		t.Fatal(err)
	}
	if _, err := ref.Get(ctx); !errors.Is(err, rayo.ErrTaskCancelled) {
		t.Fatalf("running task: got %v; want ErrTaskCancelled", err)
	}

	// Running, ignoring its context: force kills its worker.
	started = filepath.Join(dir, "ignoreCtx")
	ref = ignoreCtx.Remote(started)
	waitFile(t, started, "ignoreCtx to start")
	if err := rayo.Cancel(ref, true); err != nil {
		t.Fatal(err)
	}
	if _, err := ref.Get(ctx); !errors.Is(err, rayo.ErrTaskCancelled) {
		t.Fatalf("forced cancel: got %v; want ErrTaskCancelled", err)
	}

	// The cluster still serves new tasks, on every node.
	if v, err := square.Remote(12).Get(ctx); err != nil || v != 144 {
		t.Fatalf("after cancel: %d, %v", v, err)
	}
	if _, err := where.Options(rayo.Resources(special)).Remote().Get(ctx); err != nil {
		t.Fatalf("after cancel, on the special node: %v", err)
	}
}

func TestWrongTokenRefused(t *testing.T) {
	c := startCluster(t)
	ctx := withTimeout(t, time.Minute)
	err := rayo.Init(ctx, rayo.WithAddress(c.Address()), rayo.WithToken("wrong"), rayo.WithLogToDriver(false))
	rayo.Shutdown()
	if !errors.Is(err, rayo.ErrUnauthenticated) {
		t.Fatalf("Init with a wrong token: %v; want ErrUnauthenticated", err)
	}
	if _, err := square.Remote(2).Get(ctx); !errors.Is(err, rayo.ErrNotInitialized) {
		t.Fatalf("after the refused Init, a call returned %v; want ErrNotInitialized", err)
	}
	// The right token still works after the refusal.
	connect(t, c)
	if v, err := square.Remote(2).Get(ctx); err != nil || v != 4 {
		t.Fatalf("with the right token: %d, %v", v, err)
	}
}

// A worker is ready when its first task arrives: rayo.NodeID and the
// runtime (Put, Get, Remote inside the task) work from the first task on.
// Each job gets fresh workers, whose first task is pushed as soon as they
// register with their node, so several short jobs give the race several
// chances.
func TestWorkerReadyForFirstTask(t *testing.T) {
	c := startCluster(t)
	for round := 0; round < 6; round++ {
		connect(t, c)
		ctx := withTimeout(t, time.Minute)
		refs := []rayo.ObjectRef[string]{firstTask.Remote(), firstTask.Remote(),
			firstTask.Options(rayo.Resources(special)).Remote()}
		for i, r := range refs {
			if _, err := r.Get(ctx); err != nil {
				t.Errorf("job %d, task %d: %v", round, i, err)
			}
		}
		rayo.Shutdown()
	}
}

// Cancelling a task that waits for resources withdraws its demand: rayo
// status stops reporting it.
func TestCancelledDemandLeavesStatus(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	ctx := withTimeout(t, time.Minute)
	hasDemand := func() bool {
		for _, n := range c.Status(t).Nodes {
			for _, d := range n.Demands {
				if d.Shape["nowhere"] > 0 {
					return true
				}
			}
		}
		return false
	}
	ref := square.Options(rayo.Resources(map[string]float64{"nowhere": 1})).Remote(1)
	c.WaitFor(t, 30*time.Second, hasDemand, "ClusterStatus to report the nowhere demand")
	if err := rayo.Cancel(ref, false); err != nil {
		t.Fatal(err)
	}
	if _, err := ref.Get(ctx); !errors.Is(err, rayo.ErrTaskCancelled) {
		t.Fatalf("got %v; want ErrTaskCancelled", err)
	}
	c.WaitFor(t, 10*time.Second, func() bool { return !hasDemand() },
		"the cancelled task's demand to leave ClusterStatus")
}
