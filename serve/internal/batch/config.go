package batch

import (
	"fmt"
	"time"
)

// Defaults, as ray.serve.batch's.
const (
	DefaultMaxBatchSize         = 10
	DefaultBatchWaitTimeout     = 10 * time.Millisecond
	DefaultMaxConcurrentBatches = 1
)

// NoWait as BatchWaitTimeout dispatches whatever is queued as soon as a
// batch slot is free (Ray's batch_wait_timeout_s=0). It is needed because a
// zero BatchWaitTimeout means the default.
const NoWait time.Duration = -1

// Config tunes a Batcher. Zero fields take the defaults.
type Config struct {
	// MaxBatchSize is the most items one fn call gets (default 10).
	MaxBatchSize int
	// BatchWaitTimeout is how long the oldest queued item waits for a full
	// batch before a partial one is dispatched (default 10 ms; NoWait for
	// none).
	BatchWaitTimeout time.Duration
	// MaxConcurrentBatches is how many fn calls may run at once
	// (default 1). Unlike the other two it is fixed for the batcher's
	// life, as in Ray.
	MaxConcurrentBatches int
	// OnBatch, if set, is called after each batch, failed or not, with
	// its size and fn's duration: a hook for batch-size and latency
	// histograms. It runs on the batch's goroutine after the callers
	// have their results; it must not block for long or panic.
	OnBatch func(size int, dur time.Duration)
}

// withDefaults validates c and fills its zero fields.
func (c Config) withDefaults() (Config, error) {
	if c.MaxBatchSize < 0 {
		return c, fmt.Errorf("%w: MaxBatchSize is %d, want >= 1 (0 for the default %d)",
			ErrInvalidConfig, c.MaxBatchSize, DefaultMaxBatchSize)
	}
	if c.MaxBatchSize == 0 {
		c.MaxBatchSize = DefaultMaxBatchSize
	}
	wait, err := waitTimeout(c.BatchWaitTimeout)
	if err != nil {
		return c, err
	}
	c.BatchWaitTimeout = wait
	if c.MaxConcurrentBatches < 0 {
		return c, fmt.Errorf("%w: MaxConcurrentBatches is %d, want >= 1 (0 for the default %d)",
			ErrInvalidConfig, c.MaxConcurrentBatches, DefaultMaxConcurrentBatches)
	}
	if c.MaxConcurrentBatches == 0 {
		c.MaxConcurrentBatches = DefaultMaxConcurrentBatches
	}
	return c, nil
}

// waitTimeout maps a BatchWaitTimeout value to the wait the dispatcher
// uses: 0 is the default, NoWait is zero wait, other negatives are errors.
func waitTimeout(d time.Duration) (time.Duration, error) {
	switch {
	case d == 0:
		return DefaultBatchWaitTimeout, nil
	case d == NoWait:
		return 0, nil
	case d < 0:
		return 0, fmt.Errorf("%w: BatchWaitTimeout is %v, want > 0 (0 for the default %v, NoWait for none)",
			ErrInvalidConfig, d, DefaultBatchWaitTimeout)
	}
	return d, nil
}
