package core

import (
	"context"
	"fmt"
	"strings"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
)

// Lineage of stream items, as Ray keeps it for a generator's returns. A
// streaming task that finished keeps its spec for each of its items that
// lives in a node's store, and its arguments alive while any of them is
// referred to. When every copy of such an item is lost, the owner runs
// the task again under a new ID, told (StreamSpec.ItemBase, Skip) to name
// its items after the original and to report nothing before the lost
// index: the owner takes that one item into the object waiting for it and
// stops the run. Actor calls' items have no lineage (nor do actor calls'
// results). A task with MaxRetries 0 keeps none (the opt-out), and each
// rebuild draws one retry, as a task result's does.

// argHold keeps a finished streaming task's argument references while
// any of its items keeps lineage; items counts them.
type argHold struct {
	refs  []Ref
	items int
}

// keepStreamLineage gives lineage to the stored items of a streaming
// task that ended without error and whose items are still referred to.
// It reports whether it took over the task's argument references.
func (rt *Runtime) keepStreamLineage(t *task) bool {
	if t.opts.MaxRetries == 0 {
		return false
	}
	s := rt.stream(t.spec.TaskID)
	if s == nil {
		return false // closed early: its items were freed
	}
	s.mu.Lock()
	stored := append([]int(nil), s.stored...)
	s.mu.Unlock()
	if len(stored) == 0 {
		return false
	}
	hold := &argHold{refs: t.refs}
	spec := t.spec
	spec.Args = append([]protocol.Arg(nil), t.spec.Args...)
	stream := *t.spec.Stream
	spec.Stream = &stream
	// Under refs.mu, so that an item freed meanwhile gets no entry
	// (freeing drops lineage under the same lock).
	rt.refs.mu.Lock()
	rt.lin.mu.Lock()
	for _, i := range stored {
		id := protocol.StreamItemID(t.spec.TaskID, i)
		if rt.refs.m[id] == nil {
			continue
		}
		rt.lin.entries[id] = &lineageEntry{spec: spec, opts: t.opts, retries: t.retriesOut, hold: hold, streamIndex: i}
		hold.items++
	}
	// Read under the locks: once they are let go, a freed item drops its
	// entry and decrements hold.items (dropLineageLocked).
	kept := hold.items > 0
	rt.lin.mu.Unlock()
	rt.refs.mu.Unlock()
	return kept
}

// reconstructStreamItem runs the streaming task of entry e again to make
// item id (its index e.streamIndex) and returns the item's new form. The
// caller holds the reconstruction slot of id; spec's lost arguments were
// rebuilt already.
func (rt *Runtime) reconstructStreamItem(ctx context.Context, id string, e *lineageEntry, spec protocol.TaskSpec, retries int) (protocol.Arg, error) {
	base := spec.TaskID
	rs := &ownedStream{id: base, wake: make(chan struct{}), rebuildIndex: e.streamIndex}
	// One rebuild of a stream at a time.
	for {
		rt.streams.mu.Lock()
		if rt.streams.rebuilds == nil {
			rt.streams.rebuilds = map[string]*ownedStream{}
		}
		cur := rt.streams.rebuilds[base]
		if cur == nil {
			rt.streams.rebuilds[base] = rs
			rt.streams.mu.Unlock()
			break
		}
		rt.streams.mu.Unlock()
		cur.mu.Lock()
		wake := cur.wake
		cur.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return protocol.Arg{}, ctxErr(ctx)
		case <-rt.closed:
			return protocol.Arg{}, errs.ErrShutdown
		}
	}
	item := rt.store.create(id) // lookups of id wait on it from now
	rs.mu.Lock()
	rs.rebuildObj = item
	rs.mu.Unlock()
	defer func() {
		rt.streams.mu.Lock()
		delete(rt.streams.rebuilds, base)
		rt.streams.mu.Unlock()
		rs.mu.Lock()
		rs.changedLocked() // the next rebuild of base may start
		rs.mu.Unlock()
	}()

	spec.TaskID = rt.nextID()
	spec.ReturnID = spec.TaskID
	spec.Attempt = 0
	spec.Stream = &protocol.StreamSpec{Skip: e.streamIndex, ItemBase: base}
	run := rt.store.create(spec.TaskID) // the re-run's end; nobody refers to it
	t := &task{opts: e.opts, obj: run, retriesOut: retries, appRetries: e.opts.MaxRetries, spec: spec}
	if err := rt.submitRerun(t); err != nil {
		return protocol.Arg{}, err
	}
	select {
	case <-item.done:
	case <-run.done:
		select {
		case <-item.done: // the item came with the run's last step
		default:
			err := fmt.Errorf("%w: %s: the task that made it ran again without making it", errs.ErrObjectLost, id)
			if run.err != nil {
				err = fmt.Errorf("%w: %s: the task that made it failed when run again: %v", errs.ErrObjectLost, id, run.err.Err())
			}
			item.complete(nil, errs.NewTaskError(spec.DisplayName(), base, errs.ErrObjectReconstructionFailed, err, "", false).ToWire())
			return protocol.Arg{}, err
		}
	case <-ctx.Done():
		return protocol.Arg{}, ctxErr(ctx)
	case <-rt.closed:
		return protocol.Arg{}, errs.ErrShutdown
	}
	return item.asArg(id)
}

// awaitStreamEnd, for id an item of a stream this process owns whose
// task still runs (retried after its worker or node died: a retry skips
// the items the owner holds, so a lost one is not made again), waits for
// the task's end, when the item's lineage is kept. Called with rt.lin.mu
// held; it is held again on return. It reports whether it waited.
func (rt *Runtime) awaitStreamEnd(ctx context.Context, id string) bool {
	dot := strings.LastIndexByte(id, '.')
	if dot < 0 {
		return false
	}
	s := rt.stream(id[:dot])
	if s == nil {
		return false
	}
	rt.lin.mu.Unlock()
	defer rt.lin.mu.Lock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || s.closed {
		return false
	}
	for !s.ended && !s.closed {
		if s.waitLocked(ctx, rt.closed) != nil {
			return false
		}
	}
	return true
}

// rebuildOf returns the rebuild running for the stream of task base.
func (rt *Runtime) rebuildOf(base string) *ownedStream {
	rt.streams.mu.Lock()
	defer rt.streams.mu.Unlock()
	return rt.streams.rebuilds[base]
}

// rebuildStreamItemLocked takes the item a rebuild waits for and stops
// the run; any other item is refused as a duplicate, so that the worker
// deletes the copy it stored. Called with s.mu held.
func (rt *Runtime) rebuildStreamItemLocked(s *ownedStream, req *protocol.StreamItemRequest) *protocol.StreamItemReply {
	if req.Index != s.rebuildIndex || s.rebuildObj == nil || s.rebuildObj.ready() {
		return &protocol.StreamItemReply{Dup: true, Stop: true}
	}
	if req.Loc != nil {
		s.rebuildObj.completeArg(protocol.Arg{ID: protocol.StreamItemID(req.TaskID, req.Index), Loc: req.Loc})
	} else {
		s.rebuildObj.complete(req.Value, nil)
	}
	s.changedLocked()
	return &protocol.StreamItemReply{Stop: true}
}
