// Package batch gathers single items from concurrent callers into one call
// on a slice: the mechanism behind serve.Batch, rayo's equivalent of Ray
// Serve's @serve.batch decorator ("Dynamic Request Batching" in Ray's docs).
//
// A Batcher wraps fn(ctx, items) ([]Out, error). Each Call enqueues one item
// and waits for its own result. A batch is dispatched when MaxBatchSize
// items wait or BatchWaitTimeout has passed since the oldest waiting item
// arrived, whichever comes first, and at most MaxConcurrentBatches batches
// run at once. The names and defaults follow ray.serve.batch:
// max_batch_size (10), batch_wait_timeout_s (0.01 s), max_concurrent_batches
// (1); SetMaxBatchSize and SetBatchWaitTimeout follow the decorated method's
// set_max_batch_size and set_batch_wait_timeout_s, so a deployment's
// Reconfigure (Ray's user_config) can tune a running batcher.
//
// Differences from Ray, on purpose:
//   - A batch is formed only when a slot among MaxConcurrentBatches is free,
//     so items that arrive while every slot is busy join the next batch
//     instead of waiting behind a batch formed too early. Under load batches
//     therefore fill up; when idle, a lone item waits at most
//     BatchWaitTimeout.
//   - A caller whose context ends before its batch is dispatched is taken
//     out of the queue and its item is never sent to fn.
//   - A panic in fn fails that batch's callers with a *PanicError; the
//     process lives on.
//   - fn receives the batcher's context, cancelled by Close, not any one
//     caller's: a batch serves many callers.
//
// Metrics: Stats counts batches, items and failed batches and reports the
// queued and running counts; Config.OnBatch sees every batch's size and
// duration, for a histogram.
package batch
