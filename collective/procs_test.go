package collective_test

import (
	"context"
	"fmt"
	"testing"

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
