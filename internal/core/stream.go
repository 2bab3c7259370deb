package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// Streaming results, after Ray's num_returns="streaming" (its
// ObjectRefGenerator). A streaming task or actor call yields items; the
// worker reports each to the owner as it is produced (OwnerStreamItem),
// small ones inline, large ones stored in its node's store as primary
// copies, exactly as a task's result. The owner makes each an owned
// object (StreamItemID) held by the stream until its consumer takes it;
// the task's own reply only says how many items there were.
//
// Backpressure: the owner answers an item only while the consumer is
// fewer than Backpressure items behind, so the producer's yield blocks.
// Retries: a retried attempt is told how many items the owner holds
// (StreamSpec.Skip) and drops that many unreported, so the consumer sees
// each index once. Lock order: submitter.mu and actorsMu come before a
// stream's mu, which comes before refs.mu; nothing here takes the first
// two while holding mu.

// StreamOptions describe a streaming submission.
type StreamOptions struct {
	// Backpressure > 0: the producer waits while it is this many items
	// ahead of the consumer. 0: no limit (Ray's default).
	Backpressure int
}

// StreamExecutor runs streaming tasks and actor calls in a worker; the
// rayo package's executor implements it beside Executor. emit reports one
// item and returns once the owner took it; an error from emit (the stream
// was closed or cancelled, the owner is gone) means the function must
// stop.
type StreamExecutor interface {
	ExecuteStream(ctx context.Context, spec *protocol.TaskSpec, args [][]byte, emit func(Encoded) error) *errs.TaskError
	CallActorStream(ctx context.Context, instance any, class string, call *protocol.ActorCallRequest, args [][]byte, emit func(Encoded) error) *errs.TaskError
}

// ErrStreamStopped is what a StreamExecutor's emit returns once the
// owner closed the stream: the function is to stop, and it did not fail.
var ErrStreamStopped = errors.New("rayo: the stream was closed by its consumer")

// streamTable holds the streams this process owns, by task ID.
type streamTable struct {
	mu sync.Mutex
	m  map[string]*ownedStream
	// rebuilds are the lineage re-runs of finished streams, by the
	// original task's ID (stream_lineage.go).
	rebuilds map[string]*ownedStream
}

// ownedStream is the owner's state of one stream.
type ownedStream struct {
	id           string
	backpressure int

	mu       sync.Mutex
	items    map[int]Ref // received and not yet taken, each held by one local count
	received int         // items 0..received-1 have arrived
	taken    int         // items 0..taken-1 went to the consumer
	total    int         // the item count, once ended
	ended    bool        // the task finished (total and err are final)
	err      *errs.WireTaskError
	closed   bool          // the consumer closed the stream
	wake     chan struct{} // closed and replaced at every change
	stored   []int         // indices of items stored in a node's store: they get lineage

	// A rebuild (stream_lineage.go): a finished stream's lost item,
	// index rebuildIndex, is being made again into rebuildObj.
	rebuildIndex int
	rebuildObj   *object
}

func (s *ownedStream) changedLocked() {
	close(s.wake)
	s.wake = make(chan struct{})
}

// openStream registers a stream for the task or call id about to be
// submitted, and returns the mark for its spec (nil when so is nil).
func (rt *Runtime) openStream(id string, so *StreamOptions) *protocol.StreamSpec {
	if so == nil {
		return nil
	}
	s := &ownedStream{id: id, backpressure: max(so.Backpressure, 0), items: map[int]Ref{}, wake: make(chan struct{})}
	rt.streams.mu.Lock()
	if rt.streams.m == nil {
		rt.streams.m = map[string]*ownedStream{}
	}
	rt.streams.m[id] = s
	rt.streams.mu.Unlock()
	return &protocol.StreamSpec{}
}

func (rt *Runtime) stream(id string) *ownedStream {
	rt.streams.mu.Lock()
	defer rt.streams.mu.Unlock()
	return rt.streams.m[id]
}

// streamSkip is the number of items the owner holds of stream id: what
// the next attempt leaves out.
func (rt *Runtime) streamSkip(id string) int {
	s := rt.stream(id)
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received
}

// SubmitStream submits a streaming task; the stream's ID is the returned
// reference's (the task's own object, which completes when it ends).
func (rt *Runtime) SubmitStream(opts SubmitOptions, so StreamOptions, args []TaskArg) Ref {
	opts.NumReturns = 0
	opts.Stream = &so
	return rt.SubmitN(opts, args)[0]
}

// SubmitActorStream submits a streaming actor method call.
func (rt *Runtime) SubmitActorStream(actorID, class, method string, args []TaskArg, keep any, o ActorCallOptions, so StreamOptions) Ref {
	return rt.submitActorCall(actorID, class, method, args, keep, o, &so)
}

