package integration_test

// The head killed with SIGKILL and started again on the same directory:
// the cluster goes on through the outage and recovers after it.

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

// headRestartCluster is a head with no CPU (nothing of the test runs in
// its process group, which dies with it) and two nodes: {"special": 1} and
// {"other": 1}. The head gets a short recovery grace.
func headRestartCluster(t *testing.T) (*testcluster.Cluster, *testcluster.Proc) {
	t.Helper()
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 0, ExtraArgs: []string{"--head-recovery-grace", "3s"}},
		testcluster.NodeSpec{CPUs: 2, Resources: special},
		testcluster.NodeSpec{CPUs: 2, Resources: map[string]float64{"other": 1}})
	var driverNode *testcluster.Proc
	for _, p := range c.NodeProcs() {
		if p.Spec.Resources["special"] > 0 {
			driverNode = p
		}
	}
	return c, driverNode
}

func TestHeadRestartRecoversTheCluster(t *testing.T) {
	c, driverNode := headRestartCluster(t)
	ctx := withTimeout(t, 3*time.Minute)
	// The driver submits through a node that lives on while the head dies.
	if err := rayo.Init(ctx, rayo.WithAddress(c.Address()), rayo.WithToken(c.Token()), rayo.WithLogToDriver(false),
		rayo.WithNodeAddress(driverNode.Addr), rayo.WithHeadTimeout(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rayo.Shutdown)

	// A named actor with state, on the "other" node; a detached group
	// whose bundles are on both nodes.
	h, err := counterActor.Options(rayo.Name("survivor"), rayo.Namespace("itest-restart"),
		rayo.Resources(map[string]float64{"other": 0.5})).New(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := cIncr.Remote(h, 1).Get(ctx); err != nil || v != 101 {
		t.Fatalf("Incr before the restart = %d, %v", v, err)
	}
	pg, err := rayo.NewPlacementGroup(ctx, []map[string]float64{{"CPU": 1}, {"CPU": 1}}, rayo.STRICT_SPREAD)
	if err != nil {
		t.Fatal(err)
	}
	if err := pg.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	bundleNodes, err := pg.BundleNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := c.Status(t)
	jobID := ""
	for _, j := range before.Jobs {
		if j.Alive {
			jobID = j.JobID
		}
	}

	// The head dies.
	oldHead := c.Head()
	c.KillNode(t, oldHead)
	killedAt := time.Now()

	// Calls between existing processes go on without it: actor calls,
	// tasks, objects.
	for i := 2; i <= 6; i++ {
		if v, err := cIncr.Remote(h, 1).Get(ctx); err != nil || v != 100+i {
			t.Fatalf("Incr during the outage = %d, %v", v, err)
		}
	}
	if v, err := inc.Options(rayo.Resources(special)).Remote(41).Get(ctx); err != nil || v != 42 {
		t.Fatalf("task during the outage = %d, %v", v, err)
	}
	ref, err := rayo.Put(ctx, "kept")
	if err != nil {
		t.Fatal(err)
	}

	// What needs the head waits for it: an actor created and a name
	// looked up now finish once it is back.
	var created rayo.ActorHandle[actCounter]
	var createErr error
	createDone := make(chan struct{})
	go func() {
		defer close(createDone)
		created, createErr = counterActor.Options(rayo.Name("born-in-outage"), rayo.Namespace("itest-restart"),
			rayo.Resources(special)).New(ctx, 7)
		if createErr == nil {
			_, createErr = cIncr.Remote(created, 1).Get(ctx)
		}
	}()

	// Give the creation time to fail if it would (it must not).
	select {
	case <-createDone:
		t.Fatalf("an actor creation finished with the head down: %v", createErr)
	case <-time.After(time.Second):
	}

	restartedAt := time.Now()
	c.RestartHead(t)
	// Serving again: a call that needs the head answers.
	found, err := rayo.GetActor[actCounter](ctx, "survivor", rayo.Namespace("itest-restart"))
	servedAt := time.Now()
	if err != nil {
		t.Fatalf("GetActor after the restart: %v", err)
	}
	// Every node registers again (they retry at most a second apart).
	testcluster.WaitFor(t, time.Minute, func() bool {
		for _, p := range c.NodeProcs() {
			if ns := nodeStateOf(c.Status(t), p.NodeID); ns == nil || ns.StateName() != "ALIVE" {
				return false
			}
		}
		return true
	}, "the nodes to register with the new head")
	t.Logf("head down for %v; serving %v after the restart began (the new head process included); every node back after %v",
		restartedAt.Sub(killedAt).Round(time.Millisecond), servedAt.Sub(restartedAt).Round(time.Millisecond),
		time.Since(restartedAt).Round(time.Millisecond))
	if found.ID() != h.ID() {
		t.Fatalf("the name now names actor %s, want %s", found.ID(), h.ID())
	}
	// The actor kept its state (same process: no restart).
	if v, err := cIncr.Remote(found, 1).Get(ctx); err != nil || v != 107 {
		t.Fatalf("Incr after the restart = %d, %v; want 107 (state kept)", v, err)
	}
	<-createDone
	if createErr != nil {
		t.Fatalf("creating an actor while the head was down: %v", createErr)
	}
	if s, err := ref.Get(ctx); err != nil || s != "kept" {
		t.Fatalf("Put value after the restart = %q, %v", s, err)
	}
	// The group is still placed where it was.
	if err := pg.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := pg.BundleNodes(ctx); err != nil || !slices.Equal(got, bundleNodes) {
		t.Fatalf("bundles after the restart on %v (%v), want %v", got, err, bundleNodes)
	}
	if v, err := plWhere.Options(rayo.InPlacementGroup(pg, 0)).Remote().Get(ctx); err != nil || v != bundleNodes[0] {
		t.Fatalf("a task in bundle 0 ran on %q (%v), want %s", v, err, bundleNodes[0])
	}

	// Past the recovery grace (3s): the nodes are back (same IDs), the old
	// head's node is dead, the job is still alive (its driver attached
	// again), the actor was not restarted. Waiting out the grace is what
	// shows that nothing was declared gone at its end.
	time.Sleep(time.Until(restartedAt.Add(4 * time.Second)))
	st := c.Status(t)
	// Every node lived through it, the head's machine's node too (a
	// process of its own).
	for _, n := range st.Nodes {
		if n.StateName() != "ALIVE" {
			t.Errorf("node %s (head %v): %s, want ALIVE", n.Info.NodeID, n.Info.IsHead, n.StateName())
		}
	}
	if got := c.Head().NodeID; got != oldHead.NodeID {
		t.Errorf("the head's node is %s after the restart, want the same node %s", got, oldHead.NodeID)
	}
	for _, p := range c.NodeProcs() {
		if ns := nodeStateOf(st, p.NodeID); ns == nil || !ns.Alive {
			t.Errorf("node %s did not come back under its ID", p.NodeID)
		}
	}
	for _, j := range st.Jobs {
		if j.JobID == jobID && !j.Alive {
			t.Errorf("the job %s ended: its driver did not attach again", jobID)
		}
	}
	for _, a := range st.Actors {
		if a.ActorID == h.ID() && (a.State != protocol.ActorAlive || a.NumRestarts != 0) {
			t.Errorf("the survivor: %s after %d restarts, want ALIVE without one", a.State, a.NumRestarts)
		}
	}
	if v, err := cIncr.Remote(created, 1).Get(ctx); err != nil || v != 9 {
		t.Fatalf("the actor born in the outage: Incr = %d, %v", v, err)
	}
}

// With the head down for longer than the bound, a call that needs it
// fails with ErrHeadUnavailable; calls that do not need it go on.
func TestHeadDownBeyondTheBound(t *testing.T) {
	c, driverNode := headRestartCluster(t)
	ctx := withTimeout(t, 2*time.Minute)
	if err := rayo.Init(ctx, rayo.WithAddress(c.Address()), rayo.WithToken(c.Token()), rayo.WithLogToDriver(false),
		rayo.WithNodeAddress(driverNode.Addr), rayo.WithHeadTimeout(time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rayo.Shutdown)
	h, err := counterActor.Options(rayo.Resources(map[string]float64{"other": 0.5})).New(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The caller learns where the actor is from the head, once.
	if _, err := cIncr.Remote(h, 0).Get(ctx); err != nil {
		t.Fatal(err)
	}
	c.KillNode(t, c.Head())
	start := time.Now()
	_, err = rayo.GetActor[actCounter](ctx, "nobody", rayo.Namespace("itest-restart"))
	if !errors.Is(err, rayo.ErrHeadUnavailable) {
		t.Fatalf("GetActor with the head down: %v, want ErrHeadUnavailable", err)
	}
	if waited := time.Since(start); waited < time.Second || waited > 30*time.Second {
		t.Errorf("it failed after %v; the bound is 1s", waited)
	}
	if v, err := cIncr.Remote(h, 5).Get(ctx); err != nil || v != 5 {
		t.Fatalf("an actor call with the head down = %d, %v", v, err)
	}
	if v, err := inc.Options(rayo.Resources(special)).Remote(1).Get(ctx); err != nil || v != 2 {
		t.Fatalf("a task with the head down = %d, %v", v, err)
	}
	// The actor's worker dies while the head is down: a call to it cannot
	// learn where (or whether) the actor lives now, and fails after the
	// bound rather than waiting for ever.
	pid, err := cPid.Remote(h).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := cIncr.Remote(h, 1).Get(ctx); !errors.Is(err, rayo.ErrHeadUnavailable) {
		t.Fatalf("a call to an actor whose worker died with the head down: %v, want ErrHeadUnavailable", err)
	}
}

// The head's state outlives a crash, not a stop on purpose: a head
// stopped with SIGTERM ends its cluster, and the next head on the same
// directory starts a new one.
func TestHeadStateKeptOnlyAfterACrash(t *testing.T) {
	c, _ := headRestartCluster(t)
	state := filepath.Join(c.TempDir(), "head", "head.db")
	exists := func() bool { _, err := os.Stat(state); return err == nil }
	if !exists() {
		t.Fatalf("no head state at %s", state)
	}
	c.KillNode(t, c.Head())
	if !exists() {
		t.Fatal("the head's state is gone after a crash")
	}
	head := c.RestartHead(t)
	if !exists() {
		t.Fatal("the restarted head has no state")
	}
	head.Signal(syscall.SIGTERM)
	testcluster.WaitFor(t, time.Minute, head.Exited, "the head to stop on SIGTERM")
	if exists() {
		t.Fatal("the head's state is still there after it stopped on purpose")
	}
}

func nodeStateOf(st *protocol.ClusterStatusReply, id string) *protocol.NodeState {
	for i := range st.Nodes {
		if st.Nodes[i].Info.NodeID == id {
			return &st.Nodes[i]
		}
	}
	return nil
}
