package rayo

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/rayo-dev/rayo/internal/codec"
	"github.com/rayo-dev/rayo/internal/core"
	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/pybridge"
)

var (
	ctxType = reflect.TypeFor[context.Context]()
	errType = reflect.TypeFor[error]()
)

// taskDef is a registered function.
type taskDef struct {
	name   string
	fn     reflect.Value
	in     []reflect.Type // parameters after the optional context
	hasCtx bool
	hasErr bool
	// variadic: the last parameter is ...T; each argument from there on
	// is a T (and may be an ObjectRef[T], resolved like any argument).
	variadic bool
	// err, in a stand-in for a name this binary lacks (a decoded *Task or
	// *Method, travel.go), fails every call.
	err error
}

// param returns the type of argument i.
func (d *taskDef) param(i int) reflect.Type {
	if d.variadic && i >= len(d.in)-1 {
		return d.in[len(d.in)-1].Elem()
	}
	return d.in[i]
}

// checkArity reports a wrong number of arguments.
func (d *taskDef) checkArity(n int) error {
	switch {
	case d.variadic && n < len(d.in)-1:
		return fmt.Errorf("takes at least %d arguments, got %d", len(d.in)-1, n)
	case !d.variadic && n != len(d.in):
		return fmt.Errorf("takes %d arguments, got %d", len(d.in), n)
	}
	return nil
}

var registry = struct {
	sync.RWMutex
	tasks map[string]*taskDef
}{tasks: map[string]*taskDef{}}

// Task is a registered remote function whose result has type R.
type Task[R any] struct {
	def  *taskDef
	opts callOptions
	err  error
}

// Register registers fn as a remote function under name, a stable name
// that is the same in every process. fn's parameters may start with a
// context.Context; its results are (R) or (R, error). fn may be variadic
// (func(xs ...T)): Remote then takes any number of trailing T arguments,
// each a value or an ObjectRef[T]. Call Register at
// package level (in a var declaration or init), so that workers, which run
// the same binary, have the same registrations.
//
// Register panics if fn's shape is wrong or name is taken, or if name
// begins with ReservedPrefix outside rayo's own packages: all programming
// errors that show at start-up.
func Register[R any](name string, fn any) *Task[R] {
	def, err := newTaskDef(name, fn, reflect.TypeFor[R]())
	if err != nil {
		panic(err)
	}
	checkReservedName("task", name)
	registry.Lock()
	defer registry.Unlock()
	streamDefs.RLock() // lock order: registry, then streamDefs
	_, dupStream := streamDefs.tasks[name]
	streamDefs.RUnlock()
	if _, dup := registry.tasks[name]; dup || dupStream {
		panic(fmt.Sprintf("rayo: a task named %q is already registered", name))
	}
	registry.tasks[name] = def
	return &Task[R]{def: def, opts: defaultCallOptions()}
}

func newTaskDef(name string, fn any, want reflect.Type) (*taskDef, error) {
	if name == "" {
		return nil, errors.New("rayo: Register needs a name")
	}
	return newFuncDef(fmt.Sprintf("Register[%v](%q)", want, name), name, fn, nil, want)
}

// newFuncDef checks fn's shape: an optional receiver of type recv, an
// optional context.Context, the parameters, and results (want) or
// (want, error).
func newFuncDef(label, name string, fn any, recv, want reflect.Type) (*taskDef, error) {
	v := reflect.ValueOf(fn)
	if !v.IsValid() || v.Kind() != reflect.Func || v.IsNil() {
		return nil, fmt.Errorf("rayo: %s: %T is not a function", label, fn)
	}
	t := v.Type()
	def := &taskDef{name: name, fn: v, variadic: t.IsVariadic()}
	first := 0
	if recv != nil {
		if t.NumIn() == 0 || t.In(0) != recv {
			return nil, fmt.Errorf("rayo: %s: the first parameter must be the receiver %v (use a method expression such as (*T).Method)", label, recv)
		}
		first = 1
	}
	for i := first; i < t.NumIn(); i++ {
		p := t.In(i)
		if i == first && p == ctxType {
			def.hasCtx = true
			continue
		}
		def.in = append(def.in, p)
	}
	switch {
	case t.NumOut() == 1 && t.Out(0) == want:
	case t.NumOut() == 2 && t.Out(0) == want && t.Out(1) == errType:
		def.hasErr = true
	default:
		return nil, fmt.Errorf("rayo: %s: the function must return (%v) or (%v, error), not %v", label, want, want, t)
	}
	return def, nil
}

// Name is the task's registered name ("" for the zero Task).
func (t *Task[R]) Name() string {
	if t == nil || t.def == nil {
		return ""
	}
	return t.def.name
}

// Options returns a copy of the task with call options applied. An
// invalid option makes every Remote of the copy fail with ErrInvalidOption.
func (t *Task[R]) Options(opts ...Option) *Task[R] {
	if t == nil || t.def == nil {
		return &Task[R]{err: errZeroCall}
	}
	c := &Task[R]{def: t.def, opts: t.opts.clone(), err: t.err}
	for _, o := range opts {
		if err := o(&c.opts); err != nil && c.err == nil {
			c.err = err
		}
	}
	if c.err == nil {
		c.err = misplacedForTask(c.opts.set, false)
	}
	return c
}

