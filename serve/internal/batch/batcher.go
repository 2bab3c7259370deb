package batch

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Batcher gathers concurrent Calls into calls of fn on a slice. It is safe
// for concurrent use. Create it with New and stop it with Close.
//
// Lock order: mu is the only lock. Under it the code never blocks: it only
// sends on cap-1 channels known to be empty and reads the clock (whose
// test double's lock is a leaf).
type Batcher[In, Out any] struct {
	fn      func(ctx context.Context, items []In) ([]Out, error)
	onBatch func(size int, dur time.Duration)
	maxConc int
	clk     clock

	ctx    context.Context // passed to fn; cancelled by Close
	cancel context.CancelFunc
	wake   chan struct{} // cap 1: something changed, the dispatcher should look
	stop   chan struct{} // closed by Close
	wg     sync.WaitGroup
	reqs   sync.Pool // *request[In, Out]

	mu       sync.Mutex
	q        fifo[request[In, Out]]
	maxBatch int
	wait     time.Duration // 0: no wait
	running  int
	closed   bool
	idle     []*worker[In, Out] // parked workers; running + len(idle) <= maxConc

	batches, items, failed atomic.Uint64
}

// request is one Call's item and, once its batch ran, its result.
type request[In, Out any] struct {
	item   In
	enq    time.Time // when Call queued it
	out    Out
	err    error
	done   chan struct{} // cap 1; signalled once the result or error is set
	queued bool          // under mu: in the queue, not yet dispatched
}

// batch is one fn call's input, owned by a worker and reused.
type batch[In, Out any] struct {
	reqs  []*request[In, Out]
	items []In
}

// New returns a Batcher that calls fn on batches of items. fn must return
// one result per item, in the items' order; it must not keep items after it
// returns, since the slice is reused.
func New[In, Out any](fn func(ctx context.Context, items []In) ([]Out, error), cfg Config) (*Batcher[In, Out], error) {
	return newBatcher(fn, cfg, realClock{})
}

func newBatcher[In, Out any](fn func(ctx context.Context, items []In) ([]Out, error), cfg Config, clk clock) (*Batcher[In, Out], error) {
	if fn == nil {
		return nil, fmt.Errorf("%w: fn is nil", ErrInvalidConfig)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &Batcher[In, Out]{
		fn:       fn,
		onBatch:  cfg.OnBatch,
		maxConc:  cfg.MaxConcurrentBatches,
		clk:      clk,
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		maxBatch: cfg.MaxBatchSize,
		wait:     cfg.BatchWaitTimeout,
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.reqs.New = func() any { return &request[In, Out]{done: make(chan struct{}, 1)} }
	b.wg.Add(1)
	go b.loop()
	return b, nil
}

// Call submits item and waits for its result from the batch it joins. If
// ctx ends while the item is still queued, the item is taken out and never
// reaches fn; if it ends after dispatch, Call returns ctx.Err() at once and
// the batch runs on. fn's error fails every caller of its batch; a panic in
// fn becomes a *PanicError; a result slice of the wrong length, ErrBadBatch.
func (b *Batcher[In, Out]) Call(ctx context.Context, item In) (Out, error) {
	var zero Out
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	r := b.reqs.Get().(*request[In, Out])
	r.item = item
	r.enq = b.clk.now()

	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.putRequest(r)
		return zero, ErrClosed
	}
	r.queued = true
	b.q.push(r)
	// A batch that is due now starts here, sparing a trip through the
	// dispatcher; the dispatcher only needs to hear of a first item, to
	// time its wait. Without a free slot neither: a finishing batch looks
	// at the queue.
	signal := false
	if b.running < b.maxConc {
		if n := b.q.len(); n >= b.maxBatch || b.wait == 0 {
			b.startLocked()
		} else if n == 1 {
			signal = true
		}
	}
	b.mu.Unlock()
	if signal {
		b.poke()
	}

	select {
	case <-r.done:
		out, err := r.out, r.err
		b.putRequest(r)
		return out, err
	case <-ctx.Done():
	}
	b.mu.Lock()
	if r.queued && b.q.remove(r) {
		// Not dispatched: nobody else holds r now.
		r.queued = false
		b.mu.Unlock()
		b.putRequest(r)
		return zero, ctx.Err()
	}
	b.mu.Unlock()
	// Dispatched (or failed by Close): the batch will still write r, so r
	// is left to the garbage collector rather than the pool.
	return zero, ctx.Err()
}

func (b *Batcher[In, Out]) putRequest(r *request[In, Out]) {
	var zi In
	var zo Out
	r.item, r.out, r.err = zi, zo, nil
	b.reqs.Put(r)
}

// poke wakes the dispatcher without blocking.
func (b *Batcher[In, Out]) poke() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Close stops the batcher: queued callers and later Calls get ErrClosed,
// fn's context is cancelled, and Close waits for running batches to finish
// (their callers get fn's results). It is safe to call more than once.
func (b *Batcher[In, Out]) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.wg.Wait()
		return
	}
	b.closed = true
	var queued []*request[In, Out]
	for b.q.len() > 0 {
		r := b.q.pop()
		r.queued = false
		queued = append(queued, r)
	}
	b.mu.Unlock()

	close(b.stop)
	b.cancel()
	for _, r := range queued {
		r.err = ErrClosed
		r.done <- struct{}{}
	}
	b.wg.Wait()
}

// SetMaxBatchSize changes MaxBatchSize for batches formed from now on
// (Ray's set_max_batch_size); 0 restores the default.
func (b *Batcher[In, Out]) SetMaxBatchSize(n int) error {
	cfg, err := Config{MaxBatchSize: n}.withDefaults()
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.maxBatch = cfg.MaxBatchSize
	b.mu.Unlock()
	b.poke()
	return nil
}

// SetBatchWaitTimeout changes BatchWaitTimeout (Ray's
// set_batch_wait_timeout_s), for items already queued too; d follows
// Config.BatchWaitTimeout: 0 restores the default, NoWait waits not at all.
func (b *Batcher[In, Out]) SetBatchWaitTimeout(d time.Duration) error {
	wait, err := waitTimeout(d)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.wait = wait
	b.mu.Unlock()
	b.poke()
	return nil
}

// MaxBatchSize returns the current maximum batch size.
func (b *Batcher[In, Out]) MaxBatchSize() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.maxBatch
}

// BatchWaitTimeout returns the current wait timeout, NoWait for none.
func (b *Batcher[In, Out]) BatchWaitTimeout() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wait == 0 {
		return NoWait
	}
	return b.wait
}
