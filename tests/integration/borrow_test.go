package integration_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

// Issue 14 item 2: a worker's references are counted out when its task
// returns, not when its Go collector happens to run (an idle worker may
// not collect for minutes).

var (
	// brwPutNested puts n bytes and returns the reference in a value: this
	// worker owns the object, the caller borrows it; the task's own
	// ObjectRef is dropped when it returns.
	brwPutNested = rayo.Register[objHolder]("itest.brw.putNested", func(ctx context.Context, n int, seed uint64) (objHolder, error) {
		r, err := rayo.Put(ctx, patternOf(n, seed))
		return objHolder{Ref: r}, err
	})
	// brwUse gets a nested reference and drops it.
	brwUse = rayo.Register[int]("itest.brw.use", func(ctx context.Context, h objHolder) (int, error) {
		b, err := h.Ref.Get(ctx)
		return len(b), err
	})
	// brwPass returns the reference it was given: it escapes into the
	// result, which the caller then borrows.
	brwPass = rayo.Register[objHolder]("itest.brw.pass", func(h objHolder) objHolder { return h })
	// brwUseResult gets a result that holds a reference, then what that
	// reference refers to, and drops both.
	brwUseResult = rayo.Register[int]("itest.brw.useResult", func(ctx context.Context, h brwResultHolder) (int, error) {
		in, err := h.Ref.Get(ctx)
		if err != nil {
			return 0, err
		}
		b, err := in.Ref.Get(ctx)
		return len(b), err
	})

	brwActor = rayo.RegisterActor[brwUser]("itest.brw.User", func() *brwUser { return &brwUser{} })
	// brwActorUse gets a nested reference in an actor call and drops it.
	brwActorUse = rayo.RegisterMethod[int](brwActor, "Use", func(_ *brwUser, ctx context.Context, h objHolder) (int, error) {
		b, err := h.Ref.Get(ctx)
		return len(b), err
	})
)

// brwResultHolder carries a reference to a result that holds a reference.
type brwResultHolder struct {
	Ref rayo.ObjectRef[objHolder]
}

type brwUser struct{}

// After a workload of nested references (borrowed as arguments by tasks
// and an actor's call, owned by a worker and borrowed through a result,
// passed back in a result) is
// dropped by the driver, every node's store is empty within seconds, with
// no collector run in any worker.
func TestBorrowedRefsReleasedWhenTaskReturns(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	dumpMemoryOnFailure(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	sp := specialProc(t, c)
	const size = 4 << 20
	onSpecial := rayo.Resources(special)
	onHead := rayo.NodeAffinity(c.Head().NodeID, false)
	var a rayo.ActorHandle[brwUser]
	func() {
		d, err := rayo.Put(ctx, patternOf(size, 1))
		if err != nil {
			t.Fatal(err)
		}
		// Borrowed as a nested argument on the other node, and dropped.
		if n, err := brwUse.Options(onSpecial).Remote(objHolder{d}).Get(ctx); err != nil || n != size {
			t.Fatalf("use of the driver's object: %d %v", n, err)
		}
		// Owned by a worker of the other node, borrowed by the driver and
		// by a task on the head node.
		p, err := brwPutNested.Options(onSpecial).Remote(size, uint64(2)).Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := brwUse.Options(onHead).Remote(p).Get(ctx); err != nil || n != size {
			t.Fatalf("use of the worker's object: %d %v", n, err)
		}
		// Borrowed inside a result a task on the head node gets.
		pr := brwPutNested.Options(onSpecial).Remote(size, uint64(3))
		if n, err := brwUseResult.Options(onHead).Remote(brwResultHolder{pr}).Get(ctx); err != nil || n != size {
			t.Fatalf("use of the object in a result: %d %v", n, err)
		}
		// Passed back in a result.
		back, err := brwPass.Options(onSpecial).Remote(objHolder{d}).Get(ctx)
		if err != nil || back.Ref.ID() != d.ID() {
			t.Fatalf("the passed reference: %v", err)
		}
		// Borrowed by an actor's call on the other node; the actor lives
		// on (a dead borrower would stop counting anyway).
		a, err = brwActor.Options(rayo.NodeAffinity(sp.NodeID, false)).New(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := brwActorUse.Remote(a, objHolder{d}).Get(ctx); err != nil || n != size {
			t.Fatalf("the actor's use of the driver's object: %d %v", n, err)
		}
		for _, pr := range c.NodeProcs() {
			if r := mustListStore(t, c, pr); len(r.Objects) == 0 {
				t.Fatalf("%s's store is empty while the workload holds objects", pr.Name)
			}
		}
	}()
	// The driver (this process) drops its references; no worker is asked
	// to collect.
	start := time.Now()
	testcluster.WaitFor(t, 10*time.Second, func() bool {
		runtime.GC()
		return storeEmpty(t, c, c.Head()) && storeEmpty(t, c, sp)
	}, "every node's store to be empty after the workload was dropped")
	runtime.KeepAlive(a)
	t.Logf("every node's store back to empty %v after the workload was dropped", time.Since(start).Round(time.Millisecond))
}
