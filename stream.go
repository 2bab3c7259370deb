package rayo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"reflect"
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rayo-dev/rayo/internal/core"
	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/pybridge"
)

// Streaming results: Ray's num_returns="streaming" and ObjectRefGenerator.
// A streaming function returns an iter.Seq2[T, error]; each value it
// yields becomes an object of its own, stored as soon as it is yielded
// (small ones in the caller's memory, large ones in the producing node's
// shared-memory store), and the caller takes their references one by one
// from an ObjectRefStream while the function still runs.

// streamDefs holds the registered streaming functions and methods: tasks
// by name, methods by class + "." + name.
var streamDefs = struct {
	sync.RWMutex
	tasks   map[string]*taskDef
	methods map[string]*taskDef
}{tasks: map[string]*taskDef{}, methods: map[string]*taskDef{}}

// StreamTask is a registered streaming function that yields values of
// type T (Ray's @ray.remote(num_returns="streaming") function).
type StreamTask[T any] struct {
	def  *taskDef
	opts callOptions
	err  error
}

// RegisterStream registers fn as a streaming remote function under name,
// a stable name that is the same in every process (call it at package
// level, as Register). fn's parameters may start with a context.Context;
// it returns an iter.Seq2[T, error], or (iter.Seq2[T, error], error) to
// fail before streaming. Each value it yields becomes an object; a
// yielded non-nil error ends the stream with that error after the items
// before it. When yield returns false (the stream was cancelled or its
// consumer closed it) the function must return.
//
// RegisterStream panics if fn's shape is wrong or the name is taken by
// another streaming function or a task.
func RegisterStream[T any](name string, fn any) *StreamTask[T] {
	if name == "" {
		panic("rayo: RegisterStream needs a name")
	}
	checkReservedName("streaming task", name)
	def, err := newFuncDef(fmt.Sprintf("RegisterStream[%v](%q)", reflect.TypeFor[T](), name), name, fn, nil, reflect.TypeFor[iter.Seq2[T, error]]())
	if err != nil {
		panic(err)
	}
	// registry stays held while streamDefs changes (lock order: registry,
	// then streamDefs), so that a Register of the same name cannot pass
	// its own check in between.
	registry.RLock()
	defer registry.RUnlock()
	_, dup := registry.tasks[name]
	streamDefs.Lock()
	defer streamDefs.Unlock()
	if _, dup2 := streamDefs.tasks[name]; dup || dup2 {
		panic(fmt.Sprintf("rayo: a task named %q is already registered", name))
	}
	streamDefs.tasks[name] = def
	return &StreamTask[T]{def: def, opts: defaultCallOptions()}
}

// Name is the streaming task's registered name (Ray's function name).
func (t *StreamTask[T]) Name() string {
	if t == nil || t.def == nil {
		return ""
	}
	return t.def.name
}

// Options returns a copy of the streaming task with call options applied:
// those of Task.Options, and StreamBackpressure. An invalid option makes
// every Remote of the copy fail with ErrInvalidOption.
func (t *StreamTask[T]) Options(opts ...Option) *StreamTask[T] {
	if t == nil || t.def == nil {
		return &StreamTask[T]{err: errZeroCall}
	}
	c := &StreamTask[T]{def: t.def, opts: t.opts.clone(), err: t.err}
	for _, o := range opts {
		if err := o(&c.opts); err != nil && c.err == nil {
			c.err = err
		}
	}
	if c.err == nil {
		c.err = misplacedForTask(c.opts.set, true)
	}
	return c
}

// StreamBackpressure makes a streaming task or method's producer pause
// while it is n items ahead of what the consumer has taken with Next
// (Ray's _generator_backpressure_num_objects). The default, 0, is no
// limit, as in Ray: a bound by default could stall a program that reads
// one stream to its end before another on a cluster whose CPUs the paused
// producers hold. Calls that do not stream refuse it (ErrInvalidOption).
func StreamBackpressure(n int) Option {
	return func(o *callOptions) error {
		if n < 0 {
			return fmt.Errorf("%w: StreamBackpressure must be ≥ 0, got %d", errs.ErrInvalidOption, n)
		}
		o.streamBackpressure = n
		o.set |= streamOnly | methodCall
		return nil
	}
}

