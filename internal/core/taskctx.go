package core

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/sched"
)

// TaskContext is what a running task, actor constructor or actor method
// knows of itself (the rayo package's RuntimeContext, Ray's
// get_runtime_context()). A worker may run many calls at once
// (MaxConcurrency), so the worker cannot hold it: the core puts the call
// in the ctx it passes to the Executor (withCall), and TaskContextFrom
// builds this from it when asked, so that calls that never ask pay for no
// more than the ctx's one value.
type TaskContext struct {
	TaskID string
	// ActorID and ActorClass are set in an actor's constructor and methods.
	ActorID    string
	ActorClass string
	// Resources are what the call was scheduled with, placement-group
	// bundle names turned back into the plain ones (CPU_group_0_<pg> is
	// CPU), as Ray's get_assigned_resources.
	Resources sched.Resources
	GPUIDs    []int
	// PlacementGroupID is the group the call runs in ("" if none);
	// BundleIndex its bundle, -1 for none or for "any bundle".
	PlacementGroupID string
	BundleIndex      int
}

type callKey struct{}

// withCall tells the call's code which call it is: call is the task's
// *protocol.TaskSpec, the *actorHost whose constructor runs, or the
// method's *hostedCall.
func withCall(ctx context.Context, call any) context.Context {
	return context.WithValue(ctx, callKey{}, call)
}

// TaskContextFrom returns the context of the call ctx was given to, or
// nil outside one (in a driver, or a ctx not derived from a call's).
func TaskContextFrom(ctx context.Context) *TaskContext {
	var tc TaskContext
	var res sched.Resources
	switch c := ctx.Value(callKey{}).(type) {
	case *protocol.TaskSpec:
		tc.TaskID, tc.GPUIDs, res = c.TaskID, c.GPUIDs, c.Resources
	case *actorHost: // its constructor: Ray's actor creation task
		tc.TaskID, tc.ActorID, tc.ActorClass, tc.GPUIDs, res = c.spec.ActorID, c.spec.ActorID, c.spec.Class, c.gpus, c.spec.Resources
	case *hostedCall:
		h := c.host
		tc.TaskID, tc.ActorID, tc.ActorClass, tc.GPUIDs, res = c.req.TaskID, h.spec.ActorID, h.spec.Class, h.gpus, h.spec.Resources
	default:
		return nil
	}
	tc.GPUIDs = slices.Clone(tc.GPUIDs)
	tc.Resources, tc.PlacementGroupID, tc.BundleIndex = plainResources(res)
	return &tc
}

// hostOf returns the actor whose method ctx was given to (nil elsewhere,
// its constructor included).
func hostOf(ctx context.Context) *actorHost {
	if c, ok := ctx.Value(callKey{}).(*hostedCall); ok {
		return c.host
	}
	return nil
}

// plainResources turns a request's placement-group resource names back
// into the plain ones and finds its group and bundle: a request in bundle
// i of group g names X_group_i_g for each resource X, plus the marker
// bundle_group_i_g; one in any bundle names X_group_g (see
// protocol.BundleResourceName).
func plainResources(res sched.Resources) (plain sched.Resources, pg string, bundle int) {
	bundle = -1
	pg = protocol.GroupOfResources(res)
	if pg == "" {
		return res.Clone(), "", -1
	}
	plain = sched.Resources{}
	for name, v := range res {
		rest, ok := strings.CutSuffix(name, "_"+pg)
		if !ok {
			plain[name] += v // not the group's: kept as it is
			continue
		}
		base, idx := rest, -1
		if b, ok := strings.CutSuffix(rest, "_group"); ok {
			base = b
		} else if i := strings.LastIndex(rest, "_group_"); i >= 0 {
			n, err := strconv.Atoi(rest[i+len("_group_"):])
			if err != nil {
				plain[name] += v
				continue
			}
			base, idx = rest[:i], n
		}
		if base == "bundle" {
			bundle = idx // the marker
			continue
		}
		plain[base] += v
	}
	return plain, pg, bundle
}

// WorkerID is this process's worker ID (a driver's own, in a driver).
func (rt *Runtime) WorkerID() string { return rt.cfg.WorkerID }
