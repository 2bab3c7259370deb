package integration_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
)

// Hard node affinity to a node that is not there (issue 13 item 8): as in
// Ray, the task fails at once with a typed error that names the node,
// instead of waiting for ever; a soft affinity falls back.

// ghostNode is a node ID no cluster has.
const ghostNode = "00000000deadbeef"

// affNested submits a task bound to ghostNode and returns its error: the
// typed error survives the trip back to the driver.
var affNested = rayo.Register[Where]("itest.aff.nested", func(ctx context.Context) (Where, error) {
	return where.Options(rayo.NodeAffinity(ghostNode, false)).Remote().Get(ctx)
})

func TestAffinityUnknownNodeFailsAtOnce(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	ctx := withTimeout(t, time.Minute)

	_, err := getT(t, where.Options(rayo.NodeAffinity(ghostNode, false)).Remote(), 30*time.Second)
	if !errors.Is(err, rayo.ErrNodeAffinityUnavailable) || !strings.Contains(err.Error(), ghostNode) {
		t.Fatalf("task with a hard affinity to an unknown node: %v; want ErrNodeAffinityUnavailable naming %s", err, ghostNode)
	}
	var te *rayo.TaskError
	if !errors.As(err, &te) {
		t.Fatalf("the error is no *TaskError: %T %v", err, err)
	}

	if _, err := getT(t, affNested.Remote(), 30*time.Second); !errors.Is(err, rayo.ErrNodeAffinityUnavailable) {
		t.Fatalf("the error of a nested task with a hard affinity to an unknown node: %v; want ErrNodeAffinityUnavailable", err)
	}

	w, err := getT(t, where.Options(rayo.NodeAffinity(ghostNode, true)).Remote(), time.Minute)
	if err != nil || w.NodeID == "" {
		t.Fatalf("task with a soft affinity to an unknown node: %+v, %v; want it to run elsewhere", w, err)
	}

	_, err = counterActor.Options(rayo.NodeAffinity(ghostNode, false)).New(ctx, 0)
	if !errors.Is(err, rayo.ErrNodeAffinityUnavailable) || !strings.Contains(err.Error(), ghostNode) {
		t.Fatalf("actor with a hard affinity to an unknown node: %v; want ErrNodeAffinityUnavailable naming %s", err, ghostNode)
	}
}

// A task that waits for resources on the node its hard affinity names
// fails once that node dies; so does an actor bound to it that would
// restart (Ray's ActorUnschedulableError).
func TestAffinityNodeKilledFailsWaitingTask(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	sp := specialProc(t, c)
	started := filepath.Join(t.TempDir(), "started")
	bound := rayo.NodeAffinity(sp.NodeID, false)
	a, err := counterActor.Options(bound, rayo.MaxRestarts(1)).New(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := getT(t, cIncr.Remote(a, 1), time.Minute); err != nil {
		t.Fatal(err)
	}
	// The special node has one CPU: the first task holds it, the second
	// waits for it.
	first := waitCtx.Options(bound, rayo.MaxRetries(0)).Remote(started)
	waitFile(t, started, "the first task to run on the special node")
	second := where.Options(bound).Remote()

	c.KillNode(t, sp)
	_, err = getT(t, second, time.Minute)
	if !errors.Is(err, rayo.ErrNodeAffinityUnavailable) || !strings.Contains(err.Error(), sp.NodeID) {
		t.Fatalf("task waiting on a node that died: %v; want ErrNodeAffinityUnavailable naming %s", err, sp.NodeID)
	}
	if _, err := getT(t, first, time.Minute); err == nil {
		t.Fatal("the task that ran on the killed node succeeded")
	}
	_, err = getT(t, cIncr.Remote(a, 1), time.Minute)
	if !errors.Is(err, rayo.ErrActorDied) || !errors.Is(err, rayo.ErrNodeAffinityUnavailable) {
		t.Fatalf("call to an actor bound to a node that died: %v; want ErrActorDied and ErrNodeAffinityUnavailable", err)
	}
}