// Remote starts the streaming task and returns its stream at once (Ray's
// f.remote() on a generator function, returning an ObjectRefGenerator). Its
// arguments follow Task.Remote's rules; a malformed call submits nothing,
// and the stream's Next returns ErrBadCall (or the cause). As a task, it
// is retried when its worker dies (MaxRetries): the function runs again
// from the start, and the items the caller already holds are dropped
// unreported, so that each index arrives once (Ray's behaviour; the
// function should yield the same items again). The items keep no
// lineage: one lost with its node is ErrObjectLost.
func (t *StreamTask[T]) Remote(args ...any) *ObjectRefStream[T] {
	rt, err := runtimeOrErr()
	if err != nil {
		return failedStream[T](err)
	}
	if t == nil || (t.def == nil && t.err == nil) {
		return failedStream[T](errZeroCall)
	}
	if t.err != nil {
		return failedStream[T](t.err)
	}
	cargs, err := t.def.encodeArgs(args)
	if err != nil {
		return failedStream[T](err)
	}
	so, err := t.opts.submitOptions(t.def.name)
	if err != nil {
		return failedStream[T](err)
	}
	ref := rt.SubmitStream(so, core.StreamOptions{Backpressure: t.opts.streamBackpressure}, cargs)
	runtime.KeepAlive(args) // their ObjectRefs are counted as submitted now
	return newStream[T](rt, ref)
}

// StreamMethod is a registered streaming method of actor type A that
// yields values of type T (Ray's num_returns="streaming" actor method).
type StreamMethod[A, T any] struct {
	actor *actorDef
	def   *taskDef
	call  *methodOptions // per-call options (Options); nil: the defaults
}

// RegisterStreamMethod registers a streaming method of an actor type
// under name. fn takes the receiver first, as RegisterMethod's, then an
// optional context.Context and the parameters, and returns an
// iter.Seq2[T, error] (or that and an error), as RegisterStream's.
func RegisterStreamMethod[T, A any](t *ActorType[A], name string, fn any) *StreamMethod[A, T] {
	if t == nil || name == "" {
		panic("rayo: RegisterStreamMethod needs an actor type and a method name")
	}
	d, err := newFuncDef(fmt.Sprintf("RegisterStreamMethod[%v](%s.%s)", reflect.TypeFor[T](), t.def.class, name), name, fn, t.def.typ,
		reflect.TypeFor[iter.Seq2[T, error]]())
	if err != nil {
		panic(err)
	}
	// As RegisterStream's: the actor's methods stay locked (lock order:
	// actorDef.mu, then streamDefs) against a RegisterMethod in between.
	t.def.mu.RLock()
	defer t.def.mu.RUnlock()
	_, dup := t.def.methods[name]
	key := t.def.class + "." + name
	streamDefs.Lock()
	defer streamDefs.Unlock()
	if _, dup2 := streamDefs.methods[key]; dup || dup2 {
		panic(fmt.Sprintf("rayo: actor %s already has a method %q", t.def.class, name))
	}
	streamDefs.methods[key] = d
	return &StreamMethod[A, T]{actor: t.def, def: d}
}

// Options returns a copy of the streaming method whose calls have these
// options: StreamBackpressure (Ray's
// method.options(_generator_backpressure_num_objects=n)) and those of
// Method.Options (Name, ConcurrencyGroup, MaxTaskRetries,
// RetryExceptions); any other option is an ErrInvalidOption at Remote.
func (m *StreamMethod[A, T]) Options(opts ...Option) *StreamMethod[A, T] {
	if m == nil {
		return &StreamMethod[A, T]{call: &methodOptions{err: errZeroCall}}
	}
	c := *m
	c.call = m.options().with(opts)
	return &c
}

func (m *StreamMethod[A, T]) options() *methodOptions {
	switch {
	case m.call != nil:
		return m.call
	case m.actor == nil || m.def == nil:
		return &methodOptions{err: errZeroCall}
	}
	return withMethodOptions(defaultMethodOptions(), nil)
}

// Remote calls the streaming method on the actor h refers to and returns
// its stream at once. As an actor call, it is resent after the actor's
// worker dies within MaxTaskRetries; the items the caller already holds
// are not sent again. A malformed call fails the stream with ErrBadCall.
func (m *StreamMethod[A, T]) Remote(h ActorHandle[A], args ...any) *ObjectRefStream[T] {
	rt, err := runtimeOrErr()
	if err != nil {
		return failedStream[T](err)
	}
	if m == nil {
		return failedStream[T](errZeroCall)
	}
	call := m.options()
	if call.err != nil {
		return failedStream[T](call.err)
	}
	if h.id == "" {
		return failedStream[T](fmt.Errorf("%w: the zero ActorHandle refers to no actor", errs.ErrBadCall))
	}
	cargs, err := m.def.encodeArgs(args)
	if err != nil {
		return failedStream[T](err)
	}
	co := call.core
	co.Counted = true // newStream's ref takes the count
	ref := rt.SubmitActorStream(h.id, m.actor.class, m.def.name, cargs, h.scope.tok, co,
		core.StreamOptions{Backpressure: call.opts.streamBackpressure})
	runtime.KeepAlive(args) // their ObjectRefs are counted as submitted now
	return newStream[T](rt, ref)
}

