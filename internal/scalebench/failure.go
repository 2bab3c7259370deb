package scalebench

import (
	"context"
	"fmt"
	"time"

	"github.com/rayo-dev/rayo"
)

// failure: under load (tasks whose results live in node stores), kill
// 10% of the node daemons at once; every result must still come back
// right (lost ones rebuilt from lineage), within the row's timeout.
func (r *rows) failure(ctx context.Context) error {
	if !r.want(rowFailure) {
		return nil
	}
	// The victims: the last alive nodes, never the transfer rows' first
	// ones or the head's.
	var alive []*node
	for _, n := range r.c.nodes {
		if !n.killed {
			alive = append(alive, n)
		}
	}
	k := max(1, r.n/10)
	if len(alive) < k { // the head's node is left in any case
		return nil
	}
	victims := alive[len(alive)-k:]
	ctx, cancel := context.WithTimeout(ctx, r.b.o.RowTimeout)
	defer cancel()
	o := r.b.o
	total := o.FailTasksPerNode * r.n
	t := blob.Options(rayo.Spread())
	refs := make([]rayo.ObjectRef[[]byte], total)
	for i := range refs {
		refs[i] = t.Remote(i, o.FailResultBytes)
	}
	// Under load: half of them done (their results spread over the
	// stores), the rest queued or running.
	if _, _, err := rayo.Wait(ctx, refs, total/2, -1); err != nil {
		return fmt.Errorf("waiting for half of %d tasks: %w", total, err)
	}
	start := time.Now()
	detect, err := r.killAndWait(ctx, victims)
	if err != nil {
		return err
	}
	// Read in batches: the driver's node holds what it reads.
	const batch = 200
	for lo := 0; lo < total; lo += batch {
		hi := min(lo+batch, total)
		vals, err := rayo.GetAll(ctx, refs[lo:hi])
		if err != nil {
			return fmt.Errorf("reading results %d-%d after killing %d node(s) (%s after the kill): %w",
				lo, hi, k, time.Since(start).Round(time.Millisecond), err)
		}
		for i, v := range vals {
			if err := checkBlob(lo+i, o.FailResultBytes, v); err != nil {
				return err
			}
		}
		for _, ref := range refs[lo:hi] {
			ref.Release()
		}
	}
	finish := time.Since(start)
	r.add(fmt.Sprintf("%s (%d of %d): all marked dead after", rowFailure, k, r.n), detect.Seconds(), 0, "s")
	r.add(fmt.Sprintf("%s: all %d results (%d KiB each) read and correct after", rowFailure, total, o.FailResultBytes>>10),
		finish.Seconds(), 0, "s")
	return nil
}
