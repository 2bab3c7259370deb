package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
)

// Lineage reconstruction. When a task's result lives in a node's store,
// its owner keeps the task's spec (and keeps what its arguments refer to)
// for as long as the result is referred to. If every copy of the result
// is lost, the owner runs the task again, first rebuilding lost arguments
// the same way. A Put value has no lineage: it cannot be rebuilt. A task
// with MaxRetries 0 keeps no lineage (the opt-out).
//
// Memory: one spec per live stored result: its inline arguments (each at
// most the inline limit) and the locations of stored ones.

type lineageEntry struct {
	spec protocol.TaskSpec
	opts SubmitOptions
	refs []Ref // argument references kept alive for a re-run
	// retries is what is left of the task's MaxRetries (-1: no limit):
	// each reconstruction draws one, as in Ray, and retries of a re-run
	// draw from the same budget.
	retries int
	// hold, for an item of a streaming task (stream_lineage.go): the
	// task's arguments, shared by its items' entries (refs is nil), and
	// streamIndex the item's index.
	hold        *argHold
	streamIndex int
}

type lineage struct {
	mu      sync.Mutex
	entries map[string]*lineageEntry
	running map[string]chan struct{} // reconstructions in progress
}

func newLineage() *lineage {
	return &lineage{entries: map[string]*lineageEntry{}, running: map[string]chan struct{}{}}
}

// keepLineage records a finished task whose result went to a store; it
// takes over the task's argument references.
func (rt *Runtime) keepLineage(t *task) bool {
	if t.opts.MaxRetries == 0 {
		return false
	}
	rt.lin.mu.Lock()
	refs := t.refs
	if old := rt.lin.entries[t.spec.ReturnID]; old != nil {
		// A re-run: the entry already holds the argument references.
		refs = old.refs
		rt.lin.mu.Unlock()
		rt.removeSubmitted(t.refs)
		rt.lin.mu.Lock()
	}
	rt.lin.entries[t.spec.ReturnID] = &lineageEntry{spec: t.spec, opts: t.opts, refs: refs, retries: t.retriesOut}
	rt.lin.mu.Unlock()
	return true
}

// dropLineage forgets a freed object's lineage and releases its
// arguments. Called with rt.refs.mu held.
func (rt *Runtime) dropLineageLocked(id string) {
	rt.lin.mu.Lock()
	e := rt.lin.entries[id]
	delete(rt.lin.entries, id)
	rt.lin.mu.Unlock()
	if e == nil {
		return
	}
	refs := e.refs
	if e.hold != nil {
		rt.lin.mu.Lock()
		e.hold.items--
		if e.hold.items == 0 {
			refs, e.hold.refs = e.hold.refs, nil
		}
		rt.lin.mu.Unlock()
	}
	var buf [2]refEffect
	rt.applyRefEffectsLocked(rt.refs.removeSubmitted(rt, refs, buf[:0]))
}

// reconstruct re-runs the task that made an object this process owns and
// returns the object's new form. Concurrent calls share one re-run.
func (rt *Runtime) reconstruct(ctx context.Context, id string, depth int) (protocol.Arg, error) {
	if depth > 64 {
		return protocol.Arg{}, fmt.Errorf("%w: %s: lineage deeper than 64 lost objects", errs.ErrObjectLost, id)
	}
	rt.lin.mu.Lock()
	e := rt.lin.entries[id]
	if e == nil && rt.awaitStreamEnd(ctx, id) {
		// An item of a stream whose task was still running (retried after
		// its node died): its lineage is kept now that the task ended.
		e = rt.lin.entries[id]
	}
	if e == nil {
		rt.lin.mu.Unlock()
		return protocol.Arg{}, fmt.Errorf("%w: %s: every copy is gone and it has no lineage to rebuild it from (a Put value, or a task with MaxRetries 0)", errs.ErrObjectLost, id)
	}
	if ch, ok := rt.lin.running[id]; ok {
		rt.lin.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return protocol.Arg{}, ctxErr(ctx)
		}
		return rt.lookup(ctx, Ref{ID: id, Owner: rt.Addr()})
	}
	if e.retries == 0 {
		rt.lin.mu.Unlock()
		// A TaskError, so that a borrower asking the owner gets the cause.
		return protocol.Arg{}, errs.NewTaskError(e.spec.DisplayName(), e.spec.TaskID, errs.ErrObjectReconstructionFailed,
			fmt.Errorf("object %s: every copy is gone and the task has no retries left to rebuild it (MaxRetries %d)", id, e.opts.MaxRetries), "", false)
	}
	if e.retries > 0 {
		e.retries--
	}
	retries := e.retries
	ch := make(chan struct{})
	rt.lin.running[id] = ch
	spec := e.spec
	spec.Args = append([]protocol.Arg(nil), e.spec.Args...)
	opts := e.opts
	rt.lin.mu.Unlock()
	defer func() {
		rt.lin.mu.Lock()
		delete(rt.lin.running, id)
		rt.lin.mu.Unlock()
		close(ch)
	}()
	rt.log.Warn("rebuilding a lost object by re-running its task", "object", id, "task", spec.Name)

	// Rebuild the arguments that are lost too, first.
	for i, a := range spec.Args {
		if a.Loc == nil || !rt.ownsLineage(a.ID) || rt.storedCopyReachable(ctx, a) {
			continue
		}
		na, err := rt.reconstruct(ctx, a.ID, depth+1)
		if err != nil {
			return protocol.Arg{}, fmt.Errorf("rebuilding argument %d of %s: %w", i, spec.Name, err)
		}
		spec.Args[i] = na
		rt.lin.mu.Lock()
		if cur := rt.lin.entries[id]; cur != nil {
			cur.spec.Args[i] = na
		}
		rt.lin.mu.Unlock()
	}
	if e.hold != nil {
		return rt.reconstructStreamItem(ctx, id, e, spec, retries)
	}
	obj := rt.store.create(id)
	spec.TaskID = rt.nextID()
	spec.Attempt = 0
	t := &task{opts: opts, obj: obj, retriesOut: retries, appRetries: opts.MaxRetries, spec: spec}
	if err := rt.submitRerun(t); err != nil {
		return protocol.Arg{}, err
	}
	select {
	case <-obj.done:
	case <-ctx.Done():
		return protocol.Arg{}, ctxErr(ctx)
	case <-rt.closed:
		return protocol.Arg{}, errs.ErrShutdown
	}
	return obj.asArg(id)
}

