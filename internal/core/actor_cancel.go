package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// ActorCallOptions are one actor call's options (Ray's
// actor.method.options(...)).
type ActorCallOptions struct {
	// Counted: the returned reference is already counted once as a local
	// reference, the caller's (see SubmitOptions.Counted).
	Counted bool
	// Name is the call's display name in events and errors ("": the
	// actor's class and the method).
	Name string
	// Group is the concurrency group the call runs in ("": the default).
	Group string
	// MaxTaskRetries, when SetRetries, replaces the actor's for this call:
	// resends after the actor's worker dies (-1: without limit).
	MaxTaskRetries int
	SetRetries     bool
	// RetryExceptions also resends the call after it returned an error or
	// panicked, within the same retries.
	RetryExceptions bool
	// ID is the call's task ID when the caller reserved it (ReserveIDs);
	// "" takes the next.
	ID string
	// Parent names the running task or serial call that makes this call
	// (SubmitOptions.Parent); "" means the one this worker runs.
	Parent string
}

func (o ActorCallOptions) apply(c *actorCall) {
	if o.Name != "" {
		c.name, c.req.Name = o.Name, o.Name
	}
	c.req.Group = o.Group
	if o.SetRetries {
		c.retries = o.MaxTaskRetries
	}
	c.retryExceptions = o.RetryExceptions
}

// SubmitActorCall submits a method call with the actor's defaults (see
// SubmitActorCallWith).
func (rt *Runtime) SubmitActorCall(actorID, class, method string, args []TaskArg, keep any) Ref {
	return rt.SubmitActorCallWith(actorID, class, method, args, keep, ActorCallOptions{})
}

// retryExceptionLocked resends c after an application error when it asked
// for that and has retries left; true if it did. Resent calls go to the
// front of the queue, so they run before calls not yet sent, but after
// those already sent (as in Ray, a retry does not keep its place).
func (ac *actorClient) retryExceptionLocked(c *actorCall, failure *errs.WireTaskError) bool {
	if failure == nil || !c.retryExceptions || c.cancelled || failure.Code != protocol.CodeTaskFailed || failure.NoRetry || c.retries == 0 {
		return false
	}
	if c.retries > 0 {
		c.retries--
	}
	ac.rt.log.Debug("actor call failed; retrying", "task", c.name, "err", failure.Message)
	ac.queue = append([]*actorCall{c}, ac.queue...)
	ac.pumpLocked()
	return true
}

// cancelActorCall cancels an actor call this process submitted (Ray's
// ray.cancel on an actor task): one not yet sent is dropped and fails
// with ErrTaskCancelled at once; one sent is cancelled at the actor's
// worker, which drops it if it is still queued there, or cancels its
// context if it runs (and, with recursive, cancels the tasks it
// submitted, when its actor runs one call at a time). force is refused (ErrInvalidOption): an actor's
// state would be lost with its process. found is false when id is no
// unfinished actor call of this process.
func (rt *Runtime) cancelActorCall(id string, force, recursive bool) (found bool, err error) {
	rt.actorsMu.Lock()
	c := rt.calls[id]
	if c == nil {
		rt.actorsMu.Unlock()
		return false, nil
	}
	ac := c.ac
	var where *[]*actorCall
	for _, l := range []*[]*actorCall{&ac.queue, &ac.inflight, &ac.lost} {
		for _, x := range *l {
			if x == c {
				where = l
			}
		}
	}
	if where == nil {
		// Between lists (its reply is being handled): it may not be
		// resent, and finishes as it ends.
		c.cancelled = !force
		rt.actorsMu.Unlock()
		if force {
			return true, fmt.Errorf("%w: force cancel is not supported for actor calls (the actor's state would be lost); use Kill", errs.ErrInvalidOption)
		}
		return true, nil
	}
	if force {
		rt.actorsMu.Unlock()
		return true, fmt.Errorf("%w: force cancel is not supported for actor calls (the actor's state would be lost); use Kill", errs.ErrInvalidOption)
	}
	c.cancelled, c.cancelRecursive = true, recursive
	// One in flight but still in the outbox was never written: it is
	// dropped as a queued one.
	if where == &ac.inflight && !ac.dropOutboxLocked(c) {
		conn := ac.conn
		rt.actorsMu.Unlock()
		if conn == nil {
			return true, nil // the connection broke: connLostLocked finishes it as cancelled
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := conn.Call(ctx, protocol.WorkerCancelTask, &protocol.CancelTaskRequest{TaskID: id, Recursive: recursive}, nil)
		if errors.Is(err, rpc.ErrClosed) {
			err = nil // the worker is gone: the call is finished as cancelled when that is noticed
		}
		return true, err
	}
	// Queued here, unwritten, or lost with a broken connection: never (re)sent.
	l := *where
	for i, x := range l {
		if x == c {
			*where = append(l[:i], l[i+1:]...)
			break
		}
	}
	ac.finishLocked(c, cancelledCallError(c.name, id).ToWire())
	if where == &ac.queue {
		ac.pumpLocked() // the calls behind it may be ready to go
	}
	ac.unlockFlush()
	return true, nil
}

func cancelErrToWire(err error) error {
	if errors.Is(err, errs.ErrInvalidOption) {
		return rpc.Errorf(protocol.CodeInvalidOption, "%v", err)
	}
	return err
}

func cancelErrFromWire(err error) error {
	if rpc.CodeOf(err) == protocol.CodeInvalidOption {
		return fmt.Errorf("%w: %v", errs.ErrInvalidOption, err)
	}
	return err
}

// adoptCall sets c's parent: the running task or serial actor call
// named, else the one this worker runs, when it runs exactly one (as
// adoptLocked for tasks). It reports whether that parent was already
// cancelled recursively.
func (s *submitter) adoptCall(c *actorCall, named string) (parentCancelled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, p := s.parentLocked(named)
	if p == nil {
		return false
	}
	c.parent = id
	return p.cancelled
}

// parentCancelled reports whether the running task or serial actor call
// id was cancelled recursively.
func (s *submitter) parentCancelled(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.running[id]
	return p != nil && p.cancelled
}

// cancelCallsOf cancels the unfinished actor calls that parent submitted,
// each recursively, for a recursive Cancel of parent. As in Ray, force
// does not reach them (an actor's state would be lost).
func (rt *Runtime) cancelCallsOf(parent string) {
	var ids []string
	rt.actorsMu.Lock()
	for id, c := range rt.calls {
		if c.parent == parent {
			ids = append(ids, id)
		}
	}
	rt.actorsMu.Unlock()
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := rt.cancelActorCall(id, false, true); err != nil {
				rt.log.Debug("cancelling a child actor call failed", "task", id, "parent", parent, "err", err)
			}
		}()
	}
	wg.Wait()
}
