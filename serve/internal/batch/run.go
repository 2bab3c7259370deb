package batch

import (
	"fmt"
	"runtime/debug"
)

// worker runs one batch at a time on its own goroutine, its batch reused
// from one to the next.
type worker[In, Out any] struct {
	bt   batch[In, Out] // filled under mu while the worker is idle
	wake chan struct{}  // cap 1: bt is filled, run it
}

// work is a worker's goroutine; it ends at Close.
func (b *Batcher[In, Out]) work(w *worker[In, Out]) {
	defer b.wg.Done()
	for {
		b.runDue(w)
		select {
		case <-w.wake:
		case <-b.stop:
			// A batch handed over before Close still runs.
			select {
			case <-w.wake:
			default:
				return
			}
		}
	}
}

// runDue runs w's batch and then, keeping the slot, every batch that is
// due when it finishes; then it frees the slot and parks w as idle.
func (b *Batcher[In, Out]) runDue(w *worker[In, Out]) {
	bt := &w.bt
	for {
		b.runOne(bt)
		clear(bt.reqs)
		clear(bt.items) // drop references to the callers' items
		bt.reqs, bt.items = bt.reqs[:0], bt.items[:0]

		b.mu.Lock()
		if _, due := b.dueLocked(); due && !b.closed {
			b.fillLocked(bt)
			b.mu.Unlock()
			continue
		}
		b.running--
		b.idle = append(b.idle, w)
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
