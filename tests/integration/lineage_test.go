package integration_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

var (
	linMake = rayo.Register[[]byte]("itest.lin.make", func(n int, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = seed + byte(i%251)
		}
		return b
	})
	linDouble = rayo.Register[[]byte]("itest.lin.double", func(in []byte) []byte {
		out := make([]byte, len(in))
		for i, v := range in {
			out[i] = v * 2
		}
		return out
	})
)

// Results whose every copy was on a node that died are rebuilt by
// re-running their tasks, recursively through lost arguments.
func TestLineageReconstruction(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	onSpecial := rayo.Resources(special)
	a := linMake.Options(onSpecial).Remote(1<<20, byte(7))
	b := linDouble.Options(onSpecial).Remote(a) // its argument is a's stored result
	// Wait, without fetching: the only copies are on the special node.
	if ready, _, err := rayo.Wait(ctx, []rayo.ObjectRef[[]byte]{b}, 1, time.Minute); err != nil || len(ready) != 1 {
		t.Fatalf("the tasks did not finish: %v", err)
	}
	wantA := make([]byte, 1<<20)
	want := make([]byte, 1<<20)
	for i := range wantA {
		wantA[i] = 7 + byte(i%251)
		want[i] = wantA[i] * 2
	}

	// The special node, which holds both results, dies; a new one joins.
	c.KillNode(t, specialProc(t, c))
	c.AddNode(t, testcluster.NodeSpec{CPUs: 1, Resources: special})

	got, err := b.Get(ctx)
	if err != nil {
		t.Fatalf("Get of a lost result: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the rebuilt result differs")
	}
	gotA, err := a.Get(ctx)
	if err != nil || !bytes.Equal(gotA, wantA) {
		t.Fatalf("the rebuilt argument: %v", err)
	}

	// A task with MaxRetries(0) keeps no lineage: its lost result is
	// ErrObjectLost.
	x := linMake.Options(onSpecial, rayo.MaxRetries(0)).Remote(1<<20, byte(1))
	if ready, _, err := rayo.Wait(ctx, []rayo.ObjectRef[[]byte]{x}, 1, time.Minute); err != nil || len(ready) != 1 {
		t.Fatalf("the task did not finish: %v", err)
	}
	c.KillNode(t, specialProc(t, c))
	if _, err := x.Get(ctx); !errors.Is(err, rayo.ErrObjectLost) {
		t.Fatalf("a lost result without lineage: %v, want ErrObjectLost", err)
	}
}

var linSlowWhere = rayo.Register[string]("itest.lin.slowWhere", func(ctx context.Context, started string) (string, error) {
	if err := os.WriteFile(started, nil, 0o644); err != nil {
		return "", err
	}
	select {
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return rayo.NodeID(), nil
})

// A task running on a node that dies is retried on another node that can
// hold it; the head declares the node dead as soon as its connection
// closes.
func TestNodeDeathRetriesRunningTask(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	started := filepath.Join(t.TempDir(), "started")
	victim := specialProc(t, c)
	ref := linSlowWhere.Options(rayo.Resources(special)).Remote(started)
	waitFile(t, started, "the task to start on the special node")
	killed := time.Now()
	c.KillNode(t, victim)
	c.WaitFor(t, 30*time.Second, func() bool {
		for _, n := range c.Status(t).Nodes {
			if n.Info.NodeID == victim.NodeID {
				return !n.Alive
			}
		}
		return false
	}, "the head to declare the killed node dead")
	t.Logf("node declared dead %v after kill -9", time.Since(killed).Round(time.Millisecond))
	c.AddNode(t, testcluster.NodeSpec{CPUs: 1, Resources: special})
	where, err := ref.Get(ctx)
	if err != nil {
		t.Fatalf("the task of a dead node: %v", err)
	}
	if where == victim.NodeID || where == "" {
		t.Fatalf("the retried task ran on %q, not on the new node", where)
	}
}

type linCounter struct{ N int }

var (
	linCounterType = rayo.RegisterActor[linCounter]("itest.lin.Counter", func() *linCounter { return &linCounter{} })
	linIncr        = rayo.RegisterMethod[string](linCounterType, "Incr", func(c *linCounter) string {
		c.N++
		return rayo.NodeID()
	})
)

// rayo drain: no new work lands on the node, running work finishes, its
// actors move, and the node leaves.
func TestDrainNode(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	sp := specialProc(t, c)
	started := filepath.Join(t.TempDir(), "started")
	running := linSlowWhere.Options(rayo.NodeAffinity(sp.NodeID, false)).Remote(started)
	waitFile(t, started, "the task to start on the node to drain")
	actor, err := linCounterType.Options(rayo.NodeAffinity(sp.NodeID, true)).New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if where, err := linIncr.Remote(actor).Get(ctx); err != nil || where != sp.NodeID {
		t.Fatalf("the actor before the drain: %q %v", where, err)
	}
	out, err := c.Rayo(t, "drain", sp.NodeID, "--deadline", "30s", "--no-wait", "--address", c.Address(), "--token", c.Token())
	if err != nil {
		t.Fatalf("rayo drain: %v\n%s", err, out)
	}
	// New work no longer lands there, even work that would prefer it.
	if where, err := linSlowWhere.Options(rayo.NodeAffinity(sp.NodeID, true)).Remote(filepath.Join(t.TempDir(), "s")).Get(ctx); err != nil || where == sp.NodeID {
		t.Fatalf("a task submitted during the drain ran on %q (%v)", where, err)
	}
	// The running task finished where it was: the node waited for it.
	if where, err := running.Get(ctx); err != nil || where != sp.NodeID {
		t.Fatalf("the task running at drain: %q %v", where, err)
	}
	c.WaitFor(t, 30*time.Second, sp.Exited, "the drained node daemon to exit")
	// The actor moved (soft affinity lets it go elsewhere).
	where, err := linIncr.Remote(actor).Get(ctx)
	if err != nil || where == sp.NodeID || where == "" {
		t.Fatalf("the actor after the drain: %q %v", where, err)
	}
	for _, n := range c.Status(t).Nodes {
		if n.Info.NodeID == sp.NodeID && n.Alive {
			t.Fatal("the drained node is still listed alive")
		}
	}
}
