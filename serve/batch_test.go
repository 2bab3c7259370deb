package serve_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/serve"
)

// batched doubles numbers in batches and answers with the size of the
// batch each one ran in.
type batched struct {
	b *serve.Batcher[float64, [2]float64]
}

var batchedDep = serve.NewDeployment[batched]("test.batched", func() (*batched, error) {
	d := &batched{}
	var err error
	d.b, err = serve.Batch(func(ctx context.Context, xs []float64) ([][2]float64, error) {
		out := make([][2]float64, len(xs))
		for i, x := range xs {
			out[i] = [2]float64{2 * x, float64(len(xs))}
		}
		return out, nil
	}, serve.BatchConfig{MaxBatchSize: 8, BatchWaitTimeout: 50 * time.Millisecond})
	return d, err
}, serve.DeploymentConfig{NumCPUs: 0.25, MaxOngoingRequests: 16})

func (d *batched) Double(ctx context.Context, x float64) ([2]float64, error) { return d.b.Call(ctx, x) }

func TestBatchThroughHandles(t *testing.T) {
	ctx := context.Background()
	startServe(t)
	h, err := serve.Run(ctx, batchedDep.Bind(), serve.RunOptions{Name: "batched", RoutePrefix: "/batched"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	res := make([][2]float64, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = serve.Result[[2]float64](ctx, h.Call(ctx, "Double", float64(i)))
		}()
	}
	wg.Wait()
	biggest := 0.0
	for i := range n {
		if errs[i] != nil || res[i][0] != 2*float64(i) {
			t.Fatalf("call %d: %v %v", i, res[i], errs[i])
		}
		biggest = max(biggest, res[i][1])
	}
	if biggest < 2 {
		t.Fatalf("8 concurrent calls never shared a batch: %v", res)
	}
}
