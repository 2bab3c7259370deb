package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
)

// Argument resolution, one way for tasks, actor calls and actor
// constructors (Ray's LocalDependencyResolver): an argument travels as
// its value when it is small, and as the location of a stored object
// otherwise; a failed dependency fails the call with its own error.

// resolvedValues returns the arguments as they travel when every one is
// a small value (the common case: no waiting, no goroutine); false when
// one is a reference or too large.
func resolvedValues(args []TaskArg, limit int64) ([]protocol.Arg, bool) {
	vals := make([]protocol.Arg, len(args))
	for i, a := range args {
		if a.Ref != nil || int64(len(a.Value)) > limit {
			return nil, false
		}
		vals[i] = protocol.Arg{V: a.Value}
	}
	return vals, true
}

// resolveForCall resolves arguments for a call: small values inline,
// large ones put in the store once (like a Put), references waited for
// and looked up (stored objects stay where they are). An error names the
// argument and wraps its cause.
func (rt *Runtime) resolveForCall(ctx context.Context, args []TaskArg) ([]protocol.Arg, error) {
	vals := make([]protocol.Arg, len(args))
	for i, a := range args {
		if a.Ref == nil {
			if int64(len(a.Value)) <= rt.cfg.InlineLimit {
				vals[i] = protocol.Arg{V: a.Value}
				continue
			}
			ref, err := rt.PutBytes(ctx, Encoded{Data: a.Value})
			if err != nil {
				return nil, fmt.Errorf("argument %d: %w", i, err)
			}
			a.Ref = &ref
		}
		v, err := rt.lookup(ctx, *a.Ref)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i, err)
		}
		vals[i] = v
	}
	return vals, nil
}

// argFailure is how a task or call whose arguments could not be resolved
// fails: with a failed dependency's own error, as in Ray, or else with
// the typed cause of the failure (owner died, object lost, shutdown...).
func argFailure(name, id string, err error) *errs.WireTaskError {
	var te *errs.TaskError
	if !errors.As(err, &te) {
		te = errs.NewTaskError(name, id, causeOf(err), err, "", false)
	}
	return te.ToWire()
}

func causeOf(err error) error {
	for _, e := range []error{errs.ErrOwnerDied, errs.ErrObjectLost, errs.ErrShutdown, errs.ErrTaskCancelled} {
		if errors.Is(err, e) {
			return e
		}
	}
	return errs.ErrTaskFailed
}
