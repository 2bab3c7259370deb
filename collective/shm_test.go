package collective_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/collective"
)

// TestTransportChoice: a group on one host shares memory unless a member
// refuses it, and then the whole group uses TCP.
func TestTransportChoice(t *testing.T) {
	for _, n := range []int{2, 3} {
		for _, c := range joinAll(t, n) {
			if got := collective.Transport(c); got != "shm" {
				t.Fatalf("size %d, default: %q, want shm", n, got)
			}
		}
		for _, c := range joinAll(t, n, collective.WithoutSharedMemory()) {
			if got := collective.Transport(c); got != "tcp" {
				t.Fatalf("size %d, WithoutSharedMemory: %q, want tcp", n, got)
			}
		}
		// Only the last member refuses.
		name := groupName(t)
		comms := make([]*collective.Comm, n)
		noErrs(t, "join", each(n, func(r int) error {
			var opts []collective.Option
			if r == n-1 {
				opts = append(opts, collective.WithoutSharedMemory())
			}
			var err error
			comms[r], err = collective.Join(context.Background(), name, r, n, opts...)
			return err
		}))
		for r, c := range comms {
			if got := collective.Transport(c); got != "tcp" {
				t.Fatalf("size %d, rank %d: %q, want tcp when one member refuses shared memory", n, r, got)
			}
			c.Close()
		}
	}
}

// leftovers lists the group's segment files.
func leftovers(t *testing.T, group string) []string {
	t.Helper()
	files, err := filepath.Glob(collective.SegmentPrefix(group) + "*")
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestSegmentRemoved: the segment's file is gone once Join returns (every
// member has mapped it), so neither Close nor a crash can leave it; and
// the group still works from the mappings.
func TestSegmentRemoved(t *testing.T) {
	name := groupName(t)
	comms := make([]*collective.Comm, 3)
	noErrs(t, "join", each(3, func(r int) error {
		var err error
		comms[r], err = collective.Join(context.Background(), name, r, 3)
		return err
	}))
	if files := leftovers(t, name); len(files) != 0 {
		t.Fatalf("after Join: %q", files)
	}
	bufs := [][]float32{{1, 2}, {3, 4}, {5, 6}}
	noErrs(t, "allreduce", each(3, func(r int) error {
		return collective.AllReduce(context.Background(), comms[r], bufs[r], collective.Sum)
	}))
	if bufs[2][0] != 9 || bufs[2][1] != 12 {
		t.Fatalf("sum %v", bufs[2])
	}
	for _, c := range comms {
		c.Close()
	}
	if files := leftovers(t, name); len(files) != 0 {
		t.Fatalf("after Close: %q", files)
	}
}

// TestCancelWhileWaiting: ctx's deadline ends an operation that waits for
// a member that never comes (past the spin: asleep, in shared memory),
// before the operation's own timeout.
func TestCancelWhileWaiting(t *testing.T) {
	forTransports(t, func(t *testing.T, tr transport) {
		comms := tr.join(t, 2)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err := collective.AllReduce(ctx, comms[0], make([]float32, 10), collective.Sum) // rank 1 never calls
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%v, want context.DeadlineExceeded", err)
		}
	})
}
