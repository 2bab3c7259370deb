package core

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
)

// Recursive cancel, as in Ray: the tasks a task submitted are its
// children, cancelled with it. A normal task's worker runs one task at a
// time, so the task it runs when a submission is made is that
// submission's parent.

// parentState is a normal task this worker runs, as the parent of the
// tasks it submits.
type parentState struct {
	cancelled bool // cancelled recursively: what it submits from now on is cancelled too
	force     bool
}

// enterTask records that this worker runs the normal task id; the
// returned function records its end.
func (s *submitter) enterTask(id string) func() {
	s.mu.Lock()
	if s.running == nil {
		s.running = map[string]*parentState{}
	}
	s.running[id] = &parentState{}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.running, id)
		s.mu.Unlock()
	}
}

// adoptLocked sets t's parent: the running task named (SubmitOptions.
// Parent), else the task this worker runs, when it runs exactly one (an
// actor's calls may overlap: their submissions get no parent). It
// returns the parent's state when the parent was already cancelled
// recursively, so that t is cancelled at once.
func (s *submitter) adoptLocked(t *task, named string) *parentState {
	id, p := s.parentLocked(named)
	if p == nil {
		return nil
	}
	t.parent = id
	if p.cancelled {
		return p
	}
	return nil
}

// parentLocked finds a submission's parent: the running task or serial
// call named, or the only one running; nil when there is none.
func (s *submitter) parentLocked(named string) (string, *parentState) {
	if named != "" {
		return named, s.running[named]
	}
	if len(s.running) != 1 {
		return "", nil
	}
	for id, p := range s.running {
		return id, p
	}
	return "", nil
}

// cancelChildren cancels the unfinished tasks that the running task
// parent submitted, each recursively, and marks parent so that what it
// submits later is cancelled too.
func (s *submitter) cancelChildren(parent string, force bool) {
	s.mu.Lock()
	if p := s.running[parent]; p != nil {
		p.cancelled, p.force = true, force
	}
	var kids []Ref
	for id, t := range s.tasks {
		if t.parent == parent && !t.obj.ready() {
			kids = append(kids, Ref{ID: id, Owner: s.rt.Addr()})
		}
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range kids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.rt.Cancel(r, force, true); err != nil {
				s.rt.log.Debug("cancelling a child task failed", "task", r.ID, "parent", parent, "err", err)
			}
		}()
	}
	s.rt.cancelCallsOf(parent) // its actor calls: never forced, as in Ray
	wg.Wait()
}

// forwardCancel asks the owner of ref's task to cancel it: only the owner
// knows where the task runs.
func (rt *Runtime) forwardCancel(ref Ref, force, recursive bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := rt.client(ctx, ref.Owner)
	if err != nil {
		return fmt.Errorf("%w: cancel %s: its owner %s: %w", errs.ErrOwnerDied, ref.ID, ref.Owner, err)
	}
	return cancelErrFromWire(c.Call(ctx, protocol.OwnerCancelTask, &protocol.CancelTaskRequest{TaskID: ref.ID, Force: force, Recursive: recursive}, nil))
}

// serveOwnerCancel cancels a task this process owns for a borrower.
func (rt *Runtime) serveOwnerCancel(_ context.Context, req *protocol.CancelTaskRequest) (*protocol.Empty, error) {
	if err := rt.Cancel(Ref{ID: req.TaskID, Owner: rt.Addr()}, req.Force, req.Recursive); err != nil {
		return nil, cancelErrToWire(err)
	}
	return &protocol.Empty{}, nil
}