// endStream records how a stream's task ended: with the reply's item
// count, or with an error after the items received so far (items still
// on their way from a dead worker are refused).
func (rt *Runtime) endStream(id string, value []byte, err *errs.WireTaskError) {
	s := rt.stream(id)
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.ended, s.total = true, s.received
	if err != nil {
		s.err = err
	} else {
		var end protocol.StreamEnd
		if uerr := rpc.Unmarshal(value, &end); uerr != nil {
			s.err = errs.NewTaskError(id, id, errs.ErrTaskFailed, fmt.Errorf("a malformed end of stream: %v", uerr), "", false).ToWire()
		} else {
			// A retry that yielded fewer items than an earlier attempt
			// delivered still ends after those: they are the caller's.
			s.total = max(end.Items, s.received)
		}
	}
	s.changedLocked()
}

// streamMayHold reports whether id may be an item of an open stream on
// its way here: a worker stores a large item before it reports it, and
// its node asks this process (serveHoldsObjects) whether it holds the
// object as soon as it sees it.
func (rt *Runtime) streamMayHold(id string) bool {
	dot := strings.LastIndexByte(id, '.')
	if dot < 0 {
		return false
	}
	n, err := strconv.Atoi(id[dot+1:])
	if err != nil || n < 1 {
		return false
	}
	s := rt.stream(id[:dot])
	if s == nil {
		return false
	}
	i := n - 1
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.closed && i >= s.received && (!s.ended || i < s.total)
}

// StreamNext returns the stream's next item, waiting for it. The item
// comes with the stream's local count on it: the caller takes its own
// (AddLocal) and then drops the stream's (RemoveLocal). At the end it
// returns io.EOF, or the task's error once the items before it are
// taken.
func (rt *Runtime) StreamNext(ctx context.Context, id string) (Ref, error) {
	s := rt.stream(id)
	if s == nil {
		return Ref{}, fmt.Errorf("%w: stream %s is closed", errs.ErrBadCall, id)
	}
	defer rt.blockedWhile()()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.closed {
			return Ref{}, fmt.Errorf("%w: stream %s is closed", errs.ErrBadCall, id)
		}
		if r, ok := s.items[s.taken]; ok {
			delete(s.items, s.taken)
			s.taken++
			s.changedLocked() // a producer may wait for this
			return r, nil
		}
		if s.ended && s.taken >= s.total {
			if s.err != nil {
				return Ref{}, s.err.Err()
			}
			return Ref{}, io.EOF
		}
		if err := s.waitLocked(ctx, rt.closed); err != nil {
			return Ref{}, err
		}
	}
}

// waitLocked waits, with s.mu held, for the stream's next change, or ctx's
// end (ctxErr) or the runtime's (ErrShutdown); s.mu is held again on
// return.
func (s *ownedStream) waitLocked(ctx context.Context, closed <-chan struct{}) error {
	w := s.wake
	s.mu.Unlock()
	defer s.mu.Lock()
	select {
	case <-w:
		return nil
	case <-ctx.Done():
		return ctxErr(ctx)
	case <-closed:
		return errs.ErrShutdown
	}
}

