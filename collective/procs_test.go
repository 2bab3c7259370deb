package collective_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/collective"
)

// allReduceTask joins the group as rank of size, sums a vector that
// depends on its rank and returns the result.
var allReduceTask = rayo.Register[[]float64]("rayo.collective.test.allreduce", func(ctx context.Context, group string, rank, size int) ([]float64, error) {
	c, err := collective.Join(ctx, group, rank, size)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	buf := make([]float64, 1000)
	for i := range buf {
		buf[i] = float64(rank*i + 1)
	}
	if err := collective.AllReduce(ctx, c, buf, collective.Sum); err != nil {
		return nil, err
	}
	return buf, nil
})

// TestAcrossProcesses runs the members as rayo tasks in worker processes.
func TestAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	name := groupName(t)
	const n = 2
	refs := make([]rayo.ObjectRef[[]float64], n)
	for r := range n {
		refs[r] = allReduceTask.Remote(name, r, n)
	}
	for r := range n {
		got, err := rayo.Get(ctx, refs[r])
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
		for i, v := range got {
			if want := float64(i + 2); v != want { // (0*i+1) + (1*i+1)
				t.Fatal(fmt.Sprintf("rank %d: [%d] = %v, want %v", r, i, v, want))
			}
		}
	}
}

// killedMemberTask joins as rank of size, passes one barrier with the
// others, and kills its own process (SIGKILL: no Close, no deferred
// cleanup), as a crash would.
var killedMemberTask = rayo.Register[int]("rayo.collective.test.killed", func(ctx context.Context, group string, rank, size int) (int, error) {
	c, err := collective.Join(ctx, group, rank, size)
	if err != nil {
		return 0, err
	}
	if err := c.Barrier(ctx); err != nil {
		return 0, err
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal ends the process
}).Options(rayo.MaxRetries(0))

// TestKilledMember: a member whose process dies makes every other
// member's operation fail with ErrPeerLost naming it, the neighbours on
// the ring (which see its connections end) and the others (told through
// the shared segment) alike, and leaves no segment file.
func TestKilledMember(t *testing.T) {
	ctx := context.Background()
	name := groupName(t)
	const n, killed = 4, 2
	ref := killedMemberTask.Remote(name, killed, n)
	errs := each(n, func(r int) error {
		if r == killed {
			return nil
		}
		// The timeout only turns a hang into a failure of the test.
		c, err := collective.Join(ctx, name, r, n, collective.WithOpTimeout(time.Minute))
		if err != nil {
			return err
		}
		defer c.Close()
		if got := collective.Transport(c); got != "shm" {
			return fmt.Errorf("transport %q, want shm", got)
		}
		if err := c.Barrier(ctx); err != nil {
			return err
		}
		err = collective.AllReduce(ctx, c, make([]float32, 1<<20), collective.Sum)
		var re *collective.RankError
		if !errors.Is(err, collective.ErrPeerLost) || !errors.As(err, &re) || re.Rank != killed {
			return fmt.Errorf("%v, want ErrPeerLost naming rank %d", err, killed)
		}
		return nil
	})
	noErrs(t, "the members that live", errs)
	if _, err := rayo.Get(ctx, ref); !errors.Is(err, rayo.ErrWorkerCrashed) {
		t.Fatalf("the killed member's task: %v, want ErrWorkerCrashed", err)
	}
	if files := leftovers(t, name); len(files) != 0 {
		t.Fatalf("segment files left: %q", files)
	}
	if err := collective.DeleteGroup(ctx, name); err != nil { // the killed member's record
		t.Fatal(err)
	}
}
