package serve

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rayo-dev/rayo"
)

// A deployment with PlacementGroupBundles gives each replica a placement
// group of its own (Ray's placement_group_bundles): the controller
// reserves it before the replica starts, runs the replica in bundle 0 and
// removes the group with the replica. The group is detached (it outlives
// the job that started Serve, as the replica does) and named after the
// replica, so that a restarted controller finds it from the replica names
// it recorded.

// replicaGroupName is the name of replica's placement group.
func replicaGroupName(replica string) string { return replica + "/pg" }

// pgWait bounds how long one reconcile round waits for a replica's group
// to be placed: a group the cluster cannot hold yet must not stall the
// other deployments. The replica stays STARTING and the next round waits
// again.
const pgWait = 2 * time.Second

// placeGroup reserves r's placement group, once, and waits for it up to
// pgWait; it reports whether the group is placed. Called from the loop.
func (c *controllerActor) placeGroup(ctx context.Context, r *replicaState, spec *depSpec) (bool, error) {
	if r.pg == nil {
		pg, err := rayo.NewPlacementGroup(ctx, spec.Bundles, spec.Strategy,
			rayo.PlacementGroupName(replicaGroupName(r.ref.ID)), rayo.PlacementGroupDetached())
		if err != nil {
			return false, err
		}
		r.pg = pg
	}
	wctx, cancel := context.WithTimeout(ctx, pgWait)
	defer cancel()
	err := r.pg.Ready(wctx)
	if err != nil && wctx.Err() != nil && ctx.Err() == nil {
		if !r.pgWaitLogged {
			r.pgWaitLogged = true
			c.log.Warn("a replica's placement group cannot be placed yet; the replica stays STARTING", "replica", r.ref.ID,
				"bundles", spec.Bundles, "strategy", spec.Strategy.String())
		}
		return false, nil
	}
	return err == nil, err
}

// removeGroup frees r's placement group, if it has one.
func (c *controllerActor) removeGroup(ctx context.Context, r *replicaState) {
	if r.pg == nil {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := rayo.RemovePlacementGroup(rctx, r.pg)
	if err != nil && !errors.Is(err, rayo.ErrPlacementGroupNotFound) && !errors.Is(err, rayo.ErrPlacementGroupRemoved) {
		c.log.Warn("removing a replica's placement group", "replica", r.ref.ID, "err", err)
	}
}

// findGroup returns the group an earlier controller reserved for replica,
// nil if there is none.
func findGroup(ctx context.Context, replica string) *rayo.PlacementGroup {
	pg, err := rayo.GetPlacementGroup(ctx, replicaGroupName(replica))
	if err != nil {
		return nil
	}
	return pg
}

// fitsSomeNode reports whether one of nodes (their total resources) has
// want.
func fitsSomeNode(nodes []map[string]float64, want map[string]float64) bool {
	for _, n := range nodes {
		ok := true
		for k, v := range want {
			if v > 0 && n[k] < v {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// checkBundlesFeasible fails when no set of the alive nodes could hold a
// replica's placement group: a bundle no node has room for, STRICT_PACK
// bundles no one node holds together, or fewer nodes than STRICT_SPREAD
// bundles.
func checkBundlesFeasible(nodes []map[string]float64, d *depSpec) error {
	sum := map[string]float64{}
	for i, b := range d.Bundles {
		if !fitsSomeNode(nodes, b) {
			return fmt.Errorf("%w: deployment %s: no node can hold PlacementGroupBundles[%d] (%v)", ErrUnavailable, d.Name, i, b)
		}
		for k, v := range b {
			sum[k] += v
		}
	}
	switch {
	case d.Strategy == rayo.STRICT_PACK && !fitsSomeNode(nodes, sum):
		return fmt.Errorf("%w: deployment %s: no node can hold all its PlacementGroupBundles together (STRICT_PACK, %v)", ErrUnavailable, d.Name, sum)
	case d.Strategy == rayo.STRICT_SPREAD && len(d.Bundles) > len(nodes):
		return fmt.Errorf("%w: deployment %s: STRICT_SPREAD needs a node per bundle: %d bundles, %d nodes", ErrUnavailable, d.Name, len(d.Bundles), len(nodes))
	}
	return nil
}

// ReplicaContext describes the replica that runs the calling code (Ray's
// serve.get_replica_context()).
type ReplicaContext struct {
	App        string
	Deployment string
	ReplicaID  string
	// PlacementGroup is the replica's own group (PlacementGroupBundles),
	// nil without one. The replica runs in bundle 0; its code places work
	// in the other bundles with rayo.InPlacementGroup(pg, i).
	PlacementGroup *rayo.PlacementGroup
}

// replicaContexts are this process's replicas' contexts by actor ID: a
// worker may host several replicas, and the runtime context of a call
// names its actor.
var replicaContexts = struct {
	sync.RWMutex
	m map[string]ReplicaContext
}{m: map[string]ReplicaContext{}}

// GetReplicaContext returns the context of the replica whose constructor,
// method or HTTP handler ctx was given to (or derives from); the zero
// ReplicaContext outside a replica.
func GetReplicaContext(ctx context.Context) ReplicaContext {
	rc, err := rayo.GetRuntimeContext(ctx)
	if err != nil || rc.ActorID == "" {
		return ReplicaContext{}
	}
	replicaContexts.RLock()
	defer replicaContexts.RUnlock()
	return replicaContexts.m[rc.ActorID]
}

// setReplicaContext records, as a replica starts, what GetReplicaContext
// returns in it.
func setReplicaContext(ctx context.Context, spec replicaSpec) error {
	rc, err := rayo.GetRuntimeContext(ctx)
	if err != nil {
		return err
	}
	c := ReplicaContext{App: spec.App, Deployment: spec.Deployment, ReplicaID: spec.ID}
	if rc.PlacementGroupID != "" {
		pg, err := rayo.GetPlacementGroup(ctx, replicaGroupName(spec.ID))
		if err != nil {
			return fmt.Errorf("serve: replica %s: its placement group: %w", spec.ID, err)
		}
		c.PlacementGroup = pg
	}
	replicaContexts.Lock()
	replicaContexts.m[rc.ActorID] = c
	replicaContexts.Unlock()
	return nil
}