// refArg is implemented by ObjectRef[T]: a top-level argument that is
// resolved to its value before the call.
type refArg interface {
	coreRef() (core.Ref, error)
	elemType() reflect.Type
}

// Remote submits a call and returns the reference to its result at once.
// Each argument is a value of the parameter's type or an ObjectRef of it.
// A malformed call (wrong arity or types, an unencodable value, bad
// options, no Init) submits nothing: the returned reference fails with
// ErrBadCall (or the cause) at Get.
func (t *Task[R]) Remote(args ...any) ObjectRef[R] {
	rt, err := runtimeOrErr()
	if err != nil {
		return failedRef[R](err)
	}
	if t == nil || (t.def == nil && t.err == nil) {
		return failedRef[R](errZeroCall)
	}
	if t.err != nil {
		return failedRef[R](t.err)
	}
	cargs, err := t.def.encodeArgs(args)
	if err != nil {
		return failedRef[R](err)
	}
	so, err := t.opts.submitOptions(t.def.name)
	if err != nil {
		return failedRef[R](err)
	}
	ref := rt.Submit(so, cargs)
	runtime.KeepAlive(args) // their ObjectRefs are counted as submitted now
	return takeRef[R](rt, ref)
}

// RemoteN runs t, whose function returns a slice of exactly n elements,
// and returns one reference per element (Ray's num_returns): each element
// is an object of its own, which can be passed on, waited for, and freed
// on its own. A function that returns another number of elements fails
// every reference with ErrTaskFailed. Options apply as to Remote
// (t.Options(...)); the results keep no lineage: a result lost with its
// node is ErrObjectLost.
func RemoteN[E any](t *Task[[]E], n int, args ...any) []ObjectRef[E] {
	fail := func(err error) []ObjectRef[E] {
		out := make([]ObjectRef[E], max(n, 1))
		for i := range out {
			out[i] = failedRef[E](err)
		}
		return out
	}
	if n < 1 {
		return fail(fmt.Errorf("%w: RemoteN: n = %d, want at least 1", errs.ErrInvalidOption, n))
	}
	rt, err := runtimeOrErr()
	if err != nil {
		return fail(err)
	}
	if t == nil || (t.def == nil && t.err == nil) {
		return fail(errZeroCall)
	}
	if t.err != nil {
		return fail(t.err)
	}
	cargs, err := t.def.encodeArgs(args)
	if err != nil {
		return fail(err)
	}
	so, err := t.opts.submitOptions(t.def.name)
	if err != nil {
		return fail(err)
	}
	so.NumReturns = n
	refs := rt.SubmitN(so, cargs)
	runtime.KeepAlive(args) // their ObjectRefs are counted as submitted now
	out := make([]ObjectRef[E], len(refs))
	for i, r := range refs {
		out[i] = takeRef[E](rt, r)
	}
	return out
}

func badCall(name string, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", errs.ErrBadCall, name, fmt.Sprintf(format, args...))
}

func (d *taskDef) encodeArgs(args []any) ([]core.TaskArg, error) {
	if d.err != nil {
		return nil, d.err
	}
	if err := d.checkArity(len(args)); err != nil {
		return nil, badCall(d.name, "%v", err)
	}
	out := make([]core.TaskArg, len(args))
	for i, a := range args {
		p := d.param(i)
		if ra, ok := a.(refArg); ok && !reflect.TypeOf(a).AssignableTo(p) {
			if et := ra.elemType(); !et.AssignableTo(p) {
				return nil, badCall(d.name, "argument %d: an ObjectRef[%v] cannot stand for a %v", i, et, p)
			}
			r, err := ra.coreRef()
			if err != nil {
				return nil, fmt.Errorf("argument %d: %w", i, err)
			}
			out[i] = core.TaskArg{Ref: &r}
			continue
		}
		if a == nil {
			switch p.Kind() {
			case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map:
			default:
				return nil, badCall(d.name, "argument %d: nil is not a %v", i, p)
			}
		} else if at := reflect.TypeOf(a); !at.AssignableTo(p) {
			return nil, badCall(d.name, "argument %d: a %v is not a %v", i, at, p)
		}
		b, nested, err := encodeArgValue(a)
		if err != nil {
			return nil, badCall(d.name, "argument %d: %v", i, err)
		}
		out[i] = core.TaskArg{Value: b, Nested: coreRefs(nested)}
	}
	return out, nil
}

// encodeArgValue encodes one argument's value, and lists the references
// it holds.
func encodeArgValue(a any) ([]byte, []any, error) {
	if _, _, raw := codec.RawView(a); raw {
		b, err := codec.MarshalRaw(a) // a copy: the caller may change its slice after Remote
		return b, nil, err
	}
	return codec.MarshalCollect(a)
}

// executor runs tasks and actors in this worker, from the registry; a
// Python job's tasks go to the worker's Python child.
type executor struct{}

