package rayo

import (
	"context"
	"fmt"
	"reflect"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/sched"
)

// PlacementStrategy says how a placement group's bundles spread over
// nodes. It is rayo's own type (the scheduler's is internal), with the
// scheduler's values, so that converting it costs nothing.
type PlacementStrategy int

// The placement strategies, as in Ray.
const (
	// PACK puts bundles on as few nodes as possible (best effort).
	PACK = PlacementStrategy(sched.PGPack)
	// SPREAD puts bundles on distinct nodes where possible (best effort).
	SPREAD = PlacementStrategy(sched.PGSpread)
	// STRICT_PACK puts every bundle on one node, or waits.
	STRICT_PACK = PlacementStrategy(sched.PGStrictPack)
	// STRICT_SPREAD puts every bundle on a different node, or waits.
	STRICT_SPREAD = PlacementStrategy(sched.PGStrictSpread)
)

// String returns Ray's name for s: "PACK", "SPREAD", "STRICT_PACK" or
// "STRICT_SPREAD".
func (s PlacementStrategy) String() string { return sched.PGStrategy(s).String() }

// ErrPlacementGroupRemoved: the group was removed (Ready, and work in it).
var ErrPlacementGroupRemoved = errs.ErrPlacementGroupRemoved

// PlacementGroup is a set of resource bundles reserved together, all or
// none, across nodes. Tasks and actors run in it with InPlacementGroup.
type PlacementGroup struct {
	id      string
	bundles int
	name    string
}

// PlacementGroupOption configures NewPlacementGroup.
type PlacementGroupOption func(*pgOptions)

type pgOptions struct {
	name     string
	detached bool
}

// PlacementGroupName names the group (shown by rayo status), as Ray's
// placement_group(name=...): unique among the live groups of the job's
// namespace (a taken name is ErrInvalidOption), found by GetPlacementGroup.
func PlacementGroupName(name string) PlacementGroupOption {
	return func(o *pgOptions) { o.name = name }
}

// PlacementGroupDetached keeps the group after the job ends (until
// removed).
func PlacementGroupDetached() PlacementGroupOption {
	return func(o *pgOptions) { o.detached = true }
}

// NewPlacementGroup asks the cluster to reserve bundles, each a resource
// map such as {"CPU": 1, "GPU": 1}, with a strategy. It returns at once;
// Ready waits until every bundle is reserved. A group no set of nodes can
// hold stays pending (rayo status shows it) and is placed when nodes that
// fit join.
func NewPlacementGroup(ctx context.Context, bundles []map[string]float64, strategy PlacementStrategy, opts ...PlacementGroupOption) (*PlacementGroup, error) {
	rt, err := runtimeOrErr()
	if err != nil {
		return nil, err
	}
	if len(bundles) == 0 {
		return nil, fmt.Errorf("%w: a placement group needs at least one bundle", errs.ErrInvalidOption)
	}
	if strategy < PACK || strategy > STRICT_SPREAD {
		return nil, fmt.Errorf("%w: unknown placement strategy %d", errs.ErrInvalidOption, strategy)
	}
	var o pgOptions
	for _, f := range opts {
		f(&o)
	}
	res := make([]sched.Resources, len(bundles))
	for i, b := range bundles {
		r, err := sched.FromFloat(b)
		if err != nil {
			return nil, fmt.Errorf("%w: bundle %d: %v", errs.ErrInvalidOption, i, err)
		}
		if r.IsZero() {
			return nil, fmt.Errorf("%w: bundle %d is empty", errs.ErrInvalidOption, i)
		}
		res[i] = r
	}
	id, err := rt.CreatePlacementGroup(ctx, o.name, res, sched.PGStrategy(strategy), o.detached)
	if err != nil {
		return nil, err
	}
	return &PlacementGroup{id: id, bundles: len(bundles), name: o.name}, nil
}

// ID is the group's ID.
func (pg *PlacementGroup) ID() string { return pg.id }

// Name is the group's name ("" if unnamed), set with PlacementGroupName
// (Ray's placement_group(name=...)).
func (pg *PlacementGroup) Name() string { return pg.name }

