package core

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/gpu"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// servePushTask runs a pushed task in this worker.
func (rt *Runtime) servePushTask(ctx context.Context, spec *protocol.TaskSpec) (*protocol.PushTaskReply, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The references the task made and dropped are counted out when it
	// returns, not when this worker's collector happens to run.
	rt.taskRefsBegin()
	defer rt.taskRefsEnd()
	defer rt.sub.enterTask(spec.TaskID)() // the parent of what it submits (cancel.go)
	rt.runningMu.Lock()
	rt.running[spec.TaskID] = cancel
	rt.runningMu.Unlock()
	rt.taskDepth.Store(int64(spec.Depth))
	defer func() {
		rt.runningMu.Lock()
		delete(rt.running, spec.TaskID)
		rt.runningMu.Unlock()
	}()
	name := spec.DisplayName()
	rt.announce(name)
	rt.fitProcs(spec.Resources)
	ev := rt.executorEvent(spec.TaskID, spec.Attempt, name, protocol.TaskTypeNormal, spec.JobID, "")
	rt.taskStarted(ev)
	// The task sees exactly the GPUs of its lease, as in Ray (processes it
	// starts inherit the variable).
	rt.setVisibleGPUs(spec.GPUIDs)
	ctx = withCall(ctx, spec) // for GetRuntimeContext (taskctx.go)
	args, argIDs, terr := rt.resolveArgs(ctx, spec.Args, name, spec.TaskID)
	var value Encoded
	var values []Encoded
	if terr == nil {
		if spec.Stream != nil {
			value, terr = rt.executeStream(ctx, spec, args) // its items went to the owner; value is their count
		} else if spec.NumReturns > 0 {
			values, terr = rt.cfg.Executor.ExecuteN(ctx, spec, args)
			if terr == nil && len(values) != spec.NumReturns {
				terr = errs.NewTaskError(name, spec.TaskID, errs.ErrTaskFailed,
					fmt.Errorf("the function returned %d values; the call asked for %d (RemoteN)", len(values), spec.NumReturns), "", false)
			}
		} else {
			value, terr = rt.cfg.Executor.Execute(ctx, spec, args)
		}
	}
	// Arguments mapped from the store are valid during the call only.
	rt.releasePins(argIDs)
	if terr != nil {
		terr.Pid = os.Getpid()
		if terr.NodeID == "" {
			terr.NodeID = os.Getenv("RAYO_NODE_ID")
		}
		if ctx.Err() != nil && terr.Cause == errs.ErrTaskFailed {
			terr.Cause = errs.ErrTaskCancelled
		}
		w := terr.ToWire()
		// A failed task may have kept refs or actor handles it received
		// (in a global, say): their owners must know before the reply
		// ends the caller's hold, even when the task was cancelled.
		rt.flushBorrowsAfter(ctx)
		rt.taskEnded(ev, w)
		return &protocol.PushTaskReply{Err: w}, nil
	}
	if spec.NumReturns > 0 {
		reply := rt.returnsReply(ctx, spec, name, values)
		rt.taskEnded(ev, reply.Err)
		return reply, nil
	}
	rt.lendNested(ctx, spec.OwnerAddr, value.Nested)
	rt.FlushBorrows(ctx)
	reply := rt.resultReply(ctx, spec.ReturnID, name, spec.TaskID, spec.OwnerAddr, value)
	runtime.KeepAlive(value.Holds) // the caller is a borrower of what it holds now
	rt.taskEnded(ev, reply.Err)
	return reply, nil
}

// returnsReply answers a task with several results: each small one
// inline, each large one stored (as the primary copy) under its return ID.
func (rt *Runtime) returnsReply(ctx context.Context, spec *protocol.TaskSpec, name string, values []Encoded) *protocol.PushTaskReply {
	reply := &protocol.PushTaskReply{Returns: make([]protocol.ReturnValue, len(values))}
	for _, v := range values {
		rt.lendNested(ctx, spec.OwnerAddr, v.Nested)
	}
	rt.FlushBorrows(ctx)
	for i, v := range values {
		r := rt.resultReply(ctx, protocol.ReturnID(spec.TaskID, i), name, spec.TaskID, spec.OwnerAddr, v)
		if r.Err != nil {
			return &protocol.PushTaskReply{Err: r.Err}
		}
		reply.Returns[i] = protocol.ReturnValue{Value: r.Value, Loc: r.Loc, Nested: r.Nested}
	}
	runtime.KeepAlive(values) // their Holds: the caller is a borrower of what they hold now
	return reply
}

