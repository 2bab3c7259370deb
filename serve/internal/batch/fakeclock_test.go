package batch

import (
	"sync"
	"time"
)

// fakeClock moves only when a test calls advance; its timers fire then.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	timers []*fakeTimer
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_000_000, 0)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) newTimer() timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clk: c, c: make(chan time.Time, 1)}
	c.timers = append(c.timers, t)
	return t
}

// advance moves the clock by d and fires the timers that are due.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	for _, t := range c.timers {
		t.fireLocked()
	}
}

type fakeTimer struct {
	clk   *fakeClock
	c     chan time.Time
	when  time.Time
	armed bool
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Reset(d time.Duration) {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	t.drainLocked()
	t.when, t.armed = t.clk.t.Add(d), true
	t.fireLocked()
}

func (t *fakeTimer) Stop() {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	t.armed = false
	t.drainLocked()
}

func (t *fakeTimer) drainLocked() {
	select {
	case <-t.c:
	default:
	}
}

func (t *fakeTimer) fireLocked() {
	if t.armed && !t.when.After(t.clk.t) {
		t.armed = false
		t.c <- t.clk.t
	}
}
