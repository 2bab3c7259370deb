package core

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Releasing a task's references when it returns (issue 14 item 2).
//
// An ObjectRef is counted out of this process when the Go collector finds
// it gone, and an idle worker may not collect for minutes: it would stay
// a borrower (or keep an object it owns) long after its task dropped the
// reference. So a worker keeps a ledger of the references made while its
// tasks and actor calls run (decoded from arguments or results, or made
// by Remote and Put), each with a weak pointer to its ObjectRef's token.
// When a call returns, the worker runs the collector once (in the
// background, at most once per sweepGap) and counts out at once
// every ledger entry whose token is gone. One the task kept (in a global,
// a live goroutine, an object it put; the caller's copy in the result
// is lent to the caller separately) is still alive and stays counted, as
// in Ray, where a borrower reports at task end the references it still
// holds. A weak pointer, unlike the cleanup, is cleared by the collection
// itself, so the release does not wait for the cleanup goroutine.

// LocalRef is one ObjectRef value counted by AddLocalRef; ReleaseLocal
// counts it out once, whoever calls it first (its cleanup or the task-end sweep).
type LocalRef struct {
	ref      Ref
	released atomic.Bool
}

type trackedRef struct {
	h      *LocalRef
	alive  func() bool
	checks int // sweeps that found it alive with no task running
}

// taskRefs is the ledger; it lives in the reference table.
type taskRefs struct {
	mu      sync.Mutex
	running atomic.Int64 // tasks running in this process
	fresh   []trackedRef
	started bool
	kick    chan struct{}
}

const (
	// sweepGap bounds how often a busy worker collects for the ledger.
	sweepGap = 50 * time.Millisecond
	// sweepRetry re-checks entries still alive once no task runs: the
	// returning task's frame and its reply may hold them for a moment.
	sweepRetry = 200 * time.Millisecond
	// sweepChecks is how many idle sweeps an entry gets before it is left
	// to its cleanup alone (the task kept it).
	sweepChecks = 4
)

// TracksLocalRefs reports whether references made now should be tracked
// with a liveness check: while this worker runs a task.
func (rt *Runtime) TracksLocalRefs() bool {
	return rt.refs.task.running.Load() > 0
}

// AddLocalRef counts one more ObjectRef value, as AddLocal does. alive,
// when set, reports whether the value still exists (a weak pointer): the
// ledger then counts it out when a task returns and it is gone.
func (rt *Runtime) AddLocalRef(r Ref, alive func() bool) *LocalRef {
	h := &LocalRef{ref: r}
	rt.AddLocal(r)
	if alive != nil {
		l := &rt.refs.task
		l.mu.Lock()
		l.fresh = append(l.fresh, trackedRef{h: h, alive: alive})
		l.mu.Unlock()
	}
	return h
}

// ReleaseLocal counts the value out, once.
func (rt *Runtime) ReleaseLocal(h *LocalRef) {
	if h.released.CompareAndSwap(false, true) {
		rt.RemoveLocal(h.ref)
	}
}

// taskRefsBegin and taskRefsEnd bracket a task's run.
func (rt *Runtime) taskRefsBegin() {
	rt.refs.task.running.Add(1)
}

func (rt *Runtime) taskRefsEnd() {
	l := &rt.refs.task
	l.running.Add(-1)
	l.mu.Lock()
	if len(l.fresh) == 0 {
		l.mu.Unlock()
		return
	}
	if !l.started {
		l.started = true
		l.kick = make(chan struct{}, 1)
		go rt.sweepLoop(l.kick)
	}
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// sweepLoop runs the ledger's sweeps, one at a time, at most one per
// sweepGap, and again after sweepRetry while entries remain to re-check.
func (rt *Runtime) sweepLoop(kick chan struct{}) {
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-rt.closed:
			return
		case <-kick:
		case <-retry.C:
		}
		if rt.sweepTaskRefs() {
			retry.Reset(sweepRetry)
		}
		select {
		case <-rt.closed:
			return
		case <-time.After(sweepGap):
		}
	}
}

// sweepTaskRefs collects, counts out the ledger's entries whose values are
// gone, and reports whether entries are left to re-check.
func (rt *Runtime) sweepTaskRefs() bool {
	l := &rt.refs.task
	l.mu.Lock()
	if len(l.fresh) == 0 {
		l.mu.Unlock()
		return false
	}
	l.mu.Unlock()
	runtime.GC()
	l.mu.Lock()
	idle := l.running.Load() == 0
	var dead []*LocalRef
	keep := l.fresh[:0]
	for _, e := range l.fresh {
		switch {
		case e.h.released.Load():
		case !e.alive():
			dead = append(dead, e.h)
		default:
			if idle {
				e.checks++
			}
			if e.checks < sweepChecks {
				keep = append(keep, e)
			}
		}
	}
	clear(l.fresh[len(keep):])
	l.fresh = keep
	left := idle && len(keep) > 0
	l.mu.Unlock()
	for _, h := range dead {
		rt.ReleaseLocal(h)
	}
	return left
}
