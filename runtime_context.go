package rayo

import (
	"context"
	"fmt"
	"reflect"

	"github.com/rayo-dev/rayo/internal/core"
	"github.com/rayo-dev/rayo/internal/errs"
)

// RuntimeContext describes where the calling code runs: its job, node,
// worker and namespace, and inside a task or actor the call itself, what
// it was given and where it was placed (Ray's ray.get_runtime_context()).
type RuntimeContext struct {
	// JobID is the job's ID (Ray's get_job_id()).
	JobID string
	// TaskID is the running task's or actor method call's ID; an actor's
	// constructor has the actor's ID; "" in a driver (Ray's get_task_id()).
	TaskID string
	// ActorID is the actor whose constructor or method runs, "" elsewhere
	// (Ray's get_actor_id()).
	ActorID string
	// NodeID is the node the process runs on, or submits through in a
	// driver (Ray's get_node_id()).
	NodeID string
	// WorkerID is the process's worker ID; a driver has one too (Ray's
	// get_worker_id()).
	WorkerID string
	// Namespace is the job's namespace (Ray's namespace).
	Namespace string
	// Resources are what the task or actor was scheduled with, by their
	// plain names even in a placement group ({"CPU": 1}, not
	// CPU_group_0_<id>), as Ray's get_assigned_resources(); empty in a
	// driver. An actor's are those it holds for its life (none by default,
	// as in Ray), the same in each of its methods.
	Resources map[string]float64
	// GPUIDs are the GPUs assigned to the task or actor (Ray's
	// get_gpu_ids()); CUDA_VISIBLE_DEVICES lists the same.
	GPUIDs []int
	// PlacementGroupID is the placement group the task or actor runs in,
	// "" if none (Ray's get_placement_group_id()).
	PlacementGroupID string
	// BundleIndex is the bundle of that group it was placed in: -1 when
	// there is no group or it asked for any bundle (InPlacementGroup with
	// -1).
	BundleIndex int
}

// InTask reports whether the context is a task's or an actor's rather
// than a driver's (Ray's worker mode).
func (c RuntimeContext) InTask() bool { return c.TaskID != "" }

// GetRuntimeContext returns the context of the code that calls it, found
// through ctx: pass the ctx the task or method was given (or one derived
// from it), since a worker may run several calls at once. In a driver,
// or with a ctx not derived from a call's, it returns the process's job,
// node, worker and namespace and an empty call (BundleIndex -1).
func GetRuntimeContext(ctx context.Context) (RuntimeContext, error) {
	rt, err := runtimeOrErr()
	if err != nil {
		return RuntimeContext{BundleIndex: -1}, err
	}
	job := rt.Job()
	rc := RuntimeContext{JobID: job.JobID, NodeID: rt.NodeID(), WorkerID: rt.WorkerID(), Namespace: job.Namespace,
		Resources: map[string]float64{}, BundleIndex: -1}
	if tc := core.TaskContextFrom(ctx); tc != nil {
		rc.TaskID, rc.ActorID, rc.GPUIDs = tc.TaskID, tc.ActorID, tc.GPUIDs
		rc.Resources = tc.Resources.ToFloat()
		rc.PlacementGroupID, rc.BundleIndex = tc.PlacementGroupID, tc.BundleIndex
	}
	return rc, nil
}

// GetGPUIDs returns the IDs of the GPUs assigned to the task or actor
// that ctx belongs to (Ray's ray.get_gpu_ids()): nil for one that asked
// for none, in a driver, and before Init.
func GetGPUIDs(ctx context.Context) []int {
	if _, err := runtimeOrErr(); err != nil {
		return nil
	}
	if tc := core.TaskContextFrom(ctx); tc != nil && len(tc.GPUIDs) > 0 {
		return tc.GPUIDs
	}
	return nil
}

// CurrentActor returns a handle to the actor whose constructor or method
// ctx belongs to (Ray's get_runtime_context().current_actor): the actor
// can pass it on, or call itself through it (asynchronously: a method
// that waits for its own call blocks unless MaxConcurrency leaves room).
// As GetActor's, the handle does not keep the actor alive. Outside an
// actor it returns an ErrInvalidOption; for an actor type other than the
// actor's, an ErrBadCall.
func CurrentActor[A any](ctx context.Context) (ActorHandle[A], error) {
	if _, err := runtimeOrErr(); err != nil {
		return ActorHandle[A]{}, err
	}
	tc := core.TaskContextFrom(ctx)
	if tc == nil || tc.ActorID == "" {
		return ActorHandle[A]{}, fmt.Errorf("%w: CurrentActor called outside an actor (or with a ctx not derived from its method's)", errs.ErrInvalidOption)
	}
	actorRegistry.RLock()
	def := actorRegistry.byType[reflect.TypeFor[*A]()]
	actorRegistry.RUnlock()
	if def == nil || def.class != tc.ActorClass {
		return ActorHandle[A]{}, fmt.Errorf("%w: CurrentActor[%v]: the current actor is a %s", errs.ErrBadCall, reflect.TypeFor[A](), tc.ActorClass)
	}
	return ActorHandle[A]{id: tc.ActorID, class: tc.ActorClass}, nil
}