// BundleCount is the number of bundles.
func (pg *PlacementGroup) BundleCount() int { return pg.bundles }

// Ready waits until every bundle is reserved, or ctx ends (the group then
// stays pending).
func (pg *PlacementGroup) Ready(ctx context.Context) error {
	rt, err := runtimeOrErr()
	if err != nil {
		return err
	}
	return rt.WaitPlacementGroup(ctx, pg.id)
}

// BundleNodes returns the node each bundle is reserved on ("" while not
// placed).
func (pg *PlacementGroup) BundleNodes(ctx context.Context) ([]string, error) {
	rt, err := runtimeOrErr()
	if err != nil {
		return nil, err
	}
	info, err := rt.PlacementGroupInfo(ctx, pg.id)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(info.Bundles))
	for i, b := range info.Bundles {
		out[i] = b.NodeID
	}
	return out, nil
}

// RemovePlacementGroup frees the group's reservations; the tasks and
// actors running in it are stopped. ctx bounds the wait for the head
// (Ray's ray.util.remove_placement_group).
func RemovePlacementGroup(ctx context.Context, pg *PlacementGroup) error {
	rt, err := runtimeOrErr()
	if err != nil {
		return err
	}
	if pg == nil || pg.id == "" {
		return fmt.Errorf("%w: RemovePlacementGroup needs a placement group", errs.ErrInvalidOption)
	}
	return rt.RemovePlacementGroup(ctx, pg.id)
}

// GetPlacementGroup returns the live placement group named name (Ray's
// ray.util.get_placement_group). Names are scoped, as in Ray, to the
// namespace of the job that created the group: this job's by default, or
// the one given with the Namespace option (no other option applies). A
// name is unique among live groups of its namespace (NewPlacementGroup
// with a taken one fails with ErrInvalidOption) and is free again once
// the group is removed. ErrPlacementGroupNotFound if there is none.
func GetPlacementGroup(ctx context.Context, name string, opts ...Option) (*PlacementGroup, error) {
	rt, err := runtimeOrErr()
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("%w: GetPlacementGroup needs a name", errs.ErrInvalidOption)
	}
	o := defaultActorOptions()
	for _, f := range opts {
		if err := f(&o); err != nil {
			return nil, err
		}
	}
	ns := o.namespace
	rest := o
	rest.namespace, rest.set = "", 0
	if !reflect.DeepEqual(rest, defaultActorOptions()) {
		return nil, fmt.Errorf("%w: GetPlacementGroup takes only the Namespace option", errs.ErrInvalidOption)
	}
	if ns == "" {
		ns = currentNamespace()
	}
	info, err := rt.PlacementGroupByName(ctx, name, ns)
	if err != nil {
		return nil, err
	}
	return &PlacementGroup{id: info.PGID, bundles: len(info.Bundles), name: info.Name}, nil
}

// InPlacementGroup runs a task or actor in a bundle of pg: bundleIndex
// picks one, -1 any. The task's resources are taken from the bundle's
// reservation, so they must fit in it.
func InPlacementGroup(pg *PlacementGroup, bundleIndex int) Option {
	return func(o *callOptions) error {
		if pg == nil || pg.id == "" {
			return fmt.Errorf("%w: InPlacementGroup needs a placement group", errs.ErrInvalidOption)
		}
		if bundleIndex < -1 || bundleIndex >= pg.bundles {
			return fmt.Errorf("%w: bundle index %d outside 0..%d (or -1 for any)", errs.ErrInvalidOption, bundleIndex, pg.bundles-1)
		}
		o.pg, o.pgBundle = pg.id, bundleIndex
		return nil
	}
}

// LabelSelector places a task or actor only on nodes whose labels
// (rayo start --labels) match expr: comma-separated requirements such as
// "zone=us-east", "zone!=x", "zone in (a,b)", "zone notin (a,b)", "gpu"
// (exists) and "!gpu" (does not exist).
func LabelSelector(expr string) Option {
	return func(o *callOptions) error {
		reqs, err := sched.ParseLabelSelector(expr)
		if err != nil {
			return fmt.Errorf("%w: %v", errs.ErrInvalidOption, err)
		}
		o.labels = reqs
		return nil
	}
}
