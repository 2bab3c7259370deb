package rayo

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/rayo-dev/rayo/internal/codec"
	"github.com/rayo-dev/rayo/internal/core"
	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/pybridge"
)

// actorDef is a registered actor type: its constructor and methods.
type actorDef struct {
	class   string
	typ     reflect.Type // *A
	ctor    *taskDef
	mu      sync.RWMutex
	methods map[string]*taskDef
	// callOpts are each method's call options from RegisterMethod.
	callOpts map[string]*methodOptions
}

var actorRegistry = struct {
	sync.RWMutex
	byClass map[string]*actorDef
	byType  map[reflect.Type]*actorDef
}{byClass: map[string]*actorDef{}, byType: map[reflect.Type]*actorDef{}}

// ActorType is a registered actor type whose instances are *A.
type ActorType[A any] struct {
	def  *actorDef
	opts callOptions
	err  error
}

// RegisterActor registers an actor type under class, a stable name that
// is the same in every process. ctor builds an instance: its parameters
// may start with a context.Context, and it returns (*A) or (*A, error).
// Register methods with RegisterMethod. Call both at package level.
//
// It panics on a malformed constructor, a taken class name, or a class
// beginning with ReservedPrefix outside rayo's own packages: all
// programming errors that show at start-up.
func RegisterActor[A any](class string, ctor any) *ActorType[A] {
	if class == "" {
		panic("rayo: RegisterActor needs a class name")
	}
	ptr := reflect.TypeFor[*A]()
	d, err := newFuncDef(fmt.Sprintf("RegisterActor[%v](%q)", reflect.TypeFor[A](), class), class, ctor, nil, ptr)
	if err != nil {
		panic(err)
	}
	checkReservedName("actor class", class)
	def := &actorDef{class: class, typ: ptr, ctor: d, methods: map[string]*taskDef{}, callOpts: map[string]*methodOptions{}}
	actorRegistry.Lock()
	defer actorRegistry.Unlock()
	if _, dup := actorRegistry.byClass[class]; dup {
		panic(fmt.Sprintf("rayo: an actor class named %q is already registered", class))
	}
	if _, dup := actorRegistry.byType[ptr]; dup {
		panic(fmt.Sprintf("rayo: the type %v is already registered as an actor", reflect.TypeFor[A]()))
	}
	actorRegistry.byClass[class] = def
	actorRegistry.byType[ptr] = def
	return &ActorType[A]{def: def, opts: defaultActorOptions()}
}

// Method is a registered method of actor type A whose result has type R.
type Method[A, R any] struct {
	actor *actorDef
	def   *taskDef
	call  *methodOptions // per-call options (actor_options.go)
}

// RegisterMethod registers a method of an actor type under name. fn takes
// the receiver first, so a method expression fits: (*Counter).Incr. After
// the receiver may come a context.Context, then the parameters; it
// returns (R) or (R, error). opts are the method's call options, as Ray's
// @ray.method(...): ConcurrencyGroup, Name, MaxTaskRetries,
// RetryExceptions (see Method.Options); any other panics.
func RegisterMethod[R, A any](t *ActorType[A], name string, fn any, opts ...Option) *Method[A, R] {
	if t == nil || name == "" {
		panic("rayo: RegisterMethod needs an actor type and a method name")
	}
	d, err := newFuncDef(fmt.Sprintf("RegisterMethod[%v](%s.%s)", reflect.TypeFor[R](), t.def.class, name), name, fn, t.def.typ, reflect.TypeFor[R]())
	if err != nil {
		panic(err)
	}
	call := withMethodOptions(defaultMethodOptions(), opts)
	if call.err != nil {
		panic(fmt.Sprintf("rayo: RegisterMethod(%s.%s): %v", t.def.class, name, call.err))
	}
	t.def.mu.Lock()
	defer t.def.mu.Unlock()
	streamDefs.RLock() // lock order: actorDef.mu, then streamDefs
	_, dupStream := streamDefs.methods[t.def.class+"."+name]
	streamDefs.RUnlock()
	if _, dup := t.def.methods[name]; dup || dupStream {
		panic(fmt.Sprintf("rayo: actor %s already has a method %q", t.def.class, name))
	}
	t.def.methods[name] = d
	t.def.callOpts[name] = call
	return &Method[A, R]{actor: t.def, def: d, call: call}
}

// Class is the actor type's registered name.
func (t *ActorType[A]) Class() string { return t.def.class }

