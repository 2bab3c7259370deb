package rpc

import (
	"sync"
	"time"
)

// logLimiter keeps a flood of like events (refused connections, failed
// accepts) from flooding the log: the first burst of a window is logged
// one by one, the rest are counted, and one summary line with the count
// follows when the window ends. 19,000 refusals once made a 3.5 MB log.
type logLimiter struct {
	window  time.Duration
	burst   int
	summary func(dropped int, window time.Duration) // called with the limiter's lock held

	mu      sync.Mutex
	start   time.Time
	logged  int
	dropped int
	timer   *time.Timer
	stopped bool
}

func newLogLimiter(window time.Duration, burst int, summary func(dropped int, window time.Duration)) *logLimiter {
	return &logLimiter{window: window, burst: burst, summary: summary}
}

// allow reports whether to log this event one by one; when not, the
// event is counted in the window's summary.
func (l *logLimiter) allow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.start) >= l.window {
		l.flushLocked()
		l.start, l.logged = now, 0
	}
	if l.logged < l.burst {
		l.logged++
		return true
	}
	l.dropped++
	if l.timer == nil && !l.stopped {
		l.timer = time.AfterFunc(l.start.Add(l.window).Sub(now), l.flush)
	}
	return false
}

func (l *logLimiter) flush() {
	l.mu.Lock()
	l.flushLocked()
	l.mu.Unlock()
}

func (l *logLimiter) flushLocked() {
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	if l.dropped > 0 {
		l.summary(l.dropped, l.window)
		l.dropped = 0
	}
}

// stop writes the pending summary and stops the timer.
func (l *logLimiter) stop() {
	l.mu.Lock()
	l.stopped = true
	l.flushLocked()
	l.mu.Unlock()
}
