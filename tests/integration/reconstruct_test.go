package integration_test

import (
	"errors"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

// Issue 14 item 6: reconstructions of a lost object draw from its task's
// MaxRetries; once they are spent, Get fails with
// ErrObjectReconstructionFailed (not ErrObjectLost), as in Ray.
func TestReconstructionCountsAgainstMaxRetries(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	onSpecial := rayo.Resources(special)
	// One retry: enough for one reconstruction, not two.
	x := linMake.Options(onSpecial, rayo.MaxRetries(1)).Remote(1<<20, byte(3))
	if ready, _, err := rayo.Wait(ctx, []rayo.ObjectRef[[]byte]{x}, 1, time.Minute); err != nil || len(ready) != 1 {
		t.Fatalf("the task did not finish: %v", err)
	}

	// First loss: a task on the replacement node needs x, so its owner
	// (this driver) rebuilds it there, drawing the one retry. Only a
	// Wait: a Get here would pull a copy to this node.
	c.KillNode(t, specialProc(t, c))
	c.AddNode(t, testcluster.NodeSpec{CPUs: 1, Resources: special})
	y := linDouble.Options(onSpecial).Remote(x)
	if ready, _, err := rayo.Wait(ctx, []rayo.ObjectRef[[]byte]{y}, 1, time.Minute); err != nil || len(ready) != 1 {
		t.Fatalf("the task that needs the lost object did not finish: %v", err)
	}
	if _, err := y.Get(ctx); err != nil {
		t.Fatalf("the task after the first reconstruction: %v", err)
	}

	// Second loss: the budget is spent, though a node could run the task.
	c.KillNode(t, specialProc(t, c))
	c.AddNode(t, testcluster.NodeSpec{CPUs: 1, Resources: special})
	_, err := x.Get(ctx)
	if !errors.Is(err, rayo.ErrObjectReconstructionFailed) {
		t.Fatalf("Get after the retry budget was spent: %v, want ErrObjectReconstructionFailed", err)
	}
	if errors.Is(err, rayo.ErrObjectLost) {
		t.Fatalf("the reconstruction failure also matches ErrObjectLost: %v", err)
	}
	t.Logf("second loss: %v", err)
	// A task that needs the object fails with the same cause.
	if _, err := linDouble.Options(onSpecial).Remote(x).Get(ctx); !errors.Is(err, rayo.ErrObjectReconstructionFailed) {
		t.Fatalf("a task whose argument cannot be rebuilt: %v, want ErrObjectReconstructionFailed", err)
	}
}
