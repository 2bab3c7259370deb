package integration_test

import (
	"context"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

// Chains f → g → h, each level waiting in Get for the next.
var (
	nestH = rayo.Register[int]("itest.nestH", func(x int) int { return x + 1 })
	nestG = rayo.Register[int]("itest.nestG", func(ctx context.Context, x int) (int, error) {
		v, err := nestH.Remote(x).Get(ctx)
		return v + 10, err
	})
	nestF = rayo.Register[int]("itest.nestF", func(ctx context.Context, x int) (int, error) {
		v, err := nestG.Remote(x).Get(ctx)
		return v + 100, err
	})
)

// Issue 14, item 1: tasks blocked in Get waiting for the tasks they
// submitted lend their CPU and do not count against the worker pool's soft
// cap, so nested work always gets a worker; with more chains than the hard
// ceiling, every chain still finishes and the worker processes stay under
// the ceiling. Before, every worker the node allowed sat blocked in an
// outer task and the run hung.
func TestNestedGetDoesNotDeadlock(t *testing.T) {
	const softCap, ceiling, chains = 2, 8, 24
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 2, ExtraArgs: []string{
		"--num-workers-soft-limit", "2", "--max-worker-processes", "8"}})
	connect(t, c)

	// Sample the live worker processes while the chains run.
	stop, sampled := make(chan struct{}), make(chan int, 1)
	go func() {
		most := 0
		for {
			most = max(most, len(c.WorkerPids(t)))
			select {
			case <-stop:
				sampled <- most
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	ctx := withTimeout(t, 45*time.Second)
	refs := make([]rayo.ObjectRef[int], chains)
	for i := range refs {
		refs[i] = nestF.Remote(i)
	}
	got, err := rayo.GetAll(ctx, refs)
	close(stop)
	most := <-sampled
	if err != nil {
		t.Fatalf("the chains did not finish (a pool of %d..%d workers on 2 CPUs): %v", softCap, ceiling, err)
	}
	for i, v := range got {
		if want := i + 111; v != want {
			t.Errorf("chain %d = %d, want %d", i, v, want)
		}
	}
	t.Logf("at most %d worker processes for %d chains", most, chains)
	if most > ceiling {
		t.Errorf("%d worker processes at once; the ceiling is %d", most, ceiling)
	}
}
