package integration_test

// Issue 14, items 7, 8, 9 and 11: recursive and forwarded Cancel, SPREAD
// actors, one pool per placement-group bundle, and smaller differences
// from Ray (duplicate refs in Wait, pending-group demands,
// ErrTaskUnschedulable, unnamed detached actors).

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

type smPinger struct{}

var (
	// smChild announces itself (dir/started), then waits until release
	// exists (writes dir/finished) or its context is cancelled (writes
	// dir/cancelled).
	smChild = rayo.Register[string]("itest.sm.child", func(ctx context.Context, dir, release string) (string, error) {
		if err := os.WriteFile(filepath.Join(dir, "started"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return "", err
		}
		deadline := time.After(2 * time.Minute)
		for {
			if _, err := os.Stat(release); err == nil {
				return "released", os.WriteFile(filepath.Join(dir, "finished"), nil, 0o644)
			}
			select {
			case <-ctx.Done():
				_ = os.WriteFile(filepath.Join(dir, "cancelled"), nil, 0o644)
				return "", ctx.Err()
			case <-deadline:
				return "", errors.New("never released")
			case <-time.After(5 * time.Millisecond):
			}
		}
	})

	// smParent submits smChild and waits for it.
	smParent = rayo.Register[string]("itest.sm.parent", func(ctx context.Context, dir, release string) (string, error) {
		return smChild.Remote(dir, release).Get(ctx)
	})

	// smCancelOther cancels the task behind refs[0], which this task only
	// borrows (the driver owns it).
	smCancelOther = rayo.Register[bool]("itest.sm.cancelOther", func(refs []rayo.ObjectRef[string]) (bool, error) {
		return true, rayo.Cancel(refs[0], false)
	})

	smPingerActor = rayo.RegisterActor[smPinger]("itest.sm.Pinger", func() *smPinger { return &smPinger{} })
	smPingerNode  = rayo.RegisterMethod[string](smPingerActor, "Node", func(*smPinger) string { return rayo.NodeID() })
)

// smDirs returns a directory for smChild's marker files and the file
// that releases it; the release is written when the test ends.
func smDirs(t *testing.T) (dir, release string) {
	t.Helper()
	dir, release = t.TempDir(), filepath.Join(t.TempDir(), "release")
	t.Cleanup(func() { _ = os.WriteFile(release, nil, 0o644) })
	return dir, release
}

// exists reports whether path exists.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Cancelling a task cancels the task it submitted (Ray's recursive
// default); Recursive(false) leaves it running.
func TestCancelRecursive(t *testing.T) {
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 4})
	connect(t, c)

	dir, release := smDirs(t)
	parent := smParent.Remote(dir, release)
	waitFile(t, filepath.Join(dir, "started"), "the child task to start")
	if err := rayo.Cancel(parent, false); err != nil {
		t.Fatal(err)
	}
	if _, err := getT(t, parent, 30*time.Second); !errors.Is(err, rayo.ErrTaskCancelled) {
		t.Fatalf("the parent: %v; want ErrTaskCancelled", err)
	}
	waitFile(t, filepath.Join(dir, "cancelled"), "the child to see its context cancelled")

	// Recursive(false): only the parent is cancelled.
	dir2, release2 := smDirs(t)
	parent = smParent.Remote(dir2, release2)
	waitFile(t, filepath.Join(dir2, "started"), "the second child task to start")
	if err := rayo.Cancel(parent, false, rayo.Recursive(false)); err != nil {
		t.Fatal(err)
	}
	if _, err := getT(t, parent, 30*time.Second); !errors.Is(err, rayo.ErrTaskCancelled) {
		t.Fatalf("the second parent: %v; want ErrTaskCancelled", err)
	}
	touch(t, release2)
	waitFile(t, filepath.Join(dir2, "finished"), "the child of a non-recursive cancel to finish")
	if exists(filepath.Join(dir2, "cancelled")) {
		t.Fatal("Recursive(false) cancelled the child too")
	}

	// Forced: the child's worker is killed as well as the parent's.
	dir3, release3 := smDirs(t)
	parent = smParent.Remote(dir3, release3)
	childPid := waitPid(t, filepath.Join(dir3, "started"), "the third child task to start")
	if err := rayo.Cancel(parent, true); err != nil {
		t.Fatal(err)
	}
	if _, err := getT(t, parent, 30*time.Second); !errors.Is(err, rayo.ErrTaskCancelled) {
		t.Fatalf("the force-cancelled parent: %v; want ErrTaskCancelled", err)
	}
	c.WaitFor(t, 30*time.Second, func() bool { return !testcluster.Alive(childPid) }, "the child's worker to be killed")
	if exists(filepath.Join(dir3, "finished")) {
		t.Fatal("the child of a forced cancel finished")
	}
}

