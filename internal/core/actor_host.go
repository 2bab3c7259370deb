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
// they arrive within their concurrency group (each caller's calls arrive
// in its submission order, on its one connection); with a group's limit
// above 1 they then run in parallel. Each group has its own limit and
// queue (actor_groups.go); the default one has MaxConcurrency.
type actorHost struct {
	rt          *Runtime
	spec        protocol.ActorSpec
	incarnation int
	instance    any
	maxConc     int
	gpus        []int // the GPUs of its lease
	// pipelined: a serial actor whose executor keeps its calls' order
	// itself (ActorPipeliner): a call's turn ends when it is handed over
	// (HandedOver), not when it returns.
	pipelined bool

	mu       sync.Mutex
	defGroup *concGroup
	groups   map[string]*concGroup  // the named groups
	calls    map[string]*hostedCall // accepted and not finished, by task ID (for Cancel)

	exit atomic.Bool // ExitActor was called
}

type hostedCall struct {
	host      *actorHost
	req       protocol.ActorCallRequest
	ctx       context.Context
	reply     func(any, error)
	group     *concGroup
	cancelled atomic.Bool // Cancel asked for it
	released  bool        // its group slot is given back (h.mu)
}

// ActorPipeliner is an Executor that runs a serial actor's calls one at
// a time in the order they are handed to it, so that its host may hand
// over the next call before the one before has returned: the executor
// calls HandedOver once a call is queued in order. The Python executor
// is one: its worker then takes several calls per round trip.
type ActorPipeliner interface {
	PipelinesActorCalls(class string) bool
}

// HandedOver tells a pipelined serial actor's host, from within the
// executor's CallActor, that the call is queued in order: the next call
// may start. Elsewhere it does nothing.
func HandedOver(ctx context.Context) {
	if c, ok := ctx.Value(callKey{}).(*hostedCall); ok && c.host.pipelined {
		c.host.release(c)
	}
}

// release gives back c's slot in its group and starts what may start.
func (h *actorHost) release(c *hostedCall) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.released {
		return
	}
	c.released = true
	c.group.done()
	h.dispatchLocked(h.rt, c.group)
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
	h := &actorHost{rt: rt, spec: req.Spec, incarnation: req.Incarnation, maxConc: max(req.Spec.MaxConcurrency, 1), gpus: req.GPUIDs,
		calls: map[string]*hostedCall{}}
	h.defGroup, h.groups = newGroups(&req.Spec)
	if p, ok := rt.cfg.Executor.(ActorPipeliner); ok && h.maxConc == 1 && h.groups == nil {
		h.pipelined = p.PipelinesActorCalls(req.Spec.Class)
	}
	args, pinned, terr := rt.resolveArgs(ctx, req.Spec.Args, req.Spec.Class+".__init__", req.Spec.ActorID)
	var inst any
	if terr == nil {
		inst, terr = rt.cfg.Executor.NewActor(withCall(ctx, h), &req.Spec, args) // withCall: taskctx.go
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
	h.instance = inst
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
		reply(nil, rpc.Errorf(protocol.CodeActorMismatch, "core: this worker does not host actor %s (incarnation %d)", c.req.ActorID, c.req.Incarnation))
		return nil
	}
	c.host = h
	h.mu.Lock()
	g, terr := h.groupLocked(c, c.req.Group)
	if terr != nil {
		h.mu.Unlock()
		reply(&protocol.PushTaskReply{Err: terr.ToWire()}, nil)
		return nil
	}
	defer h.mu.Unlock()
	c.group = g
	h.calls[c.req.TaskID] = c
	if g.admit(c) {
		// Idle: run the call on the goroutine that read it.
		rt.wg.Add(1)
		return func() {
			defer rt.wg.Done()
			h.run(rt, c)
		}
	}
	h.dispatchLocked(rt, g)
	return nil
}

func (h *actorHost) dispatchLocked(rt *Runtime, g *concGroup) {
	for c := g.next(); c != nil; c = g.next() {
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
	name := h.callName(c)
	if h.maxConc == 1 && h.groups == nil {
		rt.announce(name)
	}
	ctx, cancel := context.WithCancel(c.ctx)
	rt.runningMu.Lock()
	rt.running[c.req.TaskID] = cancel
	rt.runningMu.Unlock()
	ev := rt.executorEvent(c.req.TaskID, 0, name, protocol.TaskTypeActor, h.spec.Job.JobID, h.spec.ActorID)
	rt.taskStarted(ev)
	args, pinned, terr := rt.resolveArgs(ctx, c.req.Args, name, c.req.TaskID)
	var value Encoded
	if terr == nil && c.cancelled.Load() {
		// Cancelled before it started (checked after registering in
		// rt.running, which cancelHosted's caller reads after marking).
		terr = cancelledCallError(name, c.req.TaskID)
	}
	if terr == nil {
		// A serial actor runs one call at a time: it is the parent of the
		// tasks it submits, cancelled with it (recursive Cancel).
		leave := func() {}
		if h.maxConc == 1 && h.groups == nil {
			leave = rt.sub.enterTask(c.req.TaskID)
		}
		if c.req.Stream != nil {
			value, terr = rt.callActorStream(withCall(ctx, c), h, &c.req, args) // stream.go
		} else {
			value, terr = rt.cfg.Executor.CallActor(withCall(ctx, c), h.instance, h.spec.Class, &c.req, args)
		}
		leave()
	}
	terr = cancelledOutcome(c, name, terr)
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
	if h.calls[c.req.TaskID] == c { // not a resend (RetryExceptions) that arrived after the reply
		delete(h.calls, c.req.TaskID)
	}
	h.mu.Unlock()
	h.release(c)
}

// exitActor ends the actor the way ExitActor asked: tell the head it is
// intended (so there is no restart), then end the process.
func (rt *Runtime) exitActor(h *actorHost) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = rt.callHead(ctx, protocol.HeadActorExited, &protocol.ActorExitedRequest{ActorID: h.spec.ActorID, Incarnation: h.incarnation}, nil)
	os.Exit(0)
}

// ExitActor asks the actor running the current method (found through
// ctx, or the worker's only actor) to exit once the method returns.
func (rt *Runtime) ExitActor(ctx context.Context) error {
	h := hostOf(ctx)
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
