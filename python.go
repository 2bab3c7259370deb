package rayo

import (
	"context"
	"fmt"
	"runtime"
	"strings"

	"github.com/rayo-dev/rayo/internal/core"
	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/pybridge"
)

// PythonFunction is a Python function called from Go by its qualified
// name, "module.function", with result type R (Ray's cross-language
// calls):
//
//	sum, err := rayo.PythonFunction[int]("mymodule.add").Remote(1, 2).Get(ctx)
//
// The function runs in a Python worker of this job (`python3 -m
// rayo.worker`, or RAYO_PYTHON's interpreter), which imports the module:
// the workers' environment (WithEnv) must put the module and rayo's
// Python package on PYTHONPATH. Arguments are values both languages know
// (docs/encoding.md); the result must be one too, else Get fails with
// codec.ErrPythonObject's message.
type PythonFunction[R any] string

// Remote calls the function with args (values or ObjectRefs).
func (f PythonFunction[R]) Remote(args ...any) ObjectRef[R] {
	return f.Options().Remote(args...)
}

// Options returns a call of the function with task options (NumCPUs,
// Resources, MaxRetries, Name, scheduling strategies...).
func (f PythonFunction[R]) Options(opts ...Option) *PythonCall[R] {
	c := &PythonCall[R]{name: string(f), opts: defaultCallOptions()}
	if !validPythonName(c.name) {
		c.err = fmt.Errorf("%w: %q is not a Python qualified name (module.function)", errs.ErrBadCall, c.name)
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&c.opts); err != nil && c.err == nil {
			c.err = err
		}
	}
	if c.err == nil {
		c.err = misplacedForTask(c.opts.set, false)
	}
	return c
}

// PythonCall is a PythonFunction with options.
type PythonCall[R any] struct {
	name string
	opts callOptions
	err  error
}

// Remote submits the call and returns the reference to its result.
func (c *PythonCall[R]) Remote(args ...any) ObjectRef[R] {
	rt, err := runtimeOrErr()
	if err != nil {
		return failedRef[R](err)
	}
	if c.err != nil {
		return failedRef[R](c.err)
	}
	cargs, err := encodeUntypedArgs(c.name, args)
	if err != nil {
		return failedRef[R](err)
	}
	so, err := c.opts.submitOptions(pybridge.TaskPrefix + "name:" + c.name)
	if err != nil {
		return failedRef[R](err)
	}
	if so.Display == "" {
		so.Display = c.name
	}
	ref := rt.Submit(so, cargs)
	runtime.KeepAlive(args)
	return takeRef[R](rt, ref)
}

// PythonActorClass is a Python class, "module.Class", whose instances are
// actors started from Go:
//
//	counter, err := rayo.PythonActorClass("mymodule.Counter").New(ctx, 10)
//	n, err := rayo.CallPython[int](counter, "incr", 1).Get(ctx)
type PythonActorClass string

// New starts an actor of the class, its constructor called with args.
func (c PythonActorClass) New(ctx context.Context, args ...any) (PythonActor, error) {
	rt, err := runtimeOrErr()
	if err != nil {
		return PythonActor{}, err
	}
	name := string(c)
	if !validPythonName(name) {
		return PythonActor{}, fmt.Errorf("%w: %q is not a Python qualified name (module.Class)", errs.ErrBadCall, name)
	}
	cargs, err := encodeUntypedArgs(name, args)
	if err != nil {
		return PythonActor{}, err
	}
	short := name[strings.LastIndexByte(name, '.')+1:]
	class := pybridge.TaskPrefix + "name:" + name + "/" + short
	id, _, err := rt.CreateActor(ctx, core.ActorOptions{Class: class, Namespace: currentNamespace(), MaxConcurrency: 1}, cargs)
	runtime.KeepAlive(args)
	if err != nil {
		return PythonActor{}, err
	}
	a := PythonActor{id: id, class: class}
	if r, ok := rt.OwnedActorHandle(id); ok {
		a.scope = newRef[struct{}](rt, r)
	}
	return a, nil
}

// PythonActor is a handle to a Python actor: call its methods with
// CallPython. While a handle exists the actor lives (as ActorHandle).
type PythonActor struct {
	id, class string
	scope     ObjectRef[struct{}]
}

// ID is the actor's ID.
func (a PythonActor) ID() string { return a.id }

func (a PythonActor) actorID() string { return a.id }

// CallPython calls method on a Python actor with args and returns the
// reference to its result, of type R.
func CallPython[R any](a PythonActor, method string, args ...any) ObjectRef[R] {
	rt, err := runtimeOrErr()
	if err != nil {
		return failedRef[R](err)
	}
	if a.id == "" || method == "" || strings.HasPrefix(method, "_") {
		return failedRef[R](fmt.Errorf("%w: CallPython needs an actor and a public method name, not %q", errs.ErrBadCall, method))
	}
	cargs, err := encodeUntypedArgs(method, args)
	if err != nil {
		return failedRef[R](err)
	}
	ref := rt.SubmitActorCallWith(a.id, a.class, method, cargs, a.scope.tok, core.ActorCallOptions{Counted: true})
	runtime.KeepAlive(args)
	return takeRef[R](rt, ref)
}

// validPythonName reports whether name looks like module.qualname.
func validPythonName(name string) bool {
	if !strings.Contains(name, ".") || strings.ContainsAny(name, "/ ") || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") {
		return false
	}
	return true
}

// encodeUntypedArgs encodes the arguments of a call whose parameter
// types Go does not know (a Python function's): ObjectRefs travel as
// references, other values in the shared value format.
func encodeUntypedArgs(name string, args []any) ([]core.TaskArg, error) {
	out := make([]core.TaskArg, len(args))
	for i, a := range args {
		if ra, ok := a.(refArg); ok {
			r, err := ra.coreRef()
			if err != nil {
				return nil, fmt.Errorf("argument %d: %w", i, err)
			}
			out[i] = core.TaskArg{Ref: &r}
			continue
		}
		b, nested, err := encodeArgValue(a)
		if err != nil {
			return nil, badCall(name, "argument %d: %v", i, err)
		}
		out[i] = core.TaskArg{Value: b, Nested: coreRefs(nested)}
	}
	return out, nil
}