// resolveArgs turns resolved arguments into bytes, mapping stored ones
// from this node's store; it returns the IDs it pinned.
func (rt *Runtime) resolveArgs(ctx context.Context, in []protocol.Arg, name, id string) ([][]byte, []string, *errs.TaskError) {
	out := make([][]byte, len(in))
	var pinned []string
	for i, a := range in {
		b, err := rt.argBytes(ctx, a)
		if err != nil {
			return nil, pinned, errs.NewTaskError(name, id, causeOf(err), fmt.Errorf("argument %d: %w", i, err), "", false)
		}
		if a.Loc != nil {
			pinned = append(pinned, a.ID)
		}
		out[i] = b
	}
	return out, pinned, nil
}

// resultReply returns a small result inline; a large one goes to this
// node's store as the primary copy, under the ID the owner expects.
func (rt *Runtime) resultReply(ctx context.Context, returnID, name, taskID, owner string, v Encoded) *protocol.PushTaskReply {
	if v.Stored > 0 {
		if err := rt.node.Call(ctx, protocol.NodeSealObject, &protocol.ObjectIDRequest{ObjectID: returnID}, nil); err != nil {
			rt.exitIfNodeLost(err)
			te := errs.NewTaskError(name, taskID, errs.ErrTaskFailed, fmt.Errorf("sealing the result: %w", err), "", false)
			te.Pid = os.Getpid()
			return &protocol.PushTaskReply{Err: te.ToWire()}
		}
		return &protocol.PushTaskReply{Loc: &protocol.ObjectLocation{NodeID: rt.nodeID, NodeAddr: rt.cfg.NodeAddr, Size: v.Stored, Owner: owner},
			Nested: wireNested(v.Nested)}
	}
	if int64(len(v.Header)+len(v.Data)) <= rt.cfg.InlineLimit {
		b := make([]byte, 0, len(v.Header)+len(v.Data))
		return &protocol.PushTaskReply{Value: append(append(b, v.Header...), v.Data...), Nested: wireNested(v.Nested)}
	}
	a, err := rt.storeValue(ctx, returnID, v.Header, v.Data, owner)
	if err != nil {
		rt.exitIfNodeLost(err)
		te := errs.NewTaskError(name, taskID, errs.ErrTaskFailed, fmt.Errorf("storing the result: %w", err), "", false)
		te.Pid = os.Getpid()
		return &protocol.PushTaskReply{Err: te.ToWire()}
	}
	return &protocol.PushTaskReply{Loc: a.Loc, Nested: wireNested(v.Nested)}
}

// exitIfNodeLost ends a worker whose node daemon is gone when it comes
// to store a result: the store went with the node, which is a system
// failure, not the task's. Replying would settle the task as failed;
// exiting first makes its owner see the worker die, and retry it as for
// any worker lost with its node. (The worker would exit anyway: workers
// end with their node.)
func (rt *Runtime) exitIfNodeLost(err error) {
	if !rt.cfg.IsWorker {
		return
	}
	select {
	case <-rt.node.Done():
	default:
		if !errors.Is(err, rpc.ErrClosed) {
			return
		}
	}
	rt.log.Warn("the node daemon is gone while storing a result; exiting so that the owner retries the task", "err", err)
	os.Exit(1)
}

func (rt *Runtime) serveCancelTask(_ context.Context, req *protocol.CancelTaskRequest) (*protocol.Empty, error) {
	rt.cancelHosted(req.TaskID) // an actor call: drop it if queued, mark it (before reading rt.running)
	rt.runningMu.Lock()
	cancel := rt.running[req.TaskID]
	rt.runningMu.Unlock()
	if cancel != nil {
		cancel()
	}
	switch {
	case req.Recursive && req.Force:
		rt.sub.cancelChildren(req.TaskID, true) // before the owner kills this worker
	case req.Recursive:
		rt.wg.Add(1)
		go func() { defer rt.wg.Done(); rt.sub.cancelChildren(req.TaskID, false) }()
	}
	return &protocol.Empty{}, nil
}

// announce tells the node's log pump which task the worker's following
// output belongs to. It writes only when the name changes: a worker
// running the same function over and over pays for it once.
func (rt *Runtime) announce(name string) {
	rt.announceMu.Lock()
	defer rt.announceMu.Unlock()
	if name == rt.announced {
		return
	}
	rt.announced = name
	_, _ = os.Stdout.WriteString(protocol.TaskMarker + name + "\n")
}

// setVisibleGPUs sets CUDA_VISIBLE_DEVICES for the task about to run,
// touching the environment only when the value changes (most tasks of a
// worker see the same).
func (rt *Runtime) setVisibleGPUs(ids []int) {
	v := gpu.CUDAVisibleDevices(ids)
	rt.runningMu.Lock()
	defer rt.runningMu.Unlock()
	if rt.gpusSet && v == rt.gpusEnv {
		return
	}
	rt.gpusSet, rt.gpusEnv = true, v
	_ = os.Setenv("CUDA_VISIBLE_DEVICES", v)
}