// StreamState reports a stream's counts: items received, taken by the
// consumer, and whether the task ended.
func (rt *Runtime) StreamState(id string) (received, taken int, ended bool) {
	s := rt.stream(id)
	if s == nil {
		return 0, 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received, s.taken, s.ended
}

// WaitStreamState waits until cond holds for the stream's counts (or ctx
// ends): for tests and progress reports.
func (rt *Runtime) WaitStreamState(ctx context.Context, id string, cond func(received, taken int, ended bool) bool) error {
	s := rt.stream(id)
	if s == nil {
		return fmt.Errorf("%w: stream %s is closed", errs.ErrBadCall, id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for !cond(s.received, s.taken, s.ended) {
		if err := s.waitLocked(ctx, rt.closed); err != nil {
			return err
		}
	}
	return nil
}

// CloseStream ends the consumer's interest in a stream: the items it did
// not take are freed, a producer still running is told to stop at its
// next item, and its task or actor call is cancelled (not forced).
// Closing twice does nothing.
func (rt *Runtime) CloseStream(id string) {
	rt.streams.mu.Lock()
	s := rt.streams.m[id]
	delete(rt.streams.m, id)
	rt.streams.mu.Unlock()
	if s == nil {
		return
	}
	s.mu.Lock()
	s.closed = true
	items := s.items
	s.items = nil
	ended := s.ended
	s.changedLocked()
	s.mu.Unlock()
	for _, r := range items {
		rt.RemoveLocal(r)
	}
	if !ended {
		// The producer may be busy between items: its context is
		// cancelled too. Not on this goroutine: the collector's cleanups call
		// CloseStream, and Cancel may wait for the worker.
		select {
		case <-rt.closed:
			return
		default:
		}
		rt.wg.Add(1)
		go func() { defer rt.wg.Done(); _ = rt.Cancel(Ref{ID: id, Owner: rt.Addr()}, false, true) }()
	}
}

// serveStreamItem takes one item of a stream this process owns, and
// answers once the consumer is less than the backpressure behind.
func (rt *Runtime) serveStreamItem(ctx context.Context, req *protocol.StreamItemRequest) (*protocol.StreamItemReply, error) {
	if req.Rebuild {
		rs := rt.rebuildOf(req.TaskID)
		if rs == nil { // the rebuild gave up: this copy is nobody's
			return &protocol.StreamItemReply{Dup: true, Stop: true}, nil
		}
		rs.mu.Lock()
		defer rs.mu.Unlock()
		return rt.rebuildStreamItemLocked(rs, req), nil
	}
	s := rt.stream(req.TaskID)
	if s == nil {
		rt.dropStreamItem(req)
		return &protocol.StreamItemReply{Stop: true}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed || (s.ended && req.Index >= s.total):
		// Closed, or late from an attempt whose end is known.
		rt.dropStreamItem(req)
		return &protocol.StreamItemReply{Stop: true}, nil
	case req.Index < s.received || s.items[req.Index].ID != "":
		// An earlier attempt reported it: the consumer sees it once.
		return &protocol.StreamItemReply{Dup: true}, nil
	}
	r := rt.adoptStreamItem(req)
	rt.AddLocal(r) // the stream's hold, until the consumer takes it
	s.items[req.Index] = r
	if req.Loc != nil {
		s.stored = append(s.stored, req.Index)
	}
	for s.items[s.received].ID != "" {
		s.received++
	}
	s.changedLocked()
	for s.backpressure > 0 && s.received-s.taken >= s.backpressure && !s.closed && !s.ended {
		w := s.wake
		s.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done(): // the producer's connection is gone
			s.mu.Lock()
			return nil, ctx.Err()
		case <-rt.closed:
			s.mu.Lock()
			return nil, rpc.Errorf(protocol.CodeOwnerExiting, "rayo: the owner is shutting down")
		}
		s.mu.Lock()
	}
	return &protocol.StreamItemReply{Stop: s.closed}, nil
}

// adoptStreamItem makes an item an owned object, as a task's result.
func (rt *Runtime) adoptStreamItem(req *protocol.StreamItemRequest) Ref {
	id := protocol.StreamItemID(req.TaskID, req.Index)
	o := rt.store.create(id)
	if len(req.Nested) > 0 {
		rt.setContains(id, nestedRefs(req.Nested), true)
	}
	if req.Loc != nil {
		o.completeArg(protocol.Arg{ID: id, Loc: req.Loc})
	} else {
		o.complete(req.Value, nil)
	}
	return Ref{ID: id, Owner: rt.Addr()}
}

// dropStreamItem frees an item nobody will take: adopted and released at
// once, so that its stored copy is deleted and the borrows of the
// references it holds end.
func (rt *Runtime) dropStreamItem(req *protocol.StreamItemRequest) {
	id := protocol.StreamItemID(req.TaskID, req.Index)
	if rt.store.get(id) != nil {
		return // held already (taken from an earlier attempt): not this copy's to free
	}
	if req.Loc == nil && len(req.Nested) == 0 {
		return
	}
	rt.adoptStreamItem(req)
	rt.refs.mu.Lock()
	rt.entryLocked(Ref{ID: id, Owner: rt.Addr()})
	rt.maybeFreeLocked(id)
	rt.refs.mu.Unlock()
}

// streamCallDone ends the stream of a finished streaming actor call.
func (rt *Runtime) streamCallDone(c *actorCall) {
	if c.req.Stream == nil {
		return
	}
	select {
	case <-c.obj.done: // every path completes the call before callDone
	default:
		return
	}
	rt.endStream(c.req.TaskID, c.obj.value, c.obj.err)
}

// executeStream runs a streaming task in this worker; its result is the
// end of the stream (the item count).
func (rt *Runtime) executeStream(ctx context.Context, spec *protocol.TaskSpec, args [][]byte) (Encoded, *errs.TaskError) {
	name := spec.DisplayName()
	se, ok := rt.cfg.Executor.(StreamExecutor)
	if !ok {
		return Encoded{}, errs.NewTaskError(name, spec.TaskID, errs.ErrBadCall, errors.New("this worker cannot run streaming tasks"), "", false)
	}
	e := rt.newEmitter(ctx, spec.TaskID, name, spec.OwnerAddr, spec.Attempt, spec.Stream)
	terr := se.ExecuteStream(ctx, spec, args, e.emit)
	return e.end(ctx, name, spec.TaskID, terr)
}

// callActorStream runs a streaming actor method in this worker.
func (rt *Runtime) callActorStream(ctx context.Context, h *actorHost, call *protocol.ActorCallRequest, args [][]byte) (Encoded, *errs.TaskError) {
	name := h.spec.Class + "." + call.Method
	se, ok := rt.cfg.Executor.(StreamExecutor)
	if !ok {
		return Encoded{}, errs.NewTaskError(name, call.TaskID, errs.ErrBadCall, errors.New("this worker cannot run streaming calls"), "", false)
	}
	e := rt.newEmitter(ctx, call.TaskID, name, call.OwnerAddr, call.Incarnation, call.Stream)
	terr := se.CallActorStream(ctx, h.instance, h.spec.Class, call, args, e.emit)
	return e.end(ctx, name, call.TaskID, terr)
}

// emitter reports one stream's items from the worker, in order.
type emitter struct {
	rt      *Runtime
	ctx     context.Context
	taskID  string
	name    string
	owner   string
	attempt int
	skip    int
	next    int // the index of the next item
	stopped bool
	rebuild bool // a lineage re-run: items go to the objects waiting for them
}

func (rt *Runtime) newEmitter(ctx context.Context, taskID, name, owner string, attempt int, ss *protocol.StreamSpec) *emitter {
	e := &emitter{rt: rt, ctx: ctx, taskID: taskID, name: name, owner: owner, attempt: attempt}
	if ss != nil {
		e.skip = ss.Skip
		if ss.ItemBase != "" { // a rebuild: the items are the original task's
			e.taskID, e.rebuild = ss.ItemBase, true
		}
	}
	return e
}

// end turns the function's outcome into the task's result: the item
// count, or its error (ErrTaskCancelled when its context was cancelled).
func (e *emitter) end(ctx context.Context, name, id string, terr *errs.TaskError) (Encoded, *errs.TaskError) {
	if terr == nil && ctx.Err() != nil && !e.stopped {
		terr = errs.NewTaskError(name, id, errs.ErrTaskCancelled, ctx.Err(), "", false)
	}
	if terr != nil {
		return Encoded{}, terr
	}
	b, err := rpc.Marshal(&protocol.StreamEnd{Items: e.next})
	if err != nil {
		return Encoded{}, errs.NewTaskError(name, id, errs.ErrTaskFailed, err, "", false)
	}
	return Encoded{Data: b}, nil
}

// emit reports the next item and waits for the owner to take it. Items
// the owner holds from an earlier attempt are dropped unreported.
func (e *emitter) emit(v Encoded) error {
	if e.stopped {
		return ErrStreamStopped
	}
	i := e.next
	e.next++
	if i < e.skip {
		return nil
	}
	ctx, rt := e.ctx, e.rt
	if err := ctx.Err(); err != nil {
		return err
	}
	defer runtime.KeepAlive(v.Holds) // the owner is a borrower of what it holds once it answers
	rt.lendNested(ctx, e.owner, v.Nested)
	rt.FlushBorrows(ctx)
	id := protocol.StreamItemID(e.taskID, i)
	req := &protocol.StreamItemRequest{TaskID: e.taskID, Index: i, Attempt: e.attempt, Rebuild: e.rebuild, Nested: wireNested(v.Nested)}
	fresh := false
	if int64(len(v.Header)+len(v.Data)) <= rt.cfg.InlineLimit {
		req.Value = append(append(make([]byte, 0, len(v.Header)+len(v.Data)), v.Header...), v.Data...)
	} else {
		a, err := rt.storeValue(ctx, id, v.Header, v.Data, e.owner)
		switch {
		case err == nil:
			req.Loc, fresh = a.Loc, true
		case rpc.CodeOf(err) == protocol.CodeObjectExists:
			// An earlier attempt on this node stored it before it died:
			// that copy is the item.
			req.Loc = &protocol.ObjectLocation{NodeID: rt.nodeID, NodeAddr: rt.cfg.NodeAddr, Size: int64(len(v.Header) + len(v.Data)), Owner: e.owner}
		default:
			return fmt.Errorf("storing item %d: %w", i, err)
		}
	}
	c, err := rt.client(ctx, e.owner)
	if err != nil {
		return fmt.Errorf("%w: the stream's owner at %s is unreachable: %v", errs.ErrOwnerDied, e.owner, err)
	}
	var reply protocol.StreamItemReply
	if err := c.Call(ctx, protocol.OwnerStreamItem, req, &reply); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: reporting item %d to the stream's owner: %v", errs.ErrOwnerDied, i, err)
	}
	if reply.Dup && fresh {
		// The owner holds this index from an earlier attempt, stored on
		// another node: this copy is nobody's.
		rt.deleteStored(id, *req.Loc)
	}
	if reply.Stop {
		e.stopped = true
		return ErrStreamStopped
	}
	return nil
}
