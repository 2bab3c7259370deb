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
// empty, or every slot busy: a finishing batch looks at the queue).
func (b *Batcher[In, Out]) dispatchLocked() time.Duration {
	for b.running < b.maxConc {
		left, due := b.dueLocked()
		if !due {
			return left
		}
		go b.run(b.startLocked())
	}
	return 0
}

// dueLocked reports whether the queue holds a batch to start now: a full
// one, any with no wait, or one whose oldest item has waited its time.
// Otherwise left is how long until that, or 0 for an empty queue.
func (b *Batcher[In, Out]) dueLocked() (left time.Duration, due bool) {
	n := b.q.len()
	if n == 0 {
		return 0, false
	}
	if n >= b.maxBatch || b.wait == 0 {
		return 0, true
	}
	left = b.q.front().enq.Add(b.wait).Sub(b.clk.now())
	return left, left <= 0
}

// startLocked takes a slot and up to maxBatch requests from the queue; the
// caller runs the batch with go b.run.
func (b *Batcher[In, Out]) startLocked() *batch[In, Out] {
	b.running++
	b.wg.Add(1) // closed is false, so Close is not waiting yet
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

// run runs bt and then, keeping its slot, every batch that is due when it
// finishes; then it frees the slot.
func (b *Batcher[In, Out]) run(bt *batch[In, Out]) {
	defer b.wg.Done()
	for {
		b.runOne(bt)
		clear(bt.reqs)
		clear(bt.items) // drop references to the callers' items
		bt.reqs, bt.items = bt.reqs[:0], bt.items[:0]

		b.mu.Lock()
		if _, due := b.dueLocked(); due && !b.closed {
			// Reuse bt: take the next batch without giving up the slot.
			for b.q.len() > 0 && len(bt.reqs) < b.maxBatch {
				r := b.q.pop()
				r.queued = false
				bt.reqs = append(bt.reqs, r)
				bt.items = append(bt.items, r.item)
			}
			b.mu.Unlock()
			continue
		}
		b.running--
		b.free = append(b.free, bt)
		more := b.q.len() > 0
		b.mu.Unlock()
		if more {
			b.poke() // the dispatcher times the next wait
		}
		return
	}
}

// runOne calls fn on one batch and hands each caller its result.
func (b *Batcher[In, Out]) runOne(bt *batch[In, Out]) {
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