// python runs Python tasks (internal/pybridge); its child starts with
// the first one.
var python = pybridge.NewExecutor(nil)

func init() { pybridge.SetRuntime(runtimeOrErr) }

func (executor) Execute(ctx context.Context, spec *protocol.TaskSpec, args [][]byte) (core.Encoded, *errs.TaskError) {
	if pybridge.IsPythonTask(spec.Name) {
		return python.Execute(ctx, spec, args)
	}
	out, terr := invokeTask(ctx, spec, args)
	if terr != nil {
		return core.Encoded{}, terr
	}
	return encodeResult(out, spec.DisplayName(), spec.TaskID)
}

// invokeTask finds the function registered under the task's name and
// calls it.
func invokeTask(ctx context.Context, spec *protocol.TaskSpec, args [][]byte) (reflect.Value, *errs.TaskError) {
	registry.RLock()
	d := registry.tasks[spec.Name]
	registry.RUnlock()
	if d == nil {
		return reflect.Value{}, errs.NewTaskError(spec.DisplayName(), spec.TaskID, errs.ErrBadCall, errs.NotRegistered("no task is registered as %q", spec.Name), "", false)
	}
	return invoke(ctx, d, reflect.Value{}, args, spec.DisplayName(), spec.TaskID)
}

// ExecuteN runs a task whose slice result is split into its elements
// (RemoteN).
func (executor) ExecuteN(ctx context.Context, spec *protocol.TaskSpec, args [][]byte) ([]core.Encoded, *errs.TaskError) {
	if pybridge.IsPythonTask(spec.Name) {
		return python.ExecuteN(ctx, spec, args)
	}
	out, terr := invokeTask(ctx, spec, args)
	if terr != nil {
		return nil, terr
	}
	name := spec.DisplayName()
	if out.Kind() != reflect.Slice {
		return nil, errs.NewTaskError(name, spec.TaskID, errs.ErrBadCall, fmt.Errorf("RemoteN needs a function that returns a slice, not %v", out.Type()), "", false)
	}
	vals := make([]core.Encoded, out.Len())
	for i := range vals {
		e, terr := encodeResult(out.Index(i), name, spec.TaskID)
		if terr != nil {
			return nil, terr
		}
		vals[i] = e
	}
	return vals, nil
}

func encodeResult(v reflect.Value, name, id string) (core.Encoded, *errs.TaskError) {
	e, err := encodeValue(v.Interface())
	if err != nil {
		return core.Encoded{}, errs.NewTaskError(name, id, errs.ErrTaskFailed, fmt.Errorf("encoding the result: %w", err), "", false)
	}
	return e, nil
}

// encodeValue encodes v: []byte and numeric slices in the raw form (their
// own memory, not yet copied), everything else as msgpack, with the
// references it holds.
func encodeValue(v any) (core.Encoded, error) {
	if h, data, ok := codec.RawView(v); ok {
		return core.Encoded{Header: h[:], Data: data}, nil
	}
	b, nested, err := codec.MarshalCollect(v)
	if err != nil {
		return core.Encoded{}, err
	}
	e := core.Encoded{Data: b, Nested: coreRefs(nested)}
	if len(e.Nested) > 0 {
		e.Holds = v
	}
	return e, nil
}

// coreRefs picks the object references out of what encoders noted.
func coreRefs(noted []any) []core.Ref {
	var out []core.Ref
	for _, x := range noted {
		if r, ok := x.(core.Ref); ok {
			out = append(out, r)
		}
	}
	return out
}

// invoke decodes args for d, calls it (with recv first, if valid), and
// turns a returned error or a panic into a TaskError.
func invoke(ctx context.Context, d *taskDef, recv reflect.Value, args [][]byte, name, id string) (out reflect.Value, terr *errs.TaskError) {
	fail := func(cause error, err error, stack string, panicked bool) *errs.TaskError {
		return errs.NewTaskError(name, id, cause, err, stack, panicked)
	}
	if err := d.checkArity(len(args)); err != nil {
		return out, fail(errs.ErrBadCall, err, "", false)
	}
	in := make([]reflect.Value, 0, len(args)+2)
	if recv.IsValid() {
		in = append(in, recv)
	}
	if d.hasCtx {
		in = append(in, reflect.ValueOf(ctx))
	}
	for i := range args {
		v := reflect.New(d.param(i))
		if err := codec.Unmarshal(args[i], v.Interface()); err != nil {
			return out, fail(errs.ErrBadCall, fmt.Errorf("argument %d: %w", i, err), "", false)
		}
		in = append(in, v.Elem())
	}
	defer func() {
		if r := recover(); r != nil {
			out, terr = reflect.Value{}, fail(errs.ErrTaskFailed, fmt.Errorf("panic: %v", r), string(debug.Stack()), true)
		}
	}()
	res := d.fn.Call(in)
	if d.hasErr {
		if e, _ := res[1].Interface().(error); e != nil {
			return out, fail(errs.ErrTaskFailed, e, "", false)
		}
	}
	return res[0], nil
}
