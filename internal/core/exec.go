package core

import (
	"context"
	"os"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
)

// servePushTask runs a pushed task in this worker.
func (rt *Runtime) servePushTask(ctx context.Context, spec *protocol.TaskSpec) (*protocol.PushTaskReply, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rt.runningMu.Lock()
	rt.running[spec.TaskID] = cancel
	rt.runningMu.Unlock()
	defer func() {
		rt.runningMu.Lock()
		delete(rt.running, spec.TaskID)
		rt.runningMu.Unlock()
	}()
	name := spec.Display
	if name == "" {
		name = spec.Name
	}
	rt.announce(name)
	value, terr := rt.cfg.Executor.Execute(ctx, spec)
	if terr != nil {
		terr.Pid = os.Getpid()
		if terr.NodeID == "" {
			terr.NodeID = os.Getenv("RAYO_NODE_ID")
		}
		if ctx.Err() != nil && terr.Cause == errs.ErrTaskFailed {
			terr.Cause = errs.ErrTaskCancelled
		}
		return &protocol.PushTaskReply{Err: terr.ToWire()}, nil
	}
	return &protocol.PushTaskReply{Value: value}, nil
}

func (rt *Runtime) serveCancelTask(_ context.Context, req *protocol.CancelTaskRequest) (*protocol.Empty, error) {
	rt.runningMu.Lock()
	cancel := rt.running[req.TaskID]
	rt.runningMu.Unlock()
	if cancel != nil {
		cancel()
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
