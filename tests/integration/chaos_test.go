package integration_test

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

type chaosSquarer struct{}

var (
	// chaosInc takes a few milliseconds, so that the chaos loop catches
	// tasks running.
	chaosInc = rayo.Register[int]("itest.chaos.inc", func(x int) int {
		time.Sleep(5 * time.Millisecond)
		return x + 1
	})
	// chaosSum gets the chain ends as nested references and fetches them.
	chaosSum = rayo.Register[int]("itest.chaos.sum", func(ctx context.Context, refs []rayo.ObjectRef[int]) (int, error) {
		xs, err := rayo.GetAll(ctx, refs)
		s := 0
		for _, x := range xs {
			s += x
		}
		return s, err
	})
	chaosType = rayo.RegisterActor[chaosSquarer]("itest.chaos.Squarer", func() *chaosSquarer { return &chaosSquarer{} })
	chaosSq   = rayo.RegisterMethod[int](chaosType, "Square", func(_ *chaosSquarer, x int) int { return x * x })
)

// chaosScale is the short form run in CI; RAYO_CHAOS_CHAINS sets the
// long form's size (see docs/operations.md).
func chaosScale() (chains, steps int) {
	chains, steps = 40, 40
	if v, err := strconv.Atoi(os.Getenv("RAYO_CHAOS_CHAINS")); err == nil && v > 0 {
		chains = v
	}
	return chains, steps
}

// A dependency graph of tasks and calls to restartable actors run while
// workers are killed at random and one node daemon is killed: every result
// is right, nothing hangs, and the harness checks that no process is left.
func TestChaos(t *testing.T) {
	c := startCluster(t)
	c.AddNode(t, testcluster.NodeSpec{CPUs: 2})
	connect(t, c)
	runChaos(t, c, false)
}

// TestChaosWithHeadRestart is TestChaos with, on top, the head killed
// with SIGKILL mid-run and started again. Its node runs nothing (it dies
// with the head); the driver submits through a node that lives.
func TestChaosWithHeadRestart(t *testing.T) {
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 0, ExtraArgs: []string{"--head-recovery-grace", "10s"}},
		testcluster.NodeSpec{CPUs: 2}, testcluster.NodeSpec{CPUs: 1, Resources: special}, testcluster.NodeSpec{CPUs: 2})
	ctx := withTimeout(t, time.Minute)
	if err := rayo.Init(ctx, rayo.WithAddress(c.Address()), rayo.WithToken(c.Token()), rayo.WithLogToDriver(false),
		rayo.WithNodeAddress(c.NodeProcs()[0].Addr)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rayo.Shutdown)
	runChaos(t, c, true)
}

func runChaos(t *testing.T, c *testcluster.Cluster, killHead bool) {
	ctx := withTimeout(t, 5*time.Minute)
	chains, steps := chaosScale()
	retry := rayo.MaxRetries(-1)

	actors := make([]rayo.ActorHandle[chaosSquarer], 3)
	for i := range actors {
		a, err := chaosType.Options(rayo.MaxRestarts(-1), rayo.MaxTaskRetries(-1)).New(ctx)
		if err != nil {
			t.Fatal(err)
		}
		actors[i] = a
	}

	var kills atomic.Int64
	stop := make(chan struct{})
	var chaos sync.WaitGroup
	chaos.Add(1)
	go func() {
		defer chaos.Done()
		rnd := rand.New(rand.NewPCG(1, 2))
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if pids := c.WorkerPids(t); len(pids) > 0 {
				if syscall.Kill(pids[rnd.IntN(len(pids))], syscall.SIGKILL) == nil {
					kills.Add(1)
				}
			}
		}
	}()

	// The graph: chains of increments, their ends summed; actor calls on
	// the side.
	ends := make([]rayo.ObjectRef[int], chains)
	var calls []rayo.ObjectRef[int]
	for i := range ends {
		ref := chaosInc.Options(retry).Remote(i)
		for s := 1; s < steps; s++ {
			ref = chaosInc.Options(retry).Remote(ref)
		}
		ends[i] = ref
		calls = append(calls, chaosSq.Remote(actors[i%len(actors)], i))
	}
	total := chaosSum.Options(retry).Remote(ends)

	// Meanwhile a node daemon dies; a new one joins.
	victim := specialProc(t, c)
	c.KillNode(t, victim)
	kills.Add(1)
	c.AddNode(t, testcluster.NodeSpec{CPUs: 1, Resources: special})
	what := "workers and one node daemon"
	if killHead {
		c.KillNode(t, c.Head())
		kills.Add(1)
		c.RestartHead(t)
		what = "workers, one node daemon and the head"
	}

	got, err := total.Get(ctx)
	close(stop)
	chaos.Wait()
	if err != nil {
		t.Fatalf("the graph's result: %v (after %d kills)", err, kills.Load())
	}
	want := 0
	for i := 0; i < chains; i++ {
		want += i + steps
	}
	wrong := 0
	if got != want {
		wrong++
		t.Errorf("the graph's sum: %d, want %d", got, want)
	}
	for i, r := range calls {
		v, err := r.Get(ctx)
		if err != nil {
			t.Fatalf("actor call %d: %v", i, err)
		}
		if v != i*i {
			wrong++
			t.Errorf("actor call %d returned %d, want %d", i, v, i*i)
		}
	}
	t.Logf("chaos: %d processes killed (%s), %d tasks and %d actor calls completed, %d wrong results",
		kills.Load(), what, chains*steps+1, len(calls), wrong)
}