// Options returns a copy of the actor type with creation options applied:
// NumCPUs, NumGPUs, Memory, Resources, Name, Namespace, Detached,
// GetIfExists, MaxRestarts, MaxTaskRetries, MaxConcurrency, Spread,
// NodeAffinity, EnvVars.
func (t *ActorType[A]) Options(opts ...Option) *ActorType[A] {
	c := &ActorType[A]{def: t.def, opts: t.opts.clone(), err: t.err}
	for _, o := range opts {
		if err := o(&c.opts); err != nil && c.err == nil {
			c.err = err
		}
	}
	if c.err == nil && c.opts.set&taskOnly != 0 {
		c.err = fmt.Errorf("%w: MaxRetries and RetryExceptions apply to tasks; actors take MaxRestarts and MaxTaskRetries", errs.ErrInvalidOption)
	}
	if c.err == nil && c.opts.set&callOnly != 0 {
		c.err = fmt.Errorf("%w: ConcurrencyGroup applies to actor calls; an actor's groups are set with ConcurrencyGroups", errs.ErrInvalidOption)
	}
	if c.err == nil && c.opts.set&streamOnly != 0 {
		c.err = fmt.Errorf("%w: StreamBackpressure applies to streaming calls (StreamMethod.Options), not to an actor's creation", errs.ErrInvalidOption)
	}
	return c
}

// New creates an actor and returns its handle once the head has
// registered it; the constructor runs on the actor's worker meanwhile.
// Reference arguments are resolved first. A malformed call returns
// ErrBadCall, a taken name ErrActorNameTaken. If the constructor fails,
// every call on the handle fails with an *ActorDiedError whose cause is
// ErrConstructorFailed and which unwraps to the constructor's error.
func (t *ActorType[A]) New(ctx context.Context, args ...any) (ActorHandle[A], error) {
	rt, err := runtimeOrErr()
	if err != nil {
		return ActorHandle[A]{}, err
	}
	if t.err != nil {
		return ActorHandle[A]{}, t.err
	}
	if t.opts.getIfExists && t.opts.name == "" {
		return ActorHandle[A]{}, fmt.Errorf("%w: GetIfExists needs a Name", errs.ErrInvalidOption)
	}
	cargs, err := t.def.ctor.encodeArgs(args)
	if err != nil {
		return ActorHandle[A]{}, err
	}
	res, strat, err := t.opts.placement()
	if err != nil {
		return ActorHandle[A]{}, err
	}
	ns := t.opts.namespace
	if ns == "" {
		ns = currentNamespace()
	}
	o := core.ActorOptions{Class: t.def.class, Name: t.opts.name, Namespace: ns, Detached: t.opts.detached,
		GetIfExists: t.opts.getIfExists, Resources: res, Strategy: strat, MaxRestarts: t.opts.maxRestarts,
		MaxTaskRetries: t.opts.maxTaskRetries, MaxConcurrency: t.opts.maxConcurrency, Env: t.opts.callEnv(),
		ConcurrencyGroups: t.opts.groups}
	id, class, err := rt.CreateActor(ctx, o, cargs)
	runtime.KeepAlive(args) // their ObjectRefs are counted as submitted now
	if err != nil {
		return ActorHandle[A]{}, err
	}
	if class != t.def.class {
		return ActorHandle[A]{}, fmt.Errorf("%w: the actor named %q is a %s, not a %s", errs.ErrBadCall, t.opts.name, class, t.def.class)
	}
	h := ActorHandle[A]{id: id, class: class}
	if r, ok := rt.OwnedActorHandle(id); ok {
		h.scope = newRef[struct{}](rt, r)
	}
	return h, nil
}

// ActorHandle refers to an actor of type A. Copy it, store it in values,
// pass it to tasks and actors: calls through any copy reach the actor,
// each caller's calls in the order it made them.
type ActorHandle[A any] struct {
	id    string
	class string
	// scope refers to the object that stands for the actor's handles, owned
	// by the actor's creator: counted like any ObjectRef (in this process,
	// in the tasks and values it is passed in, in the processes that
	// borrow it), it keeps a non-detached actor alive while any handle
	// exists. It is zero in handles that do not count: a detached actor's,
	// and GetActor's, as in Ray.
	scope ObjectRef[struct{}]
}

// ID is the actor's ID.
func (h ActorHandle[A]) ID() string { return h.id }

func (h ActorHandle[A]) actorID() string { return h.id }

// String prints the handle for logs.
func (h ActorHandle[A]) String() string { return "ActorHandle(" + h.class + ", " + h.id + ")" }

