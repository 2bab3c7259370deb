package serve

import (
	"context"

	"github.com/rayo-dev/rayo/serve/internal/batch"
)

// Batching (Ray's @serve.batch): a deployment makes a Batcher in its
// constructor and calls it from the method that takes one item; calls
// that arrive together run as one call on a slice.
//
//	type Model struct{ predict *serve.Batcher[[]float32, float32] }
//
//	func newModel() *Model {
//		m := &Model{}
//		m.predict, _ = serve.Batch(m.predictBatch, serve.BatchConfig{MaxBatchSize: 32, BatchWaitTimeout: 5 * time.Millisecond})
//		return m
//	}
//	func (m *Model) Predict(ctx context.Context, x []float32) (float32, error) { return m.predict.Call(ctx, x) }

// BatchConfig are a batcher's settings, with Ray's names and defaults:
// MaxBatchSize (10), BatchWaitTimeout (10 ms; NoWait for none),
// MaxConcurrentBatches (1), and OnBatch, called after each batch with
// its size and duration.
type BatchConfig = batch.Config

// Batcher gathers concurrent calls into batches: Call(ctx, item) returns
// that item's result; SetMaxBatchSize and SetBatchWaitTimeout change it
// at run time (from Reconfigure, say); Close ends it.
type Batcher[In, Out any] = batch.Batcher[In, Out]

// NoWait sends a batch as soon as a slot is free (Ray's
// batch_wait_timeout_s=0).
const NoWait = batch.NoWait

// ErrBadBatch: the batch function returned a result slice of the wrong
// length; every caller of that batch gets it.
var ErrBadBatch = batch.ErrBadBatch

// Batch makes a batcher of fn (Ray's @serve.batch): fn gets the items of
// up to MaxBatchSize concurrent callers and returns one result per item,
// in order. An error from fn fails every caller of that batch; a panic is
// recovered into an error and the replica lives on.
func Batch[In, Out any](fn func(ctx context.Context, items []In) ([]Out, error), cfg BatchConfig) (*Batcher[In, Out], error) {
	return batch.New(fn, cfg)
}
