package serve

import (
	"context"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rayo-dev/rayo"
)

// A Response passed as an argument of another handle call is passed on
// without waiting (Ray's DeploymentResponse passed to another
// deployment): its result travels as an object reference, nested so that
// rayo does not resolve it in the call's submission, and the replica
// running the call takes the value from the object store when the call
// runs. The caller never holds the value.

// callArgs are a handle call's arguments: each encoded as msgpack, but
// those at Passed[i].At, which are results of earlier calls.
type callArgs struct {
	Raw    []msgpack.RawMessage `msgpack:"a"`
	Passed []passedOn           `msgpack:"p,omitempty"`
}

// passedOn is a Response given as argument At.
type passedOn struct {
	At  int                                `msgpack:"i"`
	Ref rayo.ObjectRef[msgpack.RawMessage] `msgpack:"r"`
}

// encodeArgs encodes a call's arguments; a *Response among them is
// passed on. A Response that failed already fails the call.
func encodeArgs(what string, args []any) (callArgs, error) {
	ca := callArgs{Raw: make([]msgpack.RawMessage, len(args))}
	for i, a := range args {
		if resp, ok := a.(*Response); ok {
			if resp == nil {
				return callArgs{}, fmt.Errorf("%w: %s argument %d: a nil *Response", ErrInvalidConfig, what, i)
			}
			if resp.err != nil {
				return callArgs{}, resp.err
			}
			ca.Passed = append(ca.Passed, passedOn{At: i, Ref: resp.ref})
			resp.releaseWhenDone()
			continue
		}
		b, err := msgpack.Marshal(a)
		if err != nil {
			return callArgs{}, fmt.Errorf("%w: %s argument %d: %v", ErrInvalidConfig, what, i, err)
		}
		ca.Raw[i] = b
	}
	return ca, nil
}

// resolve takes the passed-on results from the object store: the
// arguments as the method decodes them. An earlier call's error is this
// call's.
func (ca callArgs) resolve(ctx context.Context) ([]msgpack.RawMessage, error) {
	for _, p := range ca.Passed {
		if p.At < 0 || p.At >= len(ca.Raw) {
			return nil, fmt.Errorf("%w: a passed-on result at argument %d of %d", ErrInvalidConfig, p.At, len(ca.Raw))
		}
		raw, err := p.Ref.Get(ctx)
		if err != nil {
			return nil, err
		}
		ca.Raw[p.At] = raw
	}
	return ca.Raw, nil
}

// releaseWhenDone gives the Response's replica slot back once its
// result is ready, without fetching it: the caller passed it on and will
// not call Result.
func (r *Response) releaseWhenDone() {
	if r.t == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		_, _, _ = rayo.WaitRefs(ctx, []rayo.Ref{r.ref}, 1, requestTimeout)
		r.t.Done()
	}()
}