// Ready waits until the actor is alive (its constructor returned). For a
// dead actor it returns the *ActorDiedError.
func (h ActorHandle[A]) Ready(ctx context.Context) error {
	rt, err := runtimeOrErr()
	if err != nil {
		return err
	}
	if h.id == "" {
		return fmt.Errorf("%w: the zero ActorHandle refers to no actor", errs.ErrBadCall)
	}
	return rt.WaitActorReady(ctx, h.id)
}

// EncodeMsgpack encodes the handle as msgpack extension 2: [actor ID,
// class], followed by the ID and owner of its scope object when it has
// one.
func (h ActorHandle[A]) EncodeMsgpack(enc *msgpack.Encoder) error {
	if h.id == "" {
		return enc.EncodeNil() // the zero handle, in an unset field
	}
	parts := []string{h.id, h.class}
	if s := h.scope.ref; s.ID != "" {
		// The receiver borrows it: the actor lives while it holds it.
		codec.Note(enc, s)
		parts = append(parts, s.ID, s.Owner)
	}
	payload, err := msgpack.Marshal(parts)
	if err != nil {
		return err
	}
	if err := enc.EncodeExtHeader(actorExtID, len(payload)); err != nil {
		return err
	}
	_, err = enc.Writer().Write(payload)
	return err
}

// DecodeMsgpack decodes a handle encoded by EncodeMsgpack.
func (h *ActorHandle[A]) DecodeMsgpack(dec *msgpack.Decoder) error {
	if c, err := dec.PeekCode(); err == nil && c == msgpcode.Nil {
		*h = ActorHandle[A]{}
		return dec.DecodeNil()
	}
	id, n, err := dec.DecodeExtHeader()
	if err != nil {
		return err
	}
	if id != actorExtID {
		return fmt.Errorf("rayo: msgpack extension %d is not an actor handle", id)
	}
	payload := make([]byte, n)
	if err := dec.ReadFull(payload); err != nil {
		return err
	}
	var parts []string
	if err := msgpack.Unmarshal(payload, &parts); err != nil || (len(parts) != 2 && len(parts) != 4) || parts[0] == "" {
		return errors.New("rayo: malformed actor handle")
	}
	*h = ActorHandle[A]{id: parts[0], class: parts[1]}
	if len(parts) == 4 {
		if rt, err := runtimeOrErr(); err == nil {
			h.scope = newRef[struct{}](rt, core.Ref{ID: parts[2], Owner: parts[3]})
		}
	}
	return nil
}

const actorExtID int8 = 2

// Remote calls the method on the actor h refers to and returns the
// reference to its result at once. Arguments follow the task rules. A
// malformed call fails the returned reference with ErrBadCall.
func (m *Method[A, R]) Remote(h ActorHandle[A], args ...any) ObjectRef[R] {
	rt, err := runtimeOrErr()
	if err != nil {
		return failedRef[R](err)
	}
	if m == nil {
		return failedRef[R](errZeroCall)
	}
	if h.id == "" {
		return failedRef[R](fmt.Errorf("%w: the zero ActorHandle refers to no actor", errs.ErrBadCall))
	}
	call := m.options()
	if call.err != nil {
		return failedRef[R](call.err)
	}
	cargs, err := m.def.encodeArgs(args)
	if err != nil {
		return failedRef[R](err)
	}
	co := call.core
	co.Counted = true // the ref below takes the count (SubmitOptions.Counted)
	ref := rt.SubmitActorCallWith(h.id, m.actor.class, m.def.name, cargs, h.scope.tok, co)
	runtime.KeepAlive(args) // their ObjectRefs are counted as submitted now
	return takeRef[R](rt, ref)
}

// GetActor returns a handle to the named actor of type A, in the
// namespace given with the Namespace option (default: this job's).
// ErrActorNotFound if there is none.
func GetActor[A any](ctx context.Context, name string, opts ...Option) (ActorHandle[A], error) {
	rt, err := runtimeOrErr()
	if err != nil {
		return ActorHandle[A]{}, err
	}
	o := defaultActorOptions()
	for _, f := range opts {
		if err := f(&o); err != nil {
			return ActorHandle[A]{}, err
		}
	}
	ns := o.namespace
	if ns == "" {
		ns = currentNamespace()
	}
	actorRegistry.RLock()
	def := actorRegistry.byType[reflect.TypeFor[*A]()]
	actorRegistry.RUnlock()
	if def == nil {
		return ActorHandle[A]{}, fmt.Errorf("%w: %v is not a registered actor type", errs.ErrBadCall, reflect.TypeFor[A]())
	}
	info, err := rt.GetActor(ctx, "", name, ns)
	if err != nil {
		return ActorHandle[A]{}, err
	}
	if info.Class != def.class {
		return ActorHandle[A]{}, fmt.Errorf("%w: the actor named %q is a %s, not a %s", errs.ErrBadCall, name, info.Class, def.class)
	}
	h := ActorHandle[A]{id: info.ActorID, class: info.Class}
	if r, ok := rt.OwnedActorHandle(info.ActorID); ok {
		// In the actor's creator, as Ray's get_actor in the owner: the
		// handle counts like the one New returned.
		h.scope = newRef[struct{}](rt, r)
	}
	return h, nil
}

