package integration_test

import (
	"bytes"
	"errors"
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
