package core

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// actorHost runs the one actor a worker hosts. Calls start in the order
// they arrive (each caller's calls arrive in its submission order, on its
// one connection); with MaxConcurrency above 1 they then run in parallel.
type actorHost struct {
	spec        protocol.ActorSpec
	incarnation int
	instance    any
	maxConc     int

	mu      sync.Mutex
	queue   []*hostedCall
	running int

	exit atomic.Bool // ExitActor was called
}

type hostedCall struct {
	req   protocol.ActorCallRequest
	ctx   context.Context
	reply func(any, error)
}

func (rt *Runtime) serveCreateActor(ctx context.Context, req *protocol.CreateActorRequest) (*protocol.WorkerCreateActorReply, error) {
	rt.runningMu.Lock()
	busy := rt.host != nil
	rt.runningMu.Unlock()
	if busy {
		return nil, rpc.Errorf(rpc.CodeBadRequest, "core: this worker already hosts an actor")
	}
	rt.announce(req.Spec.Class + ".__init__")
	rt.fitProcs(req.Spec.Resources)
	ev := rt.executorEvent(req.Spec.ActorID, req.Incarnation, req.Spec.Class+".__init__", protocol.TaskTypeActorCreation,
		req.Spec.Job.JobID, req.Spec.ActorID)
	rt.taskStarted(ev)
	rt.setVisibleGPUs(req.GPUIDs)
	args, pinned, terr := rt.resolveArgs(ctx, req.Spec.Args, req.Spec.Class+".__init__", req.Spec.ActorID)
	var inst any
	if terr == nil {
		inst, terr = rt.cfg.Executor.NewActor(ctx, &req.Spec, args)
	}
	rt.releasePins(pinned)
	rt.FlushBorrows(ctx)
	if terr != nil {
		terr.Pid = os.Getpid()
		terr.NodeID = os.Getenv("RAYO_NODE_ID")
		w := terr.ToWire()
		rt.taskEnded(ev, w)
		return &protocol.WorkerCreateActorReply{Err: w}, nil
	}
	rt.taskEnded(ev, nil)
	h := &actorHost{spec: req.Spec, incarnation: req.Incarnation, instance: inst, maxConc: max(req.Spec.MaxConcurrency, 1)}
	rt.runningMu.Lock()
	rt.host = h
	rt.runningMu.Unlock()
	return &protocol.WorkerCreateActorReply{}, nil
}

func (rt *Runtime) serveActorCall(ctx context.Context, body []byte, reply func(any, error)) func() {
	c := &hostedCall{ctx: ctx, reply: reply}
	if err := rpc.Unmarshal(body, &c.req); err != nil {
		reply(nil, fmt.Errorf("%w: actor call: %v", rpc.ErrBadRequest, err))
		return nil
	}
	rt.runningMu.Lock()
	h := rt.host
	rt.runningMu.Unlock()
	if h == nil || h.spec.ActorID != c.req.ActorID || h.incarnation != c.req.Incarnation {
		reply(nil, rpc.Errorf("actor_mismatch", "core: this worker does not host actor %s (incarnation %d)", c.req.ActorID, c.req.Incarnation))
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.running < h.maxConc && len(h.queue) == 0 {
		// Idle: run the call on the goroutine that read it.
		h.running++
		rt.wg.Add(1)
		return func() {
			defer rt.wg.Done()
			h.run(rt, c)
		}
	}
	h.queue = append(h.queue, c)
	h.dispatchLocked(rt)
	return nil
}

func (h *actorHost) dispatchLocked(rt *Runtime) {
	for h.running < h.maxConc && len(h.queue) > 0 {
		c := h.queue[0]
		h.queue[0] = nil
		h.queue = h.queue[1:]
		h.running++
		rt.wg.Add(1)
		go func() {
			defer rt.wg.Done()
			h.run(rt, c)
		}()
	}
}

func (h *actorHost) run(rt *Runtime, c *hostedCall) {
	// References the call made and dropped are counted out when it
	// returns (taskrefs.go).
	rt.taskRefsBegin()
	defer rt.taskRefsEnd()
	if h.maxConc == 1 {
		rt.announce(h.spec.Class + "." + c.req.Method)
	}
	ctx, cancel := context.WithCancel(c.ctx)
	rt.runningMu.Lock()
	rt.running[c.req.TaskID] = cancel
	rt.runningMu.Unlock()
	name := h.spec.Class + "." + c.req.Method
	ev := rt.executorEvent(c.req.TaskID, 0, name, protocol.TaskTypeActor, h.spec.Job.JobID, h.spec.ActorID)
	rt.taskStarted(ev)
	args, pinned, terr := rt.resolveArgs(ctx, c.req.Args, name, c.req.TaskID)
	var value Encoded
	if terr == nil && c.req.Stream != nil {
		value, terr = rt.callActorStream(withActor(ctx, h), h, &c.req, args) // stream.go
	} else if terr == nil {
		value, terr = rt.cfg.Executor.CallActor(withActor(ctx, h), h.instance, h.spec.Class, &c.req, args)
	}
	rt.releasePins(pinned)
	rt.runningMu.Lock()
	delete(rt.running, c.req.TaskID)
	rt.runningMu.Unlock()
	cancel()
	if terr != nil {
		terr.Pid = os.Getpid()
		terr.NodeID = os.Getenv("RAYO_NODE_ID")
		w := terr.ToWire()
		rt.FlushBorrows(c.ctx) // refs or handles the failed call kept (in the actor's state)
		rt.taskEnded(ev, w)
		c.reply(&protocol.PushTaskReply{Err: w}, nil)
	} else {
		// The call's own context is cancelled by now: finish under the
		// connection's.
		rt.lendNested(c.ctx, c.req.OwnerAddr, value.Nested)
		rt.FlushBorrows(c.ctx)
		reply := rt.resultReply(c.ctx, c.req.TaskID, name, c.req.TaskID, c.req.OwnerAddr, value)
		runtime.KeepAlive(value.Holds) // the caller is a borrower of what it holds now
		rt.taskEnded(ev, reply.Err)
		c.reply(reply, nil)
	}
	if h.exit.Load() {
		rt.exitActor(h)
		return
	}
	h.mu.Lock()
	h.running--
	h.dispatchLocked(rt)
	h.mu.Unlock()
}

// exitActor ends the actor the way ExitActor asked: tell the head it is
// intended (so there is no restart), then end the process.
func (rt *Runtime) exitActor(h *actorHost) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = rt.callHead(ctx, protocol.HeadActorExited, &protocol.ActorExitedRequest{ActorID: h.spec.ActorID, Incarnation: h.incarnation}, nil)
	os.Exit(0)
}

type hostKey struct{}

func withActor(ctx context.Context, h *actorHost) context.Context {
	return context.WithValue(ctx, hostKey{}, h)
}

// ExitActor asks the actor running the current method (found through
// ctx, or the worker's only actor) to exit once the method returns.
func (rt *Runtime) ExitActor(ctx context.Context) error {
	h, _ := ctx.Value(hostKey{}).(*actorHost)
	if h == nil {
		rt.runningMu.Lock()
		h = rt.host
		rt.runningMu.Unlock()
	}
	if h == nil {
		return fmt.Errorf("%w: ExitActor called outside an actor", errs.ErrInvalidOption)
	}
	h.exit.Store(true)
	return nil
}
