package batch

import (
	"fmt"
	"runtime/debug"
	"time"
)

// loop is the dispatcher: it forms batches when a slot is free and either
// a full batch waits or the oldest item's wait is over, and otherwise
// sleeps until poked, the wait timer fires, or Close.
func (b *Batcher[In, Out]) loop() {
	defer b.wg.Done()
	t := b.clk.newTimer()
	defer t.Stop()
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return
		}
		left := b.dispatchLocked()
		b.mu.Unlock()
		if left > 0 {
			t.Reset(left)
		} else {
			t.Stop()
		}
		select {
		case <-b.wake:
		case <-t.C():
		case <-b.stop:
		}
	}
}

// dispatchLocked starts every batch that is due and returns how long until
// the oldest queued item's wait ends, or 0 if no timer is needed (queue
// empty, or every slot busy: a finishing batch pokes the dispatcher).
func (b *Batcher[In, Out]) dispatchLocked() time.Duration {
	for b.q.len() > 0 && b.running < b.maxConc {
		if b.q.len() < b.maxBatch && b.wait > 0 {
			left := b.q.front().enq.Add(b.wait).Sub(b.clk.now())
			if left > 0 {
				return left
			}
		}
		bt := b.takeLocked()
		b.running++
		b.wg.Add(1)
		go b.run(bt)
	}
	return 0
}

// takeLocked moves up to maxBatch requests from the queue into a batch.
func (b *Batcher[In, Out]) takeLocked() *batch[In, Out] {
	var bt *batch[In, Out]
	if n := len(b.free); n > 0 {
		bt = b.free[n-1]
		b.free = b.free[:n-1]
	} else {
		bt = new(batch[In, Out])
	}
	for b.q.len() > 0 && len(bt.reqs) < b.maxBatch {
		r := b.q.pop()
		r.queued = false
		bt.reqs = append(bt.reqs, r)
		bt.items = append(bt.items, r.item)
	}
	return bt
}

// run calls fn on one batch, hands each caller its result, and frees the
// slot.
func (b *Batcher[In, Out]) run(bt *batch[In, Out]) {
	defer b.wg.Done()
	n := len(bt.reqs)
	start := b.clk.now()
	outs, err := b.call(bt.items)
	dur := b.clk.now().Sub(start)
	if err == nil && len(outs) != n {
		err = fmt.Errorf("%w: %d results for %d items", ErrBadBatch, len(outs), n)
	}
	// Count before delivering, so a caller that has its result sees it
	// counted.
	b.batches.Add(1)
	b.items.Add(uint64(n))
	if err != nil {
		b.failed.Add(1)
	}
	for i, r := range bt.reqs {
		if err != nil {
			r.err = err
		} else {
			r.out = outs[i]
		}
		// r belongs to its caller again from here on.
		r.done <- struct{}{}
	}
	if b.onBatch != nil {
		b.onBatch(n, dur)
	}

	clear(bt.reqs)
	clear(bt.items) // drop references to the callers' items
	bt.reqs, bt.items = bt.reqs[:0], bt.items[:0]
	b.mu.Lock()
	b.running--
	b.free = append(b.free, bt)
	more := b.q.len() > 0
	b.mu.Unlock()
	if more {
		b.poke()
	}
}

// call runs fn, turning a panic into a *PanicError.
func (b *Batcher[In, Out]) call(items []In) (outs []Out, err error) {
	defer func() {
		if p := recover(); p != nil {
			outs, err = nil, &PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	return b.fn(b.ctx, items)
}
