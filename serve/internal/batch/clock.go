package batch

import "time"

// clock is the batcher's only source of time, so tests can decide when
// the wait timeout fires.
type clock interface {
	now() time.Time
	// newTimer returns a stopped timer.
	newTimer() timer
}

// timer is the part of *time.Timer the dispatcher uses. Since Go 1.23
// Reset and Stop leave no stale tick in C, which the dispatcher relies on.
type timer interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

type realClock struct{}

func (realClock) now() time.Time { return time.Now() }

func (realClock) newTimer() timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return realTimer{t}
}

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time   { return r.t.C }
func (r realTimer) Reset(d time.Duration) { r.t.Reset(d) }
func (r realTimer) Stop()                 { r.t.Stop() }
