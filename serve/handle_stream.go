package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"reflect"
	"runtime"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/serve/internal/router"
)

// Streaming through handles (Ray's handle.options(stream=True) and its
// DeploymentResponseGenerator): a deployment method that returns an
// iter.Seq2[T, error] runs on a replica through rayo's streaming actor
// method "callStream"; each item it yields travels as its own msgpack
// object while the method still runs.

// StreamWindow is how many items a streaming method may run ahead of its
// consumer's Next before its yield blocks: a slow consumer pauses the
// producer instead of piling items up in memory, and a window of a few
// items keeps a fast one from waiting a round trip per item.
const StreamWindow = 8

var replicaCallStream = rayo.RegisterStreamMethod[msgpack.RawMessage](replicaType, "callStream", (*replica).callStream).
	Options(rayo.StreamBackpressure(StreamWindow))

// callStream runs a streaming method by name and yields its items
// encoded as msgpack. A panic or an error the method yields ends the
// stream with that error; the replica lives on.
func (r *replica) callStream(ctx context.Context, method, modelID string, args callArgs) (iter.Seq2[msgpack.RawMessage, error], error) {
	md, in, err := r.prepare(withModelID(ctx, modelID), method, args, true)
	if err != nil {
		return nil, err
	}
	return func(yield func(msgpack.RawMessage, error) bool) {
		start := r.begin()
		err := r.runStream(md, in, yield)
		r.end(start, err != nil)
		if err != nil {
			yield(nil, err)
		}
	}, nil
}

// runStream calls md and ranges over the sequence it returns, passing
// each item on encoded; it returns the error that ends the stream early.
func (r *replica) runStream(md *methodDef, in []reflect.Value, yield func(msgpack.RawMessage, error) bool) (err error) {
	// Not callGuarded: the method's iterator runs (and may panic) after
	// the method returned, while it is ranged over here.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("serve: panic: %v", p)
		}
	}()
	out := md.fn.Call(in)
	if err := md.failed(out); err != nil {
		return err
	}
	if out[0].IsNil() {
		return fmt.Errorf("serve: %s's streaming method returned a nil iterator", r.def.name)
	}
	for v, e := range out[0].Seq2() {
		if !e.IsNil() {
			return e.Interface().(error)
		}
		b, err := msgpack.Marshal(v.Interface())
		if err != nil {
			return fmt.Errorf("serve: encoding an item: %w", err)
		}
		if !yield(b, nil) {
			return nil // the consumer closed the stream
		}
	}
	return nil
}

// StreamResponse is a streaming call's items, in the order the method
// yields them (Ray's DeploymentResponseGenerator). It holds a slot on its
// replica until the stream ends (Next returns io.EOF or an error) or is
// closed. Close it when you stop reading early: that stops the method
// (its ctx is cancelled, its yield returns false) and frees the slot at
// once; a StreamResponse dropped unclosed does the same only when the
// garbage collector finds it. Cancelling the ctx given to Stream closes
// it too.
type StreamResponse struct {
	c   *streamCall
	err error
}

// streamCall is a StreamResponse's running call: apart from it, so that
// the cleanup and ctx's AfterFunc, which hold it, do not keep the
// StreamResponse reachable.
type streamCall struct {
	ctx  context.Context // Stream's
	s    *rayo.ObjectRefStream[msgpack.RawMessage]
	t    *router.Ticket
	h    DeploymentHandle
	stop func() bool // unregisters the AfterFunc of Stream's ctx

	// pending is the item taken from the stream whose Get failed on the
	// ctx of Next alone: the next Next delivers it (the stream has no
	// way to give it back). mu guards it against close, which may run
	// from Close or the collector.
	mu      sync.Mutex
	pending *rayo.ObjectRef[msgpack.RawMessage]
	closed  bool
}

// release stops the producer and frees the slot; it may run more than
// once.
func (c *streamCall) release() {
	c.s.Close()
	c.t.Done()
}

func (c *streamCall) close() {
	c.stop()
	c.release()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.pending != nil {
		c.pending.Release()
		c.pending = nil
	}
}

