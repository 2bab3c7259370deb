package pybridge

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/rayo-dev/rayo/internal/core"
	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// A Python actor class is registered as TaskPrefix + "<function ID>/<class
// name>": the ID finds the pickled class in the function table, the name
// is for people (rayo list actors).

// PythonClass splits a Python actor class into its function ID; false
// for a Go class.
func PythonClass(class string) (id string, ok bool) {
	rest, ok := strings.CutPrefix(class, TaskPrefix)
	if !ok {
		return "", false
	}
	id, _, _ = strings.Cut(rest, "/")
	return id, true
}

type (
	actorNewReq struct {
		Class          string             `msgpack:"c"`
		Name           string             `msgpack:"name,omitempty"`
		Namespace      string             `msgpack:"ns,omitempty"`
		Detached       bool               `msgpack:"detached,omitempty"`
		GetIfExists    bool               `msgpack:"getex,omitempty"`
		Resources      map[string]float64 `msgpack:"res,omitempty"`
		MaxRestarts    int                `msgpack:"maxrs"`
		MaxTaskRetries int                `msgpack:"maxtr"`
		MaxConcurrency int                `msgpack:"maxc"`
		Env            map[string]string  `msgpack:"env,omitempty"`
		Strategy       *wireStrategy      `msgpack:"strat,omitempty"`
		Args           []taskArg          `msgpack:"a"`
	}
	// actorReply describes an actor for a handle: Scope is the object
	// that stands for the handles of an actor this process created (its
	// count keeps the actor alive), nil when handles do not count.
	actorReply struct {
		ID    string   `msgpack:"id"`
		Class string   `msgpack:"c"`
		Scope *wireRef `msgpack:"scope,omitempty"`
	}
	actorGetReq struct {
		Name      string `msgpack:"name"`
		Namespace string `msgpack:"ns,omitempty"`
	}
	actorIDReq struct {
		ID        string `msgpack:"id"`
		NoRestart bool   `msgpack:"norestart,omitempty"`
	}
	actorCallReq struct {
		ID string `msgpack:"id"`
		// Parent: the call of the Python worker that makes this one (as
		// submitReq's).
		Parent          string      `msgpack:"p,omitempty"`
		Actor           string      `msgpack:"actor"`
		Class           string      `msgpack:"c"`
		Method          string      `msgpack:"m"`
		Name            string      `msgpack:"name,omitempty"`
		Scope           *wireRef    `msgpack:"scope,omitempty"`
		Args            []taskArg   `msgpack:"a"`
		MaxTaskRetries  *int        `msgpack:"retries,omitempty"`
		RetryExceptions bool        `msgpack:"rex,omitempty"`
		Stream          *streamOpts `msgpack:"stream,omitempty"`
	}
)

func coreArgs(in []taskArg) []core.TaskArg {
	args := make([]core.TaskArg, len(in))
	for i, a := range in {
		if a.Ref != nil {
			r := a.Ref.core()
			args[i] = core.TaskArg{Ref: &r}
			continue
		}
		args[i] = core.TaskArg{Value: a.Value, Nested: coreRefs(a.Nested)}
	}
	return args
}

// scopeOf is the counted scope reference of an actor this process
// created, for a new handle (nil when its handles do not count).
func scopeOf(rt *core.Runtime, id string) *wireRef {
	r, ok := rt.OwnedActorHandle(id)
	if !ok {
		return nil
	}
	rt.AddLocal(r)
	w := toWire(r)
	return &w
}

