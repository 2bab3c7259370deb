package integration_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

// ---- actors and tasks (package level: the workers register them too) ----

// actCounter is the "itest.Counter" actor. testdata/detached registers the
// same class (constructor argument, Incr and Pid) in its own binary.
type actCounter struct {
	mu sync.Mutex
	n  int
}

// actHolder carries a handle inside a value.
type actHolder struct {
	Tag string
	C   rayo.ActorHandle[actCounter]
}

// actSquare is what actSquareWho returns: which actor process squared x.
type actSquare struct {
	X, Sq, Pid int
}

// actRelay calls the counter it was constructed with.
type actRelay struct {
	c rayo.ActorHandle[actCounter]
}

// actFaulty's constructor fails as its argument says.
type actFaulty struct{}

// actBarrier lets n callers through once all n have arrived.
type actBarrier struct {
	mu      sync.Mutex
	n, seen int
	all     chan struct{}
}

var errCtorRefused = errors.New("itest: the constructor refuses")

func init() { rayo.RegisterError("itest.ctorRefused", errCtorRefused) }

// callTimeout bounds every Get made inside a task or a method.
const callTimeout = time.Minute

var (
	counterActor = rayo.RegisterActor[actCounter]("itest.Counter", func(start int) *actCounter {
		return &actCounter{n: start}
	})
	cIncr = rayo.RegisterMethod[int](counterActor, "Incr", func(c *actCounter, by int) int {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.n += by
		return c.n
	})
	cPid  = rayo.RegisterMethod[int](counterActor, "Pid", func(*actCounter) int { return os.Getpid() })
	cNode = rayo.RegisterMethod[string](counterActor, "Node", func(*actCounter) string { return rayo.NodeID() })
	// cBlock writes its pid into started, then waits until release
	// exists, and returns its pid.
	cBlock = rayo.RegisterMethod[int](counterActor, "Block", func(_ *actCounter, ctx context.Context, started, release string) (int, error) {
		if err := os.WriteFile(started, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return 0, err
		}
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		for {
			if _, err := os.Stat(release); err == nil {
				return os.Getpid(), nil
			}
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	cSquareWho = rayo.RegisterMethod[actSquare](counterActor, "SquareWho", func(_ *actCounter, x int) actSquare {
		return actSquare{X: x, Sq: x * x, Pid: os.Getpid()}
	})

	relayActor = rayo.RegisterActor[actRelay]("itest.Relay", func(c rayo.ActorHandle[actCounter]) *actRelay {
		return &actRelay{c: c}
	})
	rForward = rayo.RegisterMethod[int](relayActor, "Forward", func(r *actRelay, ctx context.Context, by int) (int, error) {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		return cIncr.Remote(r.c, by).Get(ctx)
	})

	faultyActor = rayo.RegisterActor[actFaulty]("itest.Faulty", func(mode string) (*actFaulty, error) {
		switch mode {
		case "error":
			return nil, fmt.Errorf("itest: faulty constructor: %w", errCtorRefused)
		case "panic":
			panic("itest: the constructor panics")
		}
		return &actFaulty{}, nil
	})
	fPing = rayo.RegisterMethod[string](faultyActor, "Ping", func(*actFaulty) string { return "pong" })

	barrierActor = rayo.RegisterActor[actBarrier]("itest.Barrier", func(n int) *actBarrier {
		return &actBarrier{n: n, all: make(chan struct{})}
	})
	bArrive = rayo.RegisterMethod[int](barrierActor, "Arrive", func(b *actBarrier, ctx context.Context) (int, error) {
		b.mu.Lock()
		b.seen++
		if b.seen == b.n {
			close(b.all)
		}
		b.mu.Unlock()
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		select {
		case <-b.all:
			return b.n, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})

	// actCountMany meets the other callers at the barrier, then calls the
	// shared counter n times (all calls submitted before the first Get),
	// and checks that its own results increase.
	actCountMany = rayo.Register[[]int]("itest.countMany", func(ctx context.Context, b rayo.ActorHandle[actBarrier], c rayo.ActorHandle[actCounter], n int) ([]int, error) {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		if _, err := bArrive.Remote(b).Get(ctx); err != nil {
			return nil, fmt.Errorf("barrier: %w", err)
		}
		refs := make([]rayo.ObjectRef[int], n)
		for i := range refs {
			refs[i] = cIncr.Remote(c, 1)
		}
		vals, err := rayo.GetAll(ctx, refs)
		if err != nil {
			return nil, err
		}
		for i := 1; i < len(vals); i++ {
			if vals[i] <= vals[i-1] {
				return vals, fmt.Errorf("call %d returned %d after %d: this caller's calls ran out of order", i, vals[i], vals[i-1])
			}
		}
		return vals, nil
	})

	// actViaHolder calls the counter whose handle came inside a struct.
	actViaHolder = rayo.Register[int]("itest.viaHolder", func(ctx context.Context, h actHolder, by int) (int, error) {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		return cIncr.Remote(h.C, by).Get(ctx)
	})
	// actWrap returns the handle it was given, inside a value.
	actWrap = rayo.Register[actHolder]("itest.wrapHandle", func(c rayo.ActorHandle[actCounter], tag string) actHolder {
		return actHolder{Tag: tag, C: c}
	})
	// actNewInTask creates a counter and returns its handle inside a value.
	actNewInTask = rayo.Register[actHolder]("itest.newCounterInTask", func(ctx context.Context, start int) (actHolder, error) {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		c, err := counterActor.New(ctx, start)
		return actHolder{Tag: "made in a task", C: c}, err
	})
)

// ---- helpers ----

// connectNS is connect with a namespace for the job.
func connectNS(t *testing.T, c *testcluster.Cluster, ns string) {
	t.Helper()
	ctx := withTimeout(t, time.Minute)
	if err := rayo.Init(ctx, rayo.WithAddress(c.Address()), rayo.WithToken(c.Token()), rayo.WithLogToDriver(false),
		rayo.WithNamespace(ns)); err != nil {
		t.Fatalf("rayo.Init: %v", err)
	}
	t.Cleanup(rayo.Shutdown)
}

// getT is a Get with its own deadline.
func getT[T any](t *testing.T, ref rayo.ObjectRef[T], d time.Duration) (T, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return ref.Get(ctx)
}

// mustGet is getT that fails the test on error.
func mustGet[T any](t *testing.T, ref rayo.ObjectRef[T], what string) T {
	t.Helper()
	v, err := getT(t, ref, time.Minute)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// newActor creates an actor and waits until it is ready.
func newActor[A any](t *testing.T, at *rayo.ActorType[A], args ...any) rayo.ActorHandle[A] {
	t.Helper()
	ctx := withTimeout(t, time.Minute)
	h, err := at.New(ctx, args...)
	if err != nil {
		t.Fatalf("creating a %s: %v", at.Class(), err)
	}
	if err := h.Ready(ctx); err != nil {
		t.Fatalf("%s %s never became ready: %v", at.Class(), h.ID(), err)
	}
	return h
}

// actorInfo returns the head's entry for an actor.
func actorInfo(t *testing.T, c *testcluster.Cluster, id string) protocol.ActorInfo {
	t.Helper()
	for _, a := range c.Status(t).Actors {
		if a.ActorID == id {
			return a
		}
	}
	t.Fatalf("the head does not list actor %s", id)
	return protocol.ActorInfo{}
}

// actorPid returns the pid of the counter's process, checking that it is
// a worker of the cluster and that the head agrees.
func actorPid(t *testing.T, c *testcluster.Cluster, h rayo.ActorHandle[actCounter]) int {
	t.Helper()
	pid := mustGet(t, cPid.Remote(h), "Pid")
	if !slices.Contains(c.WorkerPids(t), pid) {
		t.Fatalf("the actor's pid %d is not a worker of the cluster (%v)", pid, c.WorkerPids(t))
	}
	if info := actorInfo(t, c, h.ID()); info.Pid != pid {
		t.Fatalf("the actor says its pid is %d, the head says %d", pid, info.Pid)
	}
	return pid
}

// kill9 kills a worker of the cluster with SIGKILL and waits until it is
// gone.
func kill9(t *testing.T, c *testcluster.Cluster, pid int) {
	t.Helper()
	if !slices.Contains(c.WorkerPids(t), pid) {
		t.Fatalf("refusing to kill %d: not a worker of the cluster", pid)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testcluster.WaitFor(t, 10*time.Second, func() bool { return !testcluster.Alive(pid) },
		fmt.Sprintf("the killed worker %d to be gone", pid))
}

// waitRestarted waits until the head reports the actor alive again in a
// process other than pid.
func waitRestarted(t *testing.T, c *testcluster.Cluster, id string, pid int) {
	t.Helper()
	c.WaitFor(t, time.Minute, func() bool {
		info := actorInfo(t, c, id)
		if info.State == protocol.ActorDead {
			t.Fatalf("actor %s died instead of restarting: %+v", id, info.Death)
		}
		return info.State == protocol.ActorAlive && info.Pid != pid && info.NumRestarts == 1
	}, fmt.Sprintf("actor %s to be restarted", id))
}

// startBlock calls Block and waits until it runs; it returns the call,
// the pid it runs in, and the file that releases it.
func startBlock(t *testing.T, h rayo.ActorHandle[actCounter]) (rayo.ObjectRef[int], int, string) {
	t.Helper()
	dir := t.TempDir()
	started, release := filepath.Join(dir, "started"), filepath.Join(dir, "release")
	ref := cBlock.Remote(h, started, release)
	return ref, waitPid(t, started, "Block to start"), release
}

// waitPid waits until a task has written its pid into path (the file
// appears before its content) and returns the pid.
func waitPid(t *testing.T, path, what string) int {
	t.Helper()
	var b []byte
	testcluster.WaitFor(t, 30*time.Second, func() bool {
		var err error
		b, err = os.ReadFile(path)
		return err == nil && len(b) > 0
	}, what)
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatalf("%s: %q written into %s is no pid", what, b, path)
	}
	return pid
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// diedCause names the cause of an *ActorDiedError.
func diedCause(err error) string {
	var de *rayo.ActorDiedError
	if !errors.As(err, &de) {
		return fmt.Sprintf("not an *ActorDiedError: %T", err)
	}
	for name, s := range map[string]error{"ErrActorKilled": rayo.ErrActorKilled, "ErrActorCrashed": rayo.ErrActorCrashed,
		"ErrNodeDied": rayo.ErrNodeDied, "ErrConstructorFailed": rayo.ErrConstructorFailed,
		"ErrActorOutOfScope": rayo.ErrActorOutOfScope, "ErrActorExited": rayo.ErrActorExited, "ErrOwnerDied": rayo.ErrOwnerDied} {
		if de.Cause == s {
			return name
		}
	}
	return fmt.Sprintf("unknown cause %v", de.Cause)
}

// statusJSON is the part of `rayo status --format json` about actors.
type statusJSON struct {
	Actors        map[string]int `json:"actors_by_state"`
	PendingActors []struct {
		ActorID    string             `json:"actor_id"`
		Class      string             `json:"class"`
		Name       string             `json:"name"`
		State      string             `json:"state"`
		Resources  map[string]float64 `json:"resources"`
		Infeasible bool               `json:"infeasible"`
	} `json:"pending_actors"`
}

// rayoStatus runs `rayo status` against the cluster and returns its
// output.
func rayoStatus(t *testing.T, c *testcluster.Cluster, args ...string) string {
	t.Helper()
	out, err := c.Rayo(t, append([]string{"status", "--address", c.Address(), "--token", c.Token()}, args...)...)
	if err != nil {
		t.Fatalf("rayo status %v: %v\n%s", args, err, out)
	}
	return out
}

func rayoStatusJSON(t *testing.T, c *testcluster.Cluster) statusJSON {
	t.Helper()
	out := rayoStatus(t, c, "--format", "json")
	var st statusJSON
	if err := json.Unmarshal([]byte(out[max(strings.Index(out, "{"), 0):]), &st); err != nil {
		t.Fatalf("rayo status --format json printed something else than JSON: %v\n%s", err, out)
	}
	return st
}

// runDriver runs testdata/detached against the cluster to completion.
func runDriver(t *testing.T, c *testcluster.Cluster, args ...string) string {
	t.Helper()
	bin := testcluster.BuildProgram(t, "./tests/integration/testdata/detached")
	out, err := testcluster.Run(t, 2*time.Minute, testcluster.Command{Name: "detached", Path: bin, Args: args,
		Dir: t.TempDir(), Env: []string{"RAYO_ADDRESS=" + c.Address(), "RAYO_TOKEN=" + c.Token()}})
	if err != nil {
		t.Fatalf("detached %v: %v\n%s", args, err, out)
	}
	return out
}

var (
	createdRe = regexp.MustCompile(`(?m)^created (\S+) pid (\d+)$`)
	workerRe  = regexp.MustCompile(`(?m)^worker (\d+)$`)
)

// driverOutput parses what testdata/detached printed.
func driverOutput(t *testing.T, out string) (actorID string, pid int, workers []int) {
	t.Helper()
	m := createdRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the driver did not print created:\n%s", out)
	}
	pid, _ = strconv.Atoi(m[2])
	for _, w := range workerRe.FindAllStringSubmatch(out, -1) {
		p, _ := strconv.Atoi(w[1])
		workers = append(workers, p)
	}
	return m[1], pid, workers
}

// waitJobEnded waits until the head reports the job of the driver with
// that pid ended.
func waitJobEnded(t *testing.T, c *testcluster.Cluster, driverPid int) {
	t.Helper()
	c.WaitFor(t, 30*time.Second, func() bool {
		for _, j := range c.Status(t).Jobs {
			if j.DriverPid == driverPid {
				return !j.Alive
			}
		}
		return false
	}, fmt.Sprintf("the job of driver %d to end", driverPid))
}

// ---- tests ----

// Calls from one caller run in the order they were made; calls from
// concurrent callers each keep their own order.
func TestActorOrderedCounter(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	counter := newActor(t, counterActor, 0)
	defer runtime.KeepAlive(counter) // see TestActorPendingCallKeepsActorInScope

	const n = 500
	refs := make([]rayo.ObjectRef[int], n)
	for i := range refs {
		refs[i] = cIncr.Remote(counter, 1)
	}
	vals, err := rayo.GetAll(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if v != i+1 {
			t.Fatalf("call %d returned %d, want %d: the calls ran out of order", i, v, i+1)
		}
	}

	// Two tasks, which meet at a barrier first so that they call the
	// counter at the same time, each through its own copy of the handle.
	const each = 200
	barrier := newActor(t, barrierActor.Options(rayo.MaxConcurrency(2)), 2)
	a, b := actCountMany.Remote(barrier, counter, each), actCountMany.Remote(barrier, counter, each)
	va, err := a.Get(ctx)
	if err != nil {
		t.Fatalf("task a: %v", err)
	}
	vb, err := b.Get(ctx)
	if err != nil {
		t.Fatalf("task b: %v", err)
	}
	if len(va) != each || len(vb) != each {
		t.Fatalf("the tasks got %d and %d results, want %d each", len(va), len(vb), each)
	}
	all := slices.Concat(va, vb)
	slices.Sort(all)
	for i, v := range all {
		if v != n+1+i {
			t.Fatalf("the tasks' results are not %d..%d: position %d holds %d", n+1, n+2*each, i, v)
		}
	}
	if v := mustGet(t, cIncr.Remote(counter, 0), "Incr(0)"); v != n+2*each {
		t.Fatalf("the counter ends at %d, want %d", v, n+2*each)
	}
	interleaved := va[len(va)-1] > vb[0] && vb[len(vb)-1] > va[0]
	t.Logf("task a got %d..%d, task b %d..%d (interleaved: %v)", va[0], va[len(va)-1], vb[0], vb[len(vb)-1], interleaved)
}

// Handles travel inside values: into tasks, out of tasks, into actors'
// constructors.
func TestActorHandlePassing(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	counter := newActor(t, counterActor, 0)
	defer runtime.KeepAlive(counter) // see TestActorPendingCallKeepsActorInScope

	// Inside a struct passed to a task.
	if v := mustGet(t, actViaHolder.Remote(actHolder{Tag: "in", C: counter}, 2), "viaHolder"); v != 2 {
		t.Fatalf("through the handle in a struct: %d, want 2", v)
	}
	// Returned from a task inside a value.
	back := mustGet(t, actWrap.Remote(counter, "back"), "wrapHandle")
	if back.Tag != "back" || back.C.ID() != counter.ID() {
		t.Fatalf("the task returned %+v, want the handle of %s", back, counter.ID())
	}
	if v := mustGet(t, cIncr.Remote(back.C, 3), "Incr through the returned handle"); v != 5 {
		t.Fatalf("through the returned handle: %d, want 5", v)
	}
	// A task's result holding a handle, passed by reference to another.
	if v := mustGet(t, actViaHolder.Remote(actWrap.Remote(counter, "ref"), 1), "viaHolder(ref)"); v != 6 {
		t.Fatalf("through a handle in a task result passed by reference: %d, want 6", v)
	}
	// An actor created inside a task, its handle returned in a value.
	made := mustGet(t, actNewInTask.Remote(100), "newCounterInTask")
	if made.C.ID() == "" || made.C.ID() == counter.ID() {
		t.Fatalf("the task returned %+v", made)
	}
	if v := mustGet(t, cIncr.Remote(made.C, 1), "Incr on the actor a task made"); v != 101 {
		t.Fatalf("the actor a task made: %d, want 101", v)
	}
	if v := mustGet(t, actViaHolder.Remote(made, 1), "viaHolder(made)"); v != 102 {
		t.Fatalf("the actor a task made, called from another task: %d, want 102", v)
	}
	// An actor constructed with another actor's handle.
	relay := newActor(t, relayActor, counter)
	defer runtime.KeepAlive(relay)
	if v := mustGet(t, rForward.Remote(relay, 10), "Forward"); v != 16 {
		t.Fatalf("through the relay: %d, want 16", v)
	}
	if v := mustGet(t, cIncr.Remote(counter, 1), "Incr"); v != 17 {
		t.Fatalf("after the relay: %d, want 17 (the relay called another counter?)", v)
	}
}

// Actors go where their resources are; one that no node can hold waits,
// shows as infeasible in rayo status, and is placed once a node fits.
func TestActorPlacement(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	specialNode := c.NodeIDWithResource(t, "special")

	sp := newActor(t, counterActor.Options(rayo.Resources(special)), 0)
	defer runtime.KeepAlive(sp) // alive to the end, where it is counted
	if got := mustGet(t, cNode.Remote(sp), "Node"); got != specialNode {
		t.Fatalf("the special actor runs on %s, want the special node %s", got, specialNode)
	}
	if info := actorInfo(t, c, sp.ID()); info.NodeID != specialNode {
		t.Fatalf("the head places the special actor on %s, want %s", info.NodeID, specialNode)
	}

	ctx := withTimeout(t, 2*time.Minute)
	gpu, err := counterActor.Options(rayo.Resources(map[string]float64{"gpu_like": 1}), rayo.Name("itest-gpu")).New(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	call := cNode.Remote(gpu) // waits with the actor
	var st statusJSON
	c.WaitFor(t, 30*time.Second, func() bool {
		st = rayoStatusJSON(t, c)
		for _, a := range st.PendingActors {
			if a.ActorID == gpu.ID() {
				return a.Infeasible
			}
		}
		return false
	}, "rayo status --format json to list the gpu_like actor as pending and infeasible")
	for _, a := range st.PendingActors {
		if a.ActorID == gpu.ID() {
			if a.Class != "itest.Counter" || a.Name != "itest-gpu" || a.State != protocol.ActorPending || a.Resources["gpu_like"] != 1 {
				t.Errorf("rayo status lists the pending actor as %+v", a)
			}
		}
	}
	if st.Actors[protocol.ActorPending] < 1 || st.Actors[protocol.ActorAlive] < 1 {
		t.Errorf("actors_by_state %v: want the pending one and the special one", st.Actors)
	}
	if out := rayoStatus(t, c); !strings.Contains(out, gpu.ID()) || !strings.Contains(out, "INFEASIBLE") {
		t.Errorf("rayo status does not show the infeasible actor %s:\n%s", gpu.ID(), out)
	}
	if _, err := getT(t, call, 200*time.Millisecond); !errors.Is(err, rayo.ErrGetTimeout) {
		t.Fatalf("a call on the infeasible actor returned %v before any node could hold it", err)
	}

	p := c.AddNode(t, testcluster.NodeSpec{CPUs: 1, Resources: map[string]float64{"gpu_like": 1}})
	if got := mustGet(t, call, "Node on the gpu_like actor"); got != p.NodeID {
		t.Fatalf("the gpu_like actor runs on %s, want the new node %s", got, p.NodeID)
	}
	if v := mustGet(t, cIncr.Remote(gpu, 1), "Incr on the gpu_like actor"); v != 1 {
		t.Fatalf("Incr: %d, want 1", v)
	}
	c.WaitFor(t, 30*time.Second, func() bool {
		st := rayoStatusJSON(t, c)
		return len(st.PendingActors) == 0 && st.Actors[protocol.ActorAlive] == 2
	}, "rayo status to show no pending actor and two alive ones")
	// The handle is held to here: collected after its last call, the
	// actor goes out of scope and dies before the status shows it alive.
	runtime.KeepAlive(gpu)
}

// A detached named actor outlives the driver that made it, and another
// driver finds it by name, state intact; a non-detached one does not.
func TestActorDetachedAcrossDrivers(t *testing.T) {
	c := startCluster(t)
	headNode, specialNode := c.HeadNodeID(), c.NodeIDWithResource(t, "special")
	// The first driver leaves a worker of its job on each node: once they
	// are gone, both nodes know that the job ended.
	out := runDriver(t, c, "-name", "itest-detached", "-tasks-on", headNode+","+specialNode)
	actorID, pid, workers := driverOutput(t, out)
	if len(workers) != 2 {
		t.Fatalf("the driver printed %d worker pids, want 2:\n%s", len(workers), out)
	}
	out = runDriver(t, c, "-name", "itest-scoped", "-detached=false")
	scopedID, _, _ := driverOutput(t, out)
	c.WaitFor(t, 30*time.Second, func() bool {
		jobs := c.Status(t).Jobs
		for _, j := range jobs {
			if j.Alive {
				return false
			}
		}
		return len(jobs) == 2
	}, "the head to see both drivers' jobs end")
	c.WaitFor(t, 30*time.Second, func() bool {
		return !testcluster.Alive(workers[0]) && !testcluster.Alive(workers[1])
	}, "the ended job's task workers to exit")

	connectNS(t, c, "itest")
	ctx := withTimeout(t, time.Minute)

	// The non-detached named actor ended with the driver that made it.
	var lastErr error
	c.WaitFor(t, 10*time.Second, func() bool {
		_, lastErr = rayo.GetActor[actCounter](ctx, "itest-scoped")
		return errors.Is(lastErr, rayo.ErrActorNotFound)
	}, "GetActor of the job-scoped actor to fail with ErrActorNotFound")
	if info := actorInfo(t, c, scopedID); info.State != protocol.ActorDead || info.Death == nil || info.Death.Code != protocol.DeathOwnerDied {
		t.Errorf("the job-scoped actor is %s (%+v), want DEAD, owner died", info.State, info.Death)
	}

	// The detached one lives on, in the same process, with its state.
	h, err := rayo.GetActor[actCounter](ctx, "itest-detached")
	if err != nil {
		info := actorInfo(t, c, actorID)
		t.Fatalf("GetActor of the detached actor: %v (the head lists it as %s: %+v)", err, info.State, info.Death)
	}
	if h.ID() != actorID {
		t.Fatalf("GetActor found %s, the driver made %s", h.ID(), actorID)
	}
	if v, err := getT(t, cIncr.Remote(h, 1), time.Minute); err != nil || v != 4 {
		t.Fatalf("Incr on the detached actor: %d, %v; want 4", v, err)
	}
	if p := mustGet(t, cPid.Remote(h), "Pid"); p != pid {
		t.Fatalf("the detached actor runs in %d, it ran in %d: it was restarted", p, pid)
	}
	// Another job cannot take its name.
	if _, err := counterActor.Options(rayo.Name("itest-detached")).New(ctx, 0); !errors.Is(err, rayo.ErrActorNameTaken) {
		t.Fatalf("creating another itest-detached: %v; want ErrActorNameTaken", err)
	}
}

// A job-scoped actor dies with its driver: GetActor stops finding it,
// calls through a handle fail with ErrOwnerDied, and its process exits.
func TestActorJobScopedDiesWithDriver(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	bin := testcluster.BuildProgram(t, "./tests/integration/testdata/detached")
	release := filepath.Join(t.TempDir(), "exit")
	p := testcluster.Spawn(t, testcluster.Command{Name: "detached", Path: bin, Dir: t.TempDir(),
		Args: []string{"-name", "itest-scoped", "-namespace", "itest2", "-detached=false", "-wait-for", release},
		Env:  []string{"RAYO_ADDRESS=" + c.Address(), "RAYO_TOKEN=" + c.Token()}})
	c.WaitFor(t, time.Minute, func() bool {
		if p.Exited() {
			t.Fatalf("the driver exited early: %v\n%s", p.ExitErr(), p.Output())
		}
		return createdRe.MatchString(p.Output())
	}, "the driver to create its actor")
	actorID, pid, _ := driverOutput(t, p.Output())

	ctx := withTimeout(t, time.Minute)
	h, err := rayo.GetActor[actCounter](ctx, "itest-scoped", rayo.Namespace("itest2"))
	if err != nil || h.ID() != actorID {
		t.Fatalf("GetActor while the driver lives: %v, %v; want %s", h, err, actorID)
	}
	if v := mustGet(t, cIncr.Remote(h, 1), "Incr while the driver lives"); v != 4 {
		t.Fatalf("Incr while the driver lives: %d, want 4", v)
	}

	touch(t, release)
	if !p.Wait(30 * time.Second) {
		t.Fatal("the driver did not exit")
	}
	if err := p.ExitErr(); err != nil {
		t.Fatalf("the driver: %v\n%s", err, p.Output())
	}
	var lastErr error
	c.WaitFor(t, 10*time.Second, func() bool {
		_, lastErr = rayo.GetActor[actCounter](ctx, "itest-scoped", rayo.Namespace("itest2"))
		return errors.Is(lastErr, rayo.ErrActorNotFound)
	}, "GetActor of the job-scoped actor to fail with ErrActorNotFound")
	_, err = getT(t, cIncr.Remote(h, 1), time.Minute)
	if !errors.Is(err, rayo.ErrActorDied) || !errors.Is(err, rayo.ErrOwnerDied) {
		t.Fatalf("a call after the driver exited: %v (%s); want ErrActorDied, ErrOwnerDied", err, diedCause(err))
	}
	c.WaitFor(t, 10*time.Second, func() bool { return !testcluster.Alive(pid) },
		fmt.Sprintf("the job-scoped actor's process %d to exit", pid))
}

// kill -9 of an actor with a restart left: the next call runs in a new
// process, on fresh state.
func TestActorKill9Restarts(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	a := newActor(t, counterActor.Options(rayo.MaxRestarts(1)), 0)
	defer runtime.KeepAlive(a) // see TestActorPendingCallKeepsActorInScope
	for i := 1; i <= 5; i++ {
		mustGet(t, cIncr.Remote(a, 1), "Incr")
	}
	pid := actorPid(t, c, a)
	kill9(t, c, pid)
	waitRestarted(t, c, a.ID(), pid)
	v, err := getT(t, cIncr.Remote(a, 1), time.Minute)
	if err != nil || v != 1 {
		t.Fatalf("Incr after the restart: %d, %v; want 1 (the constructor re-ran)", v, err)
	}
	if pid2 := actorPid(t, c, a); pid2 == pid {
		t.Fatalf("the actor still runs in %d", pid)
	}
}

// kill -9 of an actor without restarts: calls fail, cause crashed.
func TestActorKill9NoRestart(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	a := newActor(t, counterActor.Options(rayo.MaxRestarts(0)), 0)
	mustGet(t, cIncr.Remote(a, 1), "Incr")
	kill9(t, c, actorPid(t, c, a))
	for i := 0; i < 2; i++ {
		_, err := getT(t, cIncr.Remote(a, 1), time.Minute)
		if !errors.Is(err, rayo.ErrActorDied) || !errors.Is(err, rayo.ErrActorCrashed) {
			t.Fatalf("call %d after kill -9: %v (%s); want ErrActorDied, ErrActorCrashed", i, err, diedCause(err))
		}
	}
	ctx := withTimeout(t, time.Minute)
	if err := a.Ready(ctx); !errors.Is(err, rayo.ErrActorCrashed) {
		t.Fatalf("Ready after kill -9: %v; want ErrActorCrashed", err)
	}
	// The cluster still makes actors.
	b := newActor(t, counterActor, 7)
	defer runtime.KeepAlive(b) // see TestActorPendingCallKeepsActorInScope
	if v := mustGet(t, cIncr.Remote(b, 1), "Incr on a new actor"); v != 8 {
		t.Fatalf("a new actor: %d, want 8", v)
	}
}

// A call in flight when the actor's process is killed is resent to the
// restarted actor (MaxTaskRetries 1).
func TestActorKill9InFlightRetried(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	a := newActor(t, counterActor.Options(rayo.MaxRestarts(1), rayo.MaxTaskRetries(1)), 0)
	defer runtime.KeepAlive(a) // see TestActorPendingCallKeepsActorInScope
	mustGet(t, cIncr.Remote(a, 41), "Incr")
	ref, pid, release := startBlock(t, a)
	if info := actorInfo(t, c, a.ID()); info.Pid != pid {
		t.Fatalf("Block runs in %d, the head says the actor is %d", pid, info.Pid)
	}
	kill9(t, c, pid)
	touch(t, release) // only the retry can see it
	got, err := getT(t, ref, time.Minute)
	if err != nil {
		t.Fatalf("the in-flight call: %v; want it retried on the restarted actor", err)
	}
	if got == pid {
		t.Fatalf("the in-flight call returned the killed process's pid %d", pid)
	}
	if v := mustGet(t, cIncr.Remote(a, 1), "Incr after the restart"); v != 1 {
		t.Fatalf("Incr after the restart: %d, want 1 (fresh state)", v)
	}
	if p := actorPid(t, c, a); p != got {
		t.Fatalf("the retried call ran in %d, the actor now runs in %d", got, p)
	}
}

// Without task retries, the call in flight fails; the actor restarts and
// later calls succeed.
func TestActorKill9InFlightNotRetried(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	a := newActor(t, counterActor.Options(rayo.MaxRestarts(1), rayo.MaxTaskRetries(0)), 0)
	defer runtime.KeepAlive(a) // see TestActorPendingCallKeepsActorInScope
	mustGet(t, cIncr.Remote(a, 41), "Incr")
	ref, pid, release := startBlock(t, a)
	kill9(t, c, pid)
	touch(t, release)
	_, err := getT(t, ref, time.Minute)
	switch {
	case errors.Is(err, rayo.ErrActorUnavailable):
		t.Logf("the in-flight call failed with ErrActorUnavailable: %v", err)
	case errors.Is(err, rayo.ErrActorDied):
		t.Logf("the in-flight call failed with ErrActorDied (%s): %v", diedCause(err), err)
	default:
		t.Fatalf("the in-flight call: %v; want ErrActorUnavailable or ErrActorDied", err)
	}
	waitRestarted(t, c, a.ID(), pid)
	if v, err := getT(t, cIncr.Remote(a, 1), time.Minute); err != nil || v != 1 {
		t.Fatalf("Incr after the restart: %d, %v; want 1", v, err)
	}
	if p := actorPid(t, c, a); p == pid {
		t.Fatalf("the actor still runs in %d", pid)
	}
}

// A constructor that fails or panics leaves a dead actor whose calls say
// why.
func TestActorConstructorFailure(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	ctx := withTimeout(t, time.Minute)

	// Restarts do not apply: a failed constructor is final.
	f, err := faultyActor.Options(rayo.MaxRestarts(2)).New(ctx, "error")
	if err != nil {
		t.Fatalf("New: %v (the constructor's failure shows in the calls)", err)
	}
	defer runtime.KeepAlive(f) // dead of its constructor, not out of scope
	_, err = getT(t, fPing.Remote(f), time.Minute)
	if !errors.Is(err, rayo.ErrActorDied) || !errors.Is(err, rayo.ErrConstructorFailed) || !errors.Is(err, errCtorRefused) {
		t.Fatalf("a call on an actor whose constructor failed: %v; want ErrActorDied, ErrConstructorFailed and the sentinel", err)
	}
	var te *rayo.TaskError
	if !errors.As(err, &te) || !strings.Contains(te.Message, "itest: faulty constructor: itest: the constructor refuses") {
		t.Fatalf("errors.As(*TaskError) on %v: %+v", err, te)
	}
	if err := f.Ready(ctx); !errors.Is(err, rayo.ErrConstructorFailed) || !errors.Is(err, errCtorRefused) {
		t.Fatalf("Ready: %v; want ErrConstructorFailed", err)
	}
	if info := actorInfo(t, c, f.ID()); info.State != protocol.ActorDead || info.NumRestarts != 0 {
		t.Fatalf("the head lists the actor as %s after %d restarts", info.State, info.NumRestarts)
	}

	p, err := faultyActor.New(ctx, "panic")
	if err != nil {
		t.Fatal(err)
	}
	defer runtime.KeepAlive(p)
	_, err = getT(t, fPing.Remote(p), time.Minute)
	if !errors.Is(err, rayo.ErrActorDied) || !errors.Is(err, rayo.ErrConstructorFailed) {
		t.Fatalf("a call on an actor whose constructor panicked: %v; want ErrActorDied, ErrConstructorFailed", err)
	}
	te = nil
	if !errors.As(err, &te) || !te.Panicked || !strings.Contains(te.Message, "itest: the constructor panics") {
		t.Fatalf("errors.As(*TaskError) on %v: %+v", err, te)
	}

	ok := newActor(t, faultyActor, "fine")
	defer runtime.KeepAlive(ok) // see TestActorPendingCallKeepsActorInScope
	if v := mustGet(t, fPing.Remote(ok), "Ping"); v != "pong" {
		t.Fatalf("Ping: %q", v)
	}
}

// Kill without restart fails the call in flight and later calls with
// ErrActorKilled, and frees the actor's resources for another.
func TestActorKillReleasesResources(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	specialNode := c.NodeIDWithResource(t, "special")
	a := newActor(t, counterActor.Options(rayo.Resources(special), rayo.MaxRestarts(3)), 0)
	pid := actorPid(t, c, a)
	ref, _, release := startBlock(t, a)
	t.Cleanup(func() { _ = os.WriteFile(release, nil, 0o644) })

	ctx := withTimeout(t, 2*time.Minute)
	b, err := counterActor.Options(rayo.Resources(special)).New(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer runtime.KeepAlive(b) // see TestActorPendingCallKeepsActorInScope
	// The only special unit is a's: b waits (this bounded check only
	// shows it is not placed at once).
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = b.Ready(short)
	cancel()
	if err == nil {
		t.Fatalf("a second {special: 1} actor became ready while the first holds the only unit")
	}
	if info := actorInfo(t, c, b.ID()); info.State != protocol.ActorPending || info.Infeasible {
		t.Fatalf("the second actor is %s (infeasible %v), want pending and feasible", info.State, info.Infeasible)
	}

	if err := rayo.Kill(ctx, a, true); err != nil {
		t.Fatal(err)
	}
	_, err = getT(t, ref, time.Minute)
	if !errors.Is(err, rayo.ErrActorDied) || !errors.Is(err, rayo.ErrActorKilled) {
		t.Fatalf("the call in flight at Kill: %v (%s); want ErrActorDied, ErrActorKilled", err, diedCause(err))
	}
	_, err = getT(t, cIncr.Remote(a, 1), time.Minute)
	if !errors.Is(err, rayo.ErrActorDied) || !errors.Is(err, rayo.ErrActorKilled) {
		t.Fatalf("a call after Kill: %v (%s); want ErrActorDied, ErrActorKilled", err, diedCause(err))
	}
	c.WaitFor(t, 10*time.Second, func() bool { return !testcluster.Alive(pid) },
		fmt.Sprintf("the killed actor's process %d to exit", pid))
	if info := actorInfo(t, c, a.ID()); info.State != protocol.ActorDead || info.NumRestarts != 0 {
		t.Fatalf("the killed actor is %s after %d restarts; want DEAD, no restart", info.State, info.NumRestarts)
	}

	if err := b.Ready(ctx); err != nil {
		t.Fatalf("the second {special: 1} actor after the first was killed: %v", err)
	}
	if got := mustGet(t, cNode.Remote(b), "Node"); got != specialNode {
		t.Fatalf("the second actor runs on %s, want %s", got, specialNode)
	}
	if v := mustGet(t, cIncr.Remote(b, 1), "Incr"); v != 11 {
		t.Fatalf("Incr: %d, want 11", v)
	}
}

// An actor whose node dies is dead (no restarts).
func TestActorNodeDeath(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	specialNode := c.NodeIDWithResource(t, "special")
	a := newActor(t, counterActor.Options(rayo.Resources(special), rayo.MaxRestarts(0)), 0)
	if got := mustGet(t, cNode.Remote(a), "Node"); got != specialNode {
		t.Fatalf("the actor runs on %s, want %s", got, specialNode)
	}
	pid := actorPid(t, c, a)
	ref, _, release := startBlock(t, a)
	t.Cleanup(func() { _ = os.WriteFile(release, nil, 0o644) })

	var node *testcluster.Proc
	for _, p := range c.NodeProcs() {
		if p.NodeID == specialNode {
			node = p
		}
	}
	if node == nil {
		t.Fatalf("no node daemon has ID %s", specialNode)
	}
	c.KillNode(t, node)

	_, err := getT(t, ref, time.Minute)
	if !errors.Is(err, rayo.ErrActorDied) {
		t.Fatalf("the call in flight when the node died: %v; want ErrActorDied", err)
	}
	t.Logf("the call in flight: %s: %v", diedCause(err), err)
	_, err = getT(t, cIncr.Remote(a, 1), time.Minute)
	if !errors.Is(err, rayo.ErrActorDied) || !(errors.Is(err, rayo.ErrNodeDied) || errors.Is(err, rayo.ErrActorCrashed)) {
		t.Fatalf("a call after the node died: %v (%s); want ErrActorDied, with ErrNodeDied or ErrActorCrashed", err, diedCause(err))
	}
	t.Logf("a call after the node died: %s: %v", diedCause(err), err)
	c.WaitFor(t, 10*time.Second, func() bool { return !testcluster.Alive(pid) },
		fmt.Sprintf("the actor's process %d to exit with its node", pid))

	// The rest of the cluster still serves actors.
	b := newActor(t, counterActor, 0)
	defer runtime.KeepAlive(b) // see TestActorPendingCallKeepsActorInScope
	if got := mustGet(t, cNode.Remote(b), "Node"); got != c.HeadNodeID() {
		t.Fatalf("a new actor runs on %s, want the head's node %s", got, c.HeadNodeID())
	}
}

// PoolMap over three actors yields every result, in the order of values.
func TestActorPoolMap(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	var actors []rayo.ActorHandle[actCounter]
	for range 3 {
		actors = append(actors, newActor(t, counterActor, 0))
	}
	pool := rayo.NewActorPool[actCounter, actSquare](actors...)
	values := make([]int, 50)
	for i := range values {
		values[i] = 3*i + 1
	}
	var got []actSquare
	for r, err := range rayo.PoolMap(ctx, pool, values, func(a rayo.ActorHandle[actCounter], v int) rayo.ObjectRef[actSquare] {
		return cSquareWho.Remote(a, v)
	}) {
		if err != nil {
			t.Fatalf("result %d: %v", len(got), err)
		}
		got = append(got, r)
	}
	if len(got) != len(values) {
		t.Fatalf("PoolMap yielded %d results, want %d", len(got), len(values))
	}
	pids := map[int]int{}
	for i, r := range got {
		if r.X != values[i] || r.Sq != values[i]*values[i] {
			t.Fatalf("result %d is %+v, want the square of %d", i, r, values[i])
		}
		pids[r.Pid]++
	}
	if len(pids) != 3 {
		t.Fatalf("the calls ran in processes %v, want the 3 actors'", pids)
	}
	if pool.HasNext() {
		t.Fatal("the pool still has pending results")
	}
	if _, err := pool.GetNext(ctx); !errors.Is(err, rayo.ErrPoolEmpty) {
		t.Fatalf("GetNext on the drained pool: %v; want ErrPoolEmpty", err)
	}
}

// An actor whose handles are all dropped while a call on it is pending
// lives until that call completes (as in Ray), then goes out of scope.
func TestActorPendingCallKeepsActorInScope(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	ref, id, release := func() (rayo.ObjectRef[int], string, string) {
		a := newActor(t, counterActor, 0)
		ref, _, release := startBlock(t, a)
		return ref, a.ID(), release
	}()
	t.Cleanup(func() { _ = os.WriteFile(release, nil, 0o644) })
	// No handle is left, and the call is running: collect garbage for a
	// second; the actor must stay alive and the call pending.
	ctx := withTimeout(t, time.Minute)
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		runtime.GC()
		ready, _, err := rayo.Wait(ctx, []rayo.ObjectRef[int]{ref}, 1, 20*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if info := actorInfo(t, c, id); info.State != protocol.ActorAlive || len(ready) != 0 {
			_, err := getT(t, ref, time.Minute)
			t.Fatalf("with a call pending, the actor whose handles were dropped is %s (%+v); the call: %v", info.State, info.Death, err)
		}
	}
	touch(t, release)
	if _, err := getT(t, ref, time.Minute); err != nil {
		t.Fatalf("the pending call: %v", err)
	}
	// Now nothing refers to the actor: it goes out of scope.
	c.WaitFor(t, 30*time.Second, func() bool {
		runtime.GC()
		return actorInfo(t, c, id).State == protocol.ActorDead
	}, "the actor to go out of scope once its call completed")
	if d := actorInfo(t, c, id).Death; d == nil || d.Code != protocol.DeathOutOfScope {
		t.Fatalf("the actor died of %+v, want out of scope", d)
	}
}
