package batch

import "time"

// loop is the dispatcher. Call starts full batches itself and a finishing
// batch starts the next due one, so the dispatcher's work is the rest:
// timing the oldest item's wait and starting the partial batch when it
// ends, and starting batches a setter made due. It sleeps until poked,
// the wait timer fires, or Close.
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
		b.startLocked()
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

// startLocked takes a slot and the next batch from the queue and hands
// them to an idle worker, or to a new one: at most maxConc workers ever
// exist, so a goroutine is spawned (and allocated) only while the batcher
// warms up.
func (b *Batcher[In, Out]) startLocked() {
	b.running++
	if n := len(b.idle); n > 0 {
		w := b.idle[n-1]
		b.idle[n-1] = nil
		b.idle = b.idle[:n-1]
		b.fillLocked(&w.bt)
		w.wake <- struct{}{} // cap 1 and idle: never blocks
		return
	}
	w := &worker[In, Out]{wake: make(chan struct{}, 1)}
	b.fillLocked(&w.bt)
	b.wg.Add(1) // closed is false, so Close is not waiting yet
	go b.work(w)
}

// fillLocked moves up to maxBatch requests from the queue into the empty bt.
func (b *Batcher[In, Out]) fillLocked(bt *batch[In, Out]) {
	for b.q.len() > 0 && len(bt.reqs) < b.maxBatch {
		r := b.q.pop()
		r.queued = false
		bt.reqs = append(bt.reqs, r)
		bt.items = append(bt.items, r.item)
	}
}