// ObjectRefStream is the stream of a streaming task or method call (Ray's
// ObjectRefGenerator): the references to its items, in the order they
// were yielded, each an ObjectRef[T] to Get, pass on or drop as any
// other. It is a Ref: Cancel(stream, force) cancels the task. A stream
// the program drops (or Closes) stops its producer and frees the items
// it did not take. Next and All are safe to call from several
// goroutines; each item goes to one of them.
type ObjectRefStream[T any] struct {
	task ObjectRef[struct{}] // the task's own object: Cancel's target
	err  error
	tok  *streamToken
}

// streamToken closes the stream in the runtime when the last copy of the
// ObjectRefStream is collected. It keeps the runtime that owns the stream:
// after Shutdown and a new Init, an old stream says ErrShutdown rather
// than looking itself up in the new runtime.
type streamToken struct {
	id string
	rt *core.Runtime
}

func newStream[T any](rt *core.Runtime, r core.Ref) *ObjectRefStream[T] {
	tok := &streamToken{id: r.ID, rt: rt}
	runtime.AddCleanup(tok, func(id string) { rt.CloseStream(id) }, r.ID)
	return &ObjectRefStream[T]{task: takeRef[struct{}](rt, r), tok: tok} // counted at submission
}

func failedStream[T any](err error) *ObjectRefStream[T] { return &ObjectRefStream[T]{err: err} }

// ID is the stream's ID (its task's, as Ray's ObjectRefGenerator's task
// ID), "" for a stream whose submission failed.
func (s *ObjectRefStream[T]) ID() string {
	if s == nil {
		return ""
	}
	return s.task.ID()
}

// String prints the stream for logs.
func (s *ObjectRefStream[T]) String() string {
	if err := s.check(); err != nil {
		return "ObjectRefStream(failed: " + err.Error() + ")"
	}
	return "ObjectRefStream(" + s.ID() + ")"
}

func (s *ObjectRefStream[T]) coreRef() (core.Ref, error) {
	if err := s.check(); err != nil {
		return core.Ref{}, err
	}
	return s.task.coreRef()
}

// check reports a stream that cannot be used: a failed submission, or a
// nil or zero ObjectRefStream.
func (s *ObjectRefStream[T]) check() error {
	switch {
	case s == nil || (s.err == nil && s.tok == nil):
		return fmt.Errorf("%w: a nil or zero ObjectRefStream refers to no stream", errs.ErrBadCall)
	case s.err != nil:
		return s.err
	}
	return nil
}

// Next waits for the next item and returns its reference (Ray's
// next(gen)). After the last
// item it returns io.EOF; a stream whose function failed returns the
// items yielded before the failure, then its *TaskError (matching
// ErrTaskFailed, or ErrTaskCancelled after Cancel, ErrWorkerCrashed when
// retries ran out). A closed stream returns ErrBadCall.
func (s *ObjectRefStream[T]) Next(ctx context.Context) (ObjectRef[T], error) {
	if err := s.check(); err != nil {
		return ObjectRef[T]{}, err
	}
	rt := s.tok.rt
	r, err := rt.StreamNext(ctx, s.tok.id)
	runtime.KeepAlive(s.tok) // not closed by the collector while it waits
	if err != nil {
		return ObjectRef[T]{}, err
	}
	return takeRef[T](rt, r), nil // the stream's own hold on the item becomes the caller's
}

// All iterates over the stream's items as Next returns them (Ray's
// "for ref in gen"), ending after
// the last; an error is yielded once (with a zero ObjectRef) and ends it.
// Breaking out of the loop closes the stream.
func (s *ObjectRefStream[T]) All(ctx context.Context) iter.Seq2[ObjectRef[T], error] {
	return func(yield func(ObjectRef[T], error) bool) {
		for {
			r, err := s.Next(ctx)
			if errors.Is(err, io.EOF) {
				return
			}
			if !yield(r, err) {
				s.Close()
				return
			}
			if err != nil {
				return
			}
		}
	}
}