// A process that only borrows a task's result can cancel the task: the
// request goes to the owner.
func TestCancelFromBorrower(t *testing.T) {
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 4})
	connect(t, c)
	dir, release := smDirs(t)
	target := smChild.Remote(dir, release)
	waitFile(t, filepath.Join(dir, "started"), "the target task to start")
	if _, err := getT(t, smCancelOther.Remote([]rayo.ObjectRef[string]{target}), 30*time.Second); err != nil {
		t.Fatalf("Cancel from a borrowing task: %v", err)
	}
	if _, err := getT(t, target, 30*time.Second); !errors.Is(err, rayo.ErrTaskCancelled) {
		t.Fatalf("the target: %v; want ErrTaskCancelled", err)
	}
}

// Eight SPREAD actors over two nodes use both.
func TestSpreadActors(t *testing.T) {
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 8}, testcluster.NodeSpec{CPUs: 8})
	connect(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	var hs []rayo.ActorHandle[smPinger]
	for range 8 {
		h, err := smPingerActor.Options(rayo.Spread(), rayo.NumCPUs(1)).New(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rayo.Kill(context.Background(), h, true) })
		hs = append(hs, h)
	}
	count := map[string]int{}
	for _, h := range hs {
		count[mustGet(t, smPingerNode.Remote(h), "an actor's node")]++
	}
	if len(count) != 2 {
		t.Fatalf("SPREAD actors per node %v; want both nodes used", count)
	}
	for node, n := range count {
		if n < 3 {
			t.Errorf("SPREAD actors per node %v: node %s holds only %d of 8", count, node, n)
		}
	}
}

// A bundle's resources are one pool, whether a lease names the bundle or
// "any bundle" of the group.
func TestPlacementBundleOnePool(t *testing.T) {
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 2})
	connect(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	pg := newPG(t, []map[string]float64{{"CPU": 2}}, rayo.STRICT_SPREAD, true)
	t.Cleanup(func() { _ = rayo.RemovePlacementGroup(context.Background(), pg) })

	inBundle := newActor(t, smPingerActor.Options(rayo.InPlacementGroup(pg, 0), rayo.NumCPUs(1)))
	newActor(t, smPingerActor.Options(rayo.InPlacementGroup(pg, -1), rayo.NumCPUs(1)))
	// Both pools of the bundle are spent: 1 CPU by each actor.
	idx := protocol.BundleResourceName("CPU", pg.ID(), 0)
	wide := protocol.BundleResourceName("CPU", pg.ID(), -1)
	c.WaitFor(t, 30*time.Second, func() bool {
		for _, n := range c.Status(t).Nodes {
			if n.Info.Total[idx] > 0 && n.Available[idx] == 0 && n.Available[wide] == 0 {
				return true
			}
		}
		return false
	}, "the bundle's own and group-wide CPUs both to be taken by the two actors")

	// A third actor waits: the bundle is full.
	third, err := smPingerActor.Options(rayo.InPlacementGroup(pg, -1), rayo.NumCPUs(1)).New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := third.Ready(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a third 1-CPU actor in a full 2-CPU bundle: Ready returned %v; want it pending", err)
	}
	// Once the bundle-0 actor goes, it runs.
	if err := rayo.Kill(ctx, inBundle, true); err != nil {
		t.Fatal(err)
	}
	if err := third.Ready(ctx); err != nil {
		t.Fatalf("the third actor after room was made: %v", err)
	}
}

