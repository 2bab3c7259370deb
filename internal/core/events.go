package core

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
)

// Task events: each process buffers what its tasks do and sends the
// buffer to the head once a second. The buffer is bounded; what does not
// fit (or what the head does not take) is counted as dropped and reported,
// so the state API can say it is missing something. Recording costs an
// append under a mutex on the task path.

const (
	eventFlushPeriod = time.Second
	maxBufferedEvent = 20_000
)

type eventBuffer struct {
	mu      sync.Mutex
	events  []protocol.TaskEvent
	dropped int64
	// running are the tasks this worker runs now, by ID. A task that
	// ends before the next flush is reported once, when it ends (with its
	// start time); one still running at a flush is reported RUNNING then.
	running map[string]*runningTask
}

type runningTask struct {
	ev       protocol.TaskEvent
	reported bool
}

// recordTask buffers one task event, stamped now.
func (rt *Runtime) recordTask(ev protocol.TaskEvent) {
	ev.TimeUs = time.Now().UnixMicro()
	b := &rt.events
	b.mu.Lock()
	if len(b.events) >= maxBufferedEvent {
		b.dropped++
	} else {
		b.events = append(b.events, ev)
	}
	b.mu.Unlock()
}

// taskStarted notes that this worker started running a task (see
// eventBuffer.running); taskEnded reports its end.
func (rt *Runtime) taskStarted(ev protocol.TaskEvent) {
	ev.State, ev.TimeUs = protocol.TaskRunning, time.Now().UnixMicro()
	b := &rt.events
	b.mu.Lock()
	if b.running == nil {
		b.running = map[string]*runningTask{}
	}
	b.running[ev.TaskID] = &runningTask{ev: ev}
	b.mu.Unlock()
}

// taskEnded buffers the end of a task taskStarted noted: FINISHED, or
// FAILED with its error.
func (rt *Runtime) taskEnded(ev protocol.TaskEvent, werr *errs.WireTaskError) {
	b := &rt.events
	b.mu.Lock()
	if r := b.running[ev.TaskID]; r != nil {
		ev.StartUs = r.ev.TimeUs
		delete(b.running, ev.TaskID)
	}
	b.mu.Unlock()
	rt.recordTaskEnd(ev, werr)
}

// recordTaskEnd buffers a task's end: FINISHED, or FAILED with its error.
func (rt *Runtime) recordTaskEnd(ev protocol.TaskEvent, werr *errs.WireTaskError) {
	ev.State = protocol.TaskFinished
	if werr != nil {
		ev.State, ev.ErrorType, ev.ErrorMsg, ev.Stack = protocol.TaskFailed, werr.Code, werr.Message, werr.Stack
	}
	rt.recordTask(ev)
}

// executorEvent is the part of an event the executing worker knows.
func (rt *Runtime) executorEvent(id string, attempt int, name, typ, job, actor string) protocol.TaskEvent {
	return protocol.TaskEvent{TaskID: id, Attempt: attempt, Name: name, Type: typ, JobID: job, ActorID: actor,
		NodeID: rt.nodeID, WorkerID: rt.cfg.WorkerID, WorkerPid: rt.pid}
}

// eventLoop flushes the buffer every eventFlushPeriod until the runtime
// closes (Close flushes the rest).
func (rt *Runtime) eventLoop() {
	t := time.NewTicker(eventFlushPeriod)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			rt.flushEvents(5 * time.Second)
		case <-rt.closed:
			return
		}
	}
}

// flushEvents sends the buffered events to the head, waiting for it at
// most timeout.
func (rt *Runtime) flushEvents(timeout time.Duration) {
	b := &rt.events
	b.mu.Lock()
	for _, r := range b.running {
		if !r.reported {
			r.reported = true
			b.events = append(b.events, r.ev)
		}
	}
	events, dropped := b.events, b.dropped
	b.events, b.dropped = nil, 0
	b.mu.Unlock()
	if len(events) == 0 && dropped == 0 {
		return
	}
	if rt.job.Load().HeadAddr == "" {
		return // a runtime that does not know its head yet
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	head, err := rt.headClient(ctx)
	if err == nil {
		err = head.Call(ctx, protocol.HeadReportTaskEvents, &protocol.TaskEventsRequest{Events: events, Dropped: dropped}, nil)
	}
	if err != nil && !errors.Is(err, errs.ErrShutdown) {
		b.mu.Lock()
		b.dropped += dropped + int64(len(events))
		b.mu.Unlock()
	}
}