// Close drops the stream, as Ray does when an ObjectRefGenerator is
// garbage collected: the items not taken yet are freed, and a
// producer still running is cancelled (a task's context; an actor
// method's yield returns false at its next item). References already
// taken stay valid. Closing again does nothing.
func (s *ObjectRefStream[T]) Close() {
	if s.check() != nil {
		return
	}
	s.tok.rt.CloseStream(s.tok.id)
}

// EncodeMsgpack refuses to encode the stream: it cannot be passed to
// another process (nor can Ray's ObjectRefGenerator); pass its items.
func (s *ObjectRefStream[T]) EncodeMsgpack(*msgpack.Encoder) error {
	return fmt.Errorf("%w: an ObjectRefStream cannot be passed to another process; pass its items' ObjectRefs", errs.ErrBadCall)
}

// ExecuteStream runs a streaming task in this worker.
func (executor) ExecuteStream(ctx context.Context, spec *protocol.TaskSpec, args [][]byte, emit func(core.Encoded) error) *errs.TaskError {
	if pybridge.IsPythonTask(spec.Name) {
		return python.ExecuteStream(ctx, spec, args, emit)
	}
	streamDefs.RLock()
	d := streamDefs.tasks[spec.Name]
	streamDefs.RUnlock()
	if d == nil {
		return errs.NewTaskError(spec.DisplayName(), spec.TaskID, errs.ErrBadCall, fmt.Errorf("no streaming task is registered as %q in this binary", spec.Name), "", false)
	}
	return runStream(ctx, d, reflect.Value{}, args, spec.DisplayName(), spec.TaskID, emit)
}

// CallActorStream runs a streaming method on an instance.
func (executor) CallActorStream(ctx context.Context, instance any, class string, call *protocol.ActorCallRequest, args [][]byte, emit func(core.Encoded) error) *errs.TaskError {
	if _, ok := pybridge.PythonClass(class); ok {
		return python.CallActorStream(ctx, instance, class, call, args, emit)
	}
	name := class + "." + call.Method
	streamDefs.RLock()
	d := streamDefs.methods[name]
	streamDefs.RUnlock()
	if d == nil {
		return errs.NewTaskError(name, call.TaskID, errs.ErrBadCall, fmt.Errorf("actor %s has no streaming method %q in this binary", class, call.Method), "", false)
	}
	recv, _ := instance.(reflect.Value)
	return runStream(ctx, d, recv, args, name, call.TaskID, emit)
}

// runStream calls a streaming function and ranges over the sequence it
// returns, emitting each value; a yielded error, a panic, or a failure to
// report an item ends it with a TaskError.
func runStream(ctx context.Context, d *taskDef, recv reflect.Value, args [][]byte, name, id string, emit func(core.Encoded) error) (terr *errs.TaskError) {
	seq, terr := invoke(ctx, d, recv, args, name, id)
	if terr != nil {
		return terr
	}
	if seq.IsNil() {
		return errs.NewTaskError(name, id, errs.ErrTaskFailed, errors.New("the function returned a nil iterator"), "", false)
	}
	var (
		mu      sync.Mutex // a function may yield from another goroutine; one at a time
		done    bool
		failure *errs.TaskError
	)
	yield := reflect.MakeFunc(seq.Type().In(0), func(in []reflect.Value) []reflect.Value {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return []reflect.Value{reflect.ValueOf(false)}
		}
		if e, _ := in[1].Interface().(error); e != nil {
			done, failure = true, errs.NewTaskError(name, id, errs.ErrTaskFailed, e, "", false)
			return []reflect.Value{reflect.ValueOf(false)}
		}
		enc, err := encodeValue(in[0].Interface())
		if err != nil {
			done, failure = true, errs.NewTaskError(name, id, errs.ErrTaskFailed, fmt.Errorf("encoding an item: %w", err), "", false)
			return []reflect.Value{reflect.ValueOf(false)}
		}
		if err := emit(enc); err != nil {
			done = true
			if ctx.Err() == nil && !errors.Is(err, core.ErrStreamStopped) {
				cause := errs.ErrTaskFailed
				if errors.Is(err, errs.ErrOwnerDied) {
					cause = errs.ErrOwnerDied
				}
				failure = errs.NewTaskError(name, id, cause, err, "", false)
			}
			return []reflect.Value{reflect.ValueOf(false)}
		}
		return []reflect.Value{reflect.ValueOf(true)}
	})
	defer func() {
		if r := recover(); r != nil {
			terr = errs.NewTaskError(name, id, errs.ErrTaskFailed, fmt.Errorf("panic: %v", r), string(debug.Stack()), true)
		}
	}()
	seq.Call([]reflect.Value{yield})
	mu.Lock()
	defer mu.Unlock()
	done = true
	return failure
}