// Wait refuses duplicate refs, as Ray does.
func TestWaitDuplicateRefs(t *testing.T) {
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 2})
	connect(t, c)
	ctx := withTimeout(t, time.Minute)
	ref := inc.Remote(1)
	if _, _, err := rayo.Wait(ctx, []rayo.ObjectRef[int]{ref, inc.Remote(2), ref}, 1, time.Minute); !errors.Is(err, rayo.ErrInvalidOption) {
		t.Fatalf("Wait with a duplicate ref: %v; want ErrInvalidOption", err)
	}
	if ready, _, err := rayo.Wait(ctx, []rayo.ObjectRef[int]{ref}, 1, time.Minute); err != nil || len(ready) != 1 {
		t.Fatalf("Wait with distinct refs: %v, %v", ready, err)
	}
}

// A task in a group not yet placed is pending, not infeasible; a task in
// a removed group fails with ErrTaskUnschedulable (and
// ErrPlacementGroupRemoved).
func TestPlacementPendingGroupTaskNotInfeasible(t *testing.T) {
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 2})
	connect(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	dir, release := smDirs(t)
	// A task holds a CPU, so a 2-CPU group stays pending.
	blocker := smChild.Remote(dir, release)
	waitFile(t, filepath.Join(dir, "started"), "the blocking task to start")
	pg := newPG(t, []map[string]float64{{"CPU": 2}}, rayo.PACK, false)
	t.Cleanup(func() { _ = rayo.RemovePlacementGroup(context.Background(), pg) })
	zero := where.Options(rayo.InPlacementGroup(pg, -1), rayo.NumCPUs(0)).Remote()
	one := where.Options(rayo.InPlacementGroup(pg, 0), rayo.NumCPUs(1)).Remote()

	marker := protocol.BundleResourceName("bundle", pg.ID(), -1)
	demands := func() (pending, infeasible int) {
		for _, n := range c.Status(t).Nodes {
			for _, d := range n.Demands {
				for name := range d.Shape {
					if strings.HasSuffix(name, "_"+pg.ID()) {
						if d.Infeasible {
							infeasible += d.Count
						} else {
							pending += d.Count
						}
						break
					}
				}
			}
		}
		return
	}
	c.WaitFor(t, 30*time.Second, func() bool { p, i := demands(); return p+i == 2 }, "both group tasks to show as demand")
	// The node decides infeasibility on its next view of the cluster:
	// watch for a few heartbeats.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		if _, i := demands(); i > 0 {
			t.Fatalf("a task in a pending group (%s) is reported as an infeasible demand", marker)
		}
		time.Sleep(100 * time.Millisecond) // polling the status, not synchronising
	}
	touch(t, release)
	if _, err := blocker.Get(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range []rayo.ObjectRef[Where]{zero, one} {
		if _, err := r.Get(ctx); err != nil {
			t.Fatalf("a task in the group once placed: %v", err)
		}
	}

	removePG(t, pg)
	_, err := getT(t, where.Options(rayo.InPlacementGroup(pg, 0)).Remote(), 30*time.Second)
	if !errors.Is(err, rayo.ErrTaskUnschedulable) || !errors.Is(err, rayo.ErrPlacementGroupRemoved) {
		t.Fatalf("a task in a removed group: %v; want ErrTaskUnschedulable and ErrPlacementGroupRemoved", err)
	}
	var te *rayo.TaskError
	if !errors.As(err, &te) {
		t.Fatalf("a task in a removed group: %T; want a *TaskError", err)
	}
}

// A detached actor may be unnamed, as in Ray.
func TestActorDetachedUnnamed(t *testing.T) {
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 2})
	connect(t, c)
	ctx := withTimeout(t, time.Minute)
	h, err := smPingerActor.Options(rayo.Detached(), rayo.NumCPUs(0)).New(ctx)
	if err != nil {
		t.Fatalf("an unnamed detached actor: %v", err)
	}
	t.Cleanup(func() { _ = rayo.Kill(context.Background(), h, true) })
	if got := mustGet(t, smPingerNode.Remote(h), "a call to the unnamed detached actor"); got == "" {
		t.Fatal("the actor reported no node")
	}
	if info := actorInfo(t, c, h.ID()); !info.Detached {
		t.Fatalf("the head lists the actor as not detached: %+v", info)
	}
}