// take returns the item kept pending, if any, and forgets it.
func (c *streamCall) take() *rayo.ObjectRef[msgpack.RawMessage] {
	c.mu.Lock()
	defer c.mu.Unlock()
	ref := c.pending
	c.pending = nil
	return ref
}

// keep makes ref pending, or releases it if the stream was closed.
func (c *streamCall) keep(ref *rayo.ObjectRef[msgpack.RawMessage]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		ref.Release()
		return
	}
	c.pending = ref
}

// Stream calls a streaming method (one that returns iter.Seq2[T, error])
// on a replica picked as Call picks, with args encoded as msgpack, and
// returns at once; Next takes the items as they are produced. The method
// runs at most StreamWindow items ahead of Next. A method that does not
// stream is an ErrNoMethod: use Call.
func (h DeploymentHandle) Stream(ctx context.Context, method string, args ...any) *StreamResponse {
	raw, t, x, err := h.start(ctx, method, args, true)
	if err != nil {
		return &StreamResponse{err: err}
	}
	c := &streamCall{ctx: ctx, s: replicaCallStream.Remote(x.Actor, method, h.ModelID, raw), t: t, h: h}
	c.stop = context.AfterFunc(ctx, c.release)
	s := &StreamResponse{c: c}
	runtime.AddCleanup(s, (*streamCall).close, c)
	return s
}

// Next waits for the next item and decodes it into out (a pointer; nil
// to drop it). After the last item it returns io.EOF; a method that
// failed (an error it yielded, a panic, its replica died) returns the
// items before the failure, then the error. Either ends the stream and
// frees its slot, and Next returns the same again; an error of Next's
// ctx alone does not end it, and the item it was getting comes with the
// next Next. Next is for one goroutine at a time.
func (s *StreamResponse) Next(ctx context.Context, out any) error {
	if s == nil || (s.err == nil && s.c == nil) {
		return fmt.Errorf("%w: a nil or zero StreamResponse", ErrInvalidConfig)
	}
	if s.err != nil {
		return s.err
	}
	raw, err := s.next(ctx)
	if err != nil {
		if s.endedOnNext(ctx) {
			return err
		}
		if e := s.c.ctx.Err(); e != nil {
			err = e // Stream's ctx ended, which closed the stream
		}
		s.c.h.replicaDied(ctx, err, s.c.t.ReplicaID())
		s.err = err
		s.c.close()
		return err
	}
	if out == nil {
		return nil
	}
	return msgpack.Unmarshal(raw, out)
}

// endedOnNext reports that Next's ctx ended but Stream's did not: the
// stream stays open, and an item taken is kept for the next Next.
func (s *StreamResponse) endedOnNext(ctx context.Context) bool {
	return ctx.Err() != nil && s.c.ctx.Err() == nil
}

func (s *StreamResponse) next(ctx context.Context) (msgpack.RawMessage, error) {
	ref := s.c.take()
	if ref == nil {
		r, err := s.c.s.Next(ctx)
		if err != nil {
			return nil, err
		}
		ref = &r
	}
	raw, err := ref.Get(ctx)
	if err != nil && s.endedOnNext(ctx) {
		s.c.keep(ref)
		return nil, err
	}
	ref.Release()
	return raw, err
}

// Close stops the method if it still runs and frees its replica slot.
// Closing again, or after the end, does nothing.
func (s *StreamResponse) Close() {
	if s != nil && s.c != nil {
		s.c.close()
	}
}

// Items iterates over a StreamResponse's items decoded as R (the typed
// Next, as Result is the typed Response.Result), ending after the last;
// an error is yielded once (with a zero R) and ends it. The response is
// closed when the loop ends, by a break too.
func Items[R any](ctx context.Context, s *StreamResponse) iter.Seq2[R, error] {
	return func(yield func(R, error) bool) {
		defer s.Close()
		for {
			var v R
			err := s.Next(ctx, &v)
			if errors.Is(err, io.EOF) || !yield(v, err) || err != nil {
				return
			}
		}
	}
}
