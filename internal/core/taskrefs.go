package core

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Releasing a task's references when it returns (issue 14 item 2).
//
// An ObjectRef is counted out of this process by a cleanup that runs once
// the Go collector finds it gone, and an idle worker may not collect for
// minutes: it would stay a borrower (or keep an object it owns) long after
// its task dropped the reference. So a worker notes when its tasks and
// actor calls make or receive references, and once it has run no call for
// sweepIdle after such a call (or after sweepBusyGap of calls back to
// back) it runs the collector, and again sweepRetry later for references
// that the returning call's frame or reply still held: the cleanups of the
// references the call dropped then count them out, as Ray's borrowers
// report at task end. References the call kept (in actor state, a global,
// an object it put) are still reachable and stay counted. A worker whose
// calls make no references never collects for this; one that does
// collects when idle, not between calls, which would cost every call.

const (
	// sweepIdle is how long a worker must run no call before it collects.
	sweepIdle = 10 * time.Millisecond
	// sweepBusyGap bounds how long a worker that never goes idle goes
	// without collecting for the references its calls dropped.
	sweepBusyGap = time.Second
	// sweepRetry is when the collector runs a second time, for references
	// held a moment longer by the returning call's frame or reply.
	sweepRetry = 200 * time.Millisecond
)

// taskRefs follows the calls that run in this process and the references
// they make; it lives in the reference table.
type taskRefs struct {
	running atomic.Int64 // calls running in this process
	begun   atomic.Int64 // calls begun so far: a change says the worker was not idle
	made    atomic.Int64 // references made while a call ran, since the last sweep
	start   sync.Once
	kick    chan struct{}
}

// NoteRef records that a reference was made or received in this process:
// while a call runs, the worker will collect once it returns.
func (rt *Runtime) NoteRef() {
	if l := &rt.refs.task; l.running.Load() > 0 {
		l.made.Add(1)
	}
}

// taskRefsBegin and taskRefsEnd bracket a task's or actor call's run.
func (rt *Runtime) taskRefsBegin() {
	l := &rt.refs.task
	l.begun.Add(1)
	l.running.Add(1)
}

func (rt *Runtime) taskRefsEnd() {
	l := &rt.refs.task
	l.running.Add(-1)
	if l.made.Load() == 0 {
		return
	}
	l.start.Do(func() {
		l.kick = make(chan struct{}, 1)
		go rt.sweepLoop(l.kick)
	})
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// sweepLoop collects for the references calls dropped, one collection at
// a time: once the worker is idle, and again sweepRetry later.
func (rt *Runtime) sweepLoop(kick chan struct{}) {
	l := &rt.refs.task
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	last := time.Now()
	for {
		select {
		case <-rt.closed:
			return
		case <-kick:
			if !rt.awaitIdle(last.Add(sweepBusyGap)) {
				return
			}
			if l.made.Swap(0) == 0 {
				continue
			}
			retry.Reset(sweepRetry)
		case <-retry.C:
		}
		last = time.Now()
		runtime.GC()
	}
}

// awaitIdle waits until no call has run for sweepIdle, or until deadline;
// false if the runtime closes meanwhile.
func (rt *Runtime) awaitIdle(deadline time.Time) bool {
	l := &rt.refs.task
	t := time.NewTimer(sweepIdle)
	defer t.Stop()
	for {
		begun := l.begun.Load()
		select {
		case <-rt.closed:
			return false
		case <-t.C:
		}
		if (l.running.Load() == 0 && l.begun.Load() == begun) || !time.Now().Before(deadline) {
			return true
		}
		t.Reset(sweepIdle)
	}
}