func registerActorOps(s *rpc.Server, ids *idBlocks, ready func(context.Context) (*core.Runtime, error), readyNow func() (*core.Runtime, error)) {
	rpc.Register(s, "py.actor.new", func(ctx context.Context, req *actorNewReq) (*actorReply, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		if req.Class == "" {
			return nil, wireError(fmt.Errorf("%w: an actor needs a class", errs.ErrBadCall))
		}
		res, strat, err := placement(req.Resources, req.Strategy)
		if err != nil {
			return nil, wireError(err)
		}
		env, err := protocol.EnvList(req.Env)
		if err != nil {
			return nil, wireError(fmt.Errorf("%w: %v", errs.ErrInvalidOption, err))
		}
		if req.GetIfExists && req.Name == "" {
			return nil, wireError(fmt.Errorf("%w: get_if_exists needs a name", errs.ErrInvalidOption))
		}
		ns := req.Namespace
		if ns == "" {
			ns = rt.Job().Namespace
		}
		id, class, err := rt.CreateActor(ctx, core.ActorOptions{Class: req.Class, Name: req.Name, Namespace: ns,
			Detached: req.Detached, GetIfExists: req.GetIfExists, Resources: res, Strategy: strat, MaxRestarts: req.MaxRestarts,
			MaxTaskRetries: req.MaxTaskRetries, MaxConcurrency: max(req.MaxConcurrency, 1), Env: env}, coreArgs(req.Args))
		if err != nil {
			return nil, wireError(err)
		}
		return &actorReply{ID: id, Class: class, Scope: scopeOf(rt, id)}, nil
	})
	rpc.Register(s, "py.actor.get", func(ctx context.Context, req *actorGetReq) (*actorReply, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		ns := req.Namespace
		if ns == "" {
			ns = rt.Job().Namespace
		}
		info, err := rt.GetActor(ctx, "", req.Name, ns)
		if err != nil {
			return nil, wireError(err)
		}
		return &actorReply{ID: info.ActorID, Class: info.Class, Scope: scopeOf(rt, info.ActorID)}, nil
	})
	rpc.Register(s, "py.actor.ready", func(ctx context.Context, req *actorIDReq) (*empty, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		if err := rt.WaitActorReady(ctx, req.ID); err != nil {
			return nil, wireError(err)
		}
		return &empty{}, nil
	})
	rpc.Register(s, "py.kill", func(ctx context.Context, req *actorIDReq) (*empty, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		if err := rt.KillActor(ctx, req.ID, req.NoRestart, ""); err != nil {
			return nil, wireError(err)
		}
		return &empty{}, nil
	})
	// Calls are ordered like submits (see py.submit).
	s.HandleOrdered("py.actor.call", func(ctx context.Context, body []byte, reply func(any, error)) func() {
		req := new(actorCallReq)
		if err := rpc.Unmarshal(body, req); err != nil {
			reply(nil, fmt.Errorf("%w: py.actor.call: %v", rpc.ErrBadRequest, err))
			return nil
		}
		rt, err := readyNow()
		if err == nil {
			err = callActor(rt, ids, req)
		}
		if err != nil {
			reply(nil, wireError(err))
		} else {
			reply(&empty{}, nil)
		}
		return nil
	})
}

func callActor(rt *core.Runtime, ids *idBlocks, req *actorCallReq) error {
	if !ids.take(req.ID) { // spent first, as in submit
		return fmt.Errorf("%w: task ID %q was not reserved by py.ids for this connection, or is used", errs.ErrBadCall, req.ID)
	}
	if req.Actor == "" || req.Method == "" {
		return fmt.Errorf("%w: an actor call names no actor or method", errs.ErrBadCall)
	}
	o := core.ActorCallOptions{Counted: true, ID: req.ID, Name: req.Name, RetryExceptions: req.RetryExceptions, Parent: req.Parent}
	if req.MaxTaskRetries != nil {
		o.MaxTaskRetries, o.SetRetries = *req.MaxTaskRetries, true
	}
	// The handle's scope stays counted until the call is done, should
	// Python drop the handle at once (Actor.remote().f.remote()).
	if so := req.Stream; so != nil && so.Backpressure < 0 {
		return fmt.Errorf("%w: backpressure %d", errs.ErrInvalidOption, so.Backpressure)
	}
	var keep any
	if req.Scope != nil {
		keep = newScopeHold(rt, req.Scope.core())
	}
	if so := req.Stream; so != nil {
		rt.SubmitActorStream(req.Actor, req.Class, req.Method, coreArgs(req.Args), keep, o, core.StreamOptions{Backpressure: so.Backpressure})
		return nil
	}
	rt.SubmitActorCallWith(req.Actor, req.Class, req.Method, coreArgs(req.Args), keep, o)
	return nil
}

// scopeHold counts an actor's scope reference for one call, until the
// core releases it when the call is done (core.KeepReleaser): a count,
// not a Go value, so the actor goes out of scope as soon as its last
// handle and call are gone, not at some later garbage collection.
type scopeHold struct {
	rt   *core.Runtime
	ref  core.Ref
	once sync.Once
}

func newScopeHold(rt *core.Runtime, ref core.Ref) *scopeHold {
	rt.AddLocal(ref)
	return &scopeHold{rt: rt, ref: ref}
}

func (h *scopeHold) Release() { h.once.Do(func() { h.rt.RemoveLocal(h.ref) }) }