// AnyActor is any ActorHandle, whatever its type: for Kill.
type AnyActor interface {
	ID() string
	actorID() string
}

// Kill ends an actor at once, in-flight calls failing with an
// *ActorDiedError (cause ErrActorKilled). With noRestart false, an actor
// with restarts left is restarted instead, as a crash would. ctx bounds
// the wait for the head (Ray's ray.kill(actor, no_restart=...)).
func Kill(ctx context.Context, h AnyActor, noRestart bool) error {
	rt, err := runtimeOrErr()
	if err != nil {
		return err
	}
	if h == nil || h.actorID() == "" {
		return fmt.Errorf("%w: Kill needs an actor handle", errs.ErrBadCall)
	}
	return rt.KillActor(ctx, h.actorID(), noRestart, "")
}

// ExitActor, called inside an actor's method, ends the actor gracefully
// once the method returns: the call's result is delivered, the actor is
// not restarted, and later calls fail with an *ActorDiedError whose cause
// is ErrActorExited.
func ExitActor(ctx context.Context) error {
	rt, err := runtimeOrErr()
	if err != nil {
		return err
	}
	return rt.ExitActor(ctx)
}

// NewActor and CallActor make executor serve actors.
func (executor) NewActor(ctx context.Context, spec *protocol.ActorSpec, args [][]byte) (any, *errs.TaskError) {
	if _, ok := pybridge.PythonClass(spec.Class); ok {
		return python.NewActor(ctx, spec, args)
	}
	actorRegistry.RLock()
	def := actorRegistry.byClass[spec.Class]
	actorRegistry.RUnlock()
	name := spec.Class + ".__init__"
	if def == nil {
		return nil, errs.NewTaskError(name, spec.ActorID, errs.ErrBadCall, fmt.Errorf("no actor class %q is registered in this binary", spec.Class), "", false)
	}
	v, terr := invoke(ctx, def.ctor, reflect.Value{}, args, name, spec.ActorID)
	if terr != nil {
		return nil, terr
	}
	if v.IsNil() {
		return nil, errs.NewTaskError(name, spec.ActorID, errs.ErrTaskFailed, errors.New("the constructor returned a nil instance"), "", false)
	}
	return v, nil
}

// PipelinesActorCalls: a Python actor's serial calls are pipelined to
// its Python worker (core.ActorPipeliner); a Go actor's run one by one.
func (executor) PipelinesActorCalls(class string) bool { return python.PipelinesActorCalls(class) }

func (executor) CallActor(ctx context.Context, instance any, class string, call *protocol.ActorCallRequest, args [][]byte) (core.Encoded, *errs.TaskError) {
	if _, ok := pybridge.PythonClass(class); ok {
		return python.CallActor(ctx, instance, class, call, args)
	}
	actorRegistry.RLock()
	def := actorRegistry.byClass[class]
	actorRegistry.RUnlock()
	name := class + "." + call.Method
	if call.Name != "" {
		name = call.Name // Method.Options(Name(...))
	}
	if def == nil {
		return core.Encoded{}, errs.NewTaskError(name, call.TaskID, errs.ErrBadCall, fmt.Errorf("no actor class %q in this binary", class), "", false)
	}
	def.mu.RLock()
	m := def.methods[call.Method]
	def.mu.RUnlock()
	if m == nil {
		return core.Encoded{}, errs.NewTaskError(name, call.TaskID, errs.ErrBadCall, fmt.Errorf("actor %s has no method %q", class, call.Method), "", false)
	}
	recv, _ := instance.(reflect.Value)
	out, terr := invoke(ctx, m, recv, args, name, call.TaskID)
	if terr != nil {
		return core.Encoded{}, terr
	}
	return encodeResult(out, name, call.TaskID)
}