// submitRerun queues a lineage re-run of a task.
func (rt *Runtime) submitRerun(t *task) error {
	s := rt.sub
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errs.ErrShutdown
	}
	s.tasks[t.spec.TaskID] = t
	s.mu.Unlock()
	s.enqueue(t)
	return nil
}

// asArg is a completed object's form as an argument, or its error.
func (o *object) asArg(id string) (protocol.Arg, error) {
	if o.err != nil {
		return protocol.Arg{}, o.err.Err()
	}
	if o.loc != nil {
		return protocol.Arg{ID: id, Loc: o.loc}, nil
	}
	return protocol.Arg{V: o.value}, nil
}

func (rt *Runtime) ownsLineage(id string) bool {
	rt.lin.mu.Lock()
	defer rt.lin.mu.Unlock()
	return rt.lin.entries[id] != nil
}

// ownsStreamItem reports whether id is an item of a stream this process
// owns: one whose task still runs (retried after its node died) has no
// lineage entry yet, and reconstruct waits for the task's end to get it.
func (rt *Runtime) ownsStreamItem(id string) bool {
	dot := strings.LastIndexByte(id, '.')
	return dot > 0 && rt.stream(id[:dot]) != nil
}

// storedCopyReachable reports whether the node holding a stored object's
// primary copy still answers (a lost node is the usual way to lose one).
func (rt *Runtime) storedCopyReachable(ctx context.Context, a protocol.Arg) bool {
	if a.Loc.NodeID == rt.nodeID {
		return true
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := rt.client(cctx, a.Loc.NodeAddr)
	if err != nil {
		return false
	}
	return c.Call(cctx, protocol.NodeInfoMethod, &protocol.Empty{}, &protocol.NodeInfoReply{}) == nil
}

// getStored fetches a stored object's bytes, rebuilding it from its
// lineage when every copy is gone and this process owns it.
func (rt *Runtime) getStored(ctx context.Context, ref Ref, a protocol.Arg) ([]byte, error) {
	b, err := rt.argBytes(ctx, a)
	if err == nil || !errors.Is(err, errs.ErrObjectLost) || ctx.Err() != nil {
		return b, err
	}
	var na protocol.Arg
	if ref.Owner == rt.Addr() {
		na, err = rt.reconstruct(ctx, ref.ID, 0)
	} else {
		na, err = rt.lookupRemoteLost(ctx, ref)
	}
	if err != nil {
		return nil, err
	}
	return rt.argBytes(ctx, na)
}

// retryLostArgs handles a task that failed because a stored argument was
// gone: it rebuilds the arguments this process can rebuild and submits
// the task again. It reports whether it took the task over.
func (s *submitter) retryLostArgs(t *task) bool {
	rebuilt := false
	for i, a := range t.spec.Args {
		if a.Loc == nil || !(s.rt.ownsLineage(a.ID) || s.rt.ownsStreamItem(a.ID)) {
			continue
		}
		ctx, cancel := context.WithTimeout(s.rt.ctx, 10*time.Minute) // Close ends it
		if s.rt.storedCopyReachable(ctx, a) {
			cancel()
			continue
		}
		na, err := s.rt.reconstruct(ctx, a.ID, 1)
		cancel()
		if errors.Is(err, errs.ErrObjectReconstructionFailed) {
			// The task fails with the cause, as in Ray, not as lost.
			s.finish(t, nil, errs.NewTaskError(t.name(), t.spec.TaskID, errs.ErrObjectReconstructionFailed,
				fmt.Errorf("argument %d: %w", i, err), "", false).ToWire())
			return true
		}
		if err != nil {
			return false
		}
		t.spec.Args[i] = na
		rebuilt = true
	}
	if !rebuilt {
		return false
	}
	s.enqueue(t)
	return true
}
