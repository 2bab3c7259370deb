package integration_test

import (
	"context"
	"os"
	"strconv"
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
//
// RAYO_NESTED_CHAINS=N runs the issue's own workload instead: N chains
// (1,000 in the issue) on a node with the default caps, timed.
func TestNestedGetDoesNotDeadlock(t *testing.T) {
	softCap, ceiling, chains := 2, 8, 24
	args := []string{"--num-workers-soft-limit", "2", "--max-worker-processes", "8"}
	if n, err := strconv.Atoi(os.Getenv("RAYO_NESTED_CHAINS")); err == nil && n > 0 {
		// The defaults for 2 CPUs: a soft cap of max(4×2, 16), a ceiling
		// of max(8×16, 64).
		softCap, ceiling, chains, args = 16, 128, n, nil
	}
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 2, ExtraArgs: args})
	connect(t, c)
	start := time.Now()

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

	ctx := withTimeout(t, 45*time.Second+time.Duration(chains)*50*time.Millisecond)
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
	t.Logf("%d chains done in %v, at most %d worker processes", chains, time.Since(start).Round(time.Millisecond), most)
	if most > ceiling {
		t.Errorf("%d worker processes at once; the ceiling is %d", most, ceiling)
	}
}
