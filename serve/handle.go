package serve

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/serve/internal/router"
)

// DeploymentHandle calls a deployment's methods from anywhere in the
// cluster: a driver, or another deployment that got it as a constructor
// argument (Ray's DeploymentHandle). It is plain data and travels as
// such.
type DeploymentHandle struct {
	App        string `msgpack:"a"`
	Deployment string `msgpack:"d"`
	// ModelID, set by WithModelID, is the multiplexed model its calls
	// are for.
	ModelID string `msgpack:"m,omitempty"`
}

// WithModelID returns a handle whose calls are for a multiplexed model
// (Ray's handle.options(multiplexed_model_id=...)).
func (h DeploymentHandle) WithModelID(id string) DeploymentHandle {
	h.ModelID = id
	return h
}

// GetDeploymentHandle returns a handle to a deployment of a running
// application (Ray's serve.get_deployment_handle).
func GetDeploymentHandle(app, deployment string) DeploymentHandle {
	return DeploymentHandle{App: app, Deployment: deployment}
}

// Response is a call's result, which the caller awaits or passes on
// (Ray's DeploymentResponse). It holds a slot on its replica (one of
// MaxOngoingRequests, in this process's router) until Result returns. A
// Response dropped without Result gives its slot back only when the
// garbage collector finds it, so call Result, with nil to drop the
// value, to free the slot at once.
type Response struct {
	ref rayo.ObjectRef[msgpack.RawMessage]
	t   *router.Ticket
	h   DeploymentHandle
	err error
}

// waitForReplica bounds how long a call waits for a deployment with no
// replica (starting, or scaled to zero).
const waitForReplica = 30 * time.Second

// Call calls method on a replica picked by power of two choices, with
// args encoded as msgpack. It returns at once; Result waits. A method
// that streams (returns an iter.Seq2) is an ErrNoMethod: use Stream.
func (h DeploymentHandle) Call(ctx context.Context, method string, args ...any) *Response {
	raw, t, x, err := h.start(ctx, method, args, false)
	if err != nil {
		return &Response{err: err}
	}
	r := &Response{ref: replicaCall.Remote(x.Actor, method, h.ModelID, raw), t: t, h: h}
	runtime.AddCleanup(r, (*router.Ticket).Done, t)
	return r
}

// start begins a Call (stream false) or a Stream: it checks the call
// against the deployment's methods where this binary has its
// registration (every process of the program does; a deployment it
// lacks is left to pick's ErrNotFound), so that a wrong call fails here,
// encodes args as msgpack and picks a replica.
func (h DeploymentHandle) start(ctx context.Context, method string, args []any, stream bool) (callArgs, *router.Ticket, replicaRef, error) {
	if def, err := lookupDeployment(h.Deployment); err == nil {
		if _, err := def.method(method, len(args), stream); err != nil {
			return callArgs{}, nil, replicaRef{}, err
		}
	}
	ca, err := encodeArgs(h.Deployment+"."+method, args)
	if err != nil {
		return callArgs{}, nil, replicaRef{}, err
	}
	t, x, err := h.pick(ctx)
	return ca, t, x, err
}

// pick waits for the deployment to have a replica with room (handles
// wait, as Ray's do; proxies answer 503 instead).
func (h DeploymentHandle) pick(ctx context.Context) (*router.Ticket, replicaRef, error) {
	w, err := routes(ctx)
	if err != nil {
		return nil, replicaRef{}, err
	}
	r := w.router(h.App, h.Deployment)
	if r == nil {
		return nil, replicaRef{}, fmt.Errorf("%w: no deployment %s in application %s", ErrNotFound, h.Deployment, h.App)
	}
	pctx, cancel := context.WithTimeout(ctx, waitForReplica)
	defer cancel()
	return r.waitPick(pctx, h.App, h.Deployment, h.ModelID, true)
}

// Result waits for the call and decodes its result into out (a pointer;
// nil to drop it).
func (r *Response) Result(ctx context.Context, out any) error {
	if r.err != nil {
		return r.err
	}
	raw, err := r.ref.Get(ctx)
	if r.t != nil {
		r.t.Done()
	}
	if err != nil {
		r.h.replicaDied(ctx, err, r.t.ReplicaID())
		return err
	}
	if out == nil {
		return nil
	}
	return msgpack.Unmarshal(raw, out)
}

// Result is a typed Response.Result.
func Result[R any](ctx context.Context, r *Response) (R, error) {
	var v R
	err := r.Result(ctx, &v)
	return v, err
}

// replicaDied, when err says that replica id's actor died under a call,
// takes it out of this process's routes now and has the controller
// replace it now, not at its next health check (as the proxy does).
func (h DeploymentHandle) replicaDied(ctx context.Context, err error, id string) {
	var died *rayo.ActorDiedError
	if id == "" || !errors.As(err, &died) {
		return
	}
	if w, werr := routes(ctx); werr == nil {
		if d := w.router(h.App, h.Deployment); d != nil {
			d.drop(id)
		}
	}
	reportDead(id)
}
