package train

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/rayo-dev/rayo"
)

// group is one attempt's workers, in rank order.
type group struct {
	pg      *rayo.PlacementGroup
	workers []rayo.ActorHandle[worker]
	infos   []workerInfo
}

// fitWorkers says how many workers the live nodes can hold, by their
// total resources: NumWorkers if they all fit, fewer down to MinWorkers,
// else ErrInfeasible at once (waiting would never end).
func fitWorkers(ctx context.Context, sc ScalingConfig) (int, error) {
	nodes, err := rayo.Nodes(ctx)
	if err != nil {
		return 0, err
	}
	b := sc.bundle()
	var perNode []int
	for _, n := range nodes {
		if !n.Alive || n.State == "DRAINING" {
			continue
		}
		k := math.MaxInt
		for name, want := range b {
			if want > 0 {
				k = min(k, int(math.Floor(n.Resources[name]/want+1e-9)))
			}
		}
		if k > 0 {
			perNode = append(perNode, k)
		}
	}
	if len(perNode) == 0 {
		return 0, fmt.Errorf("%w: a worker needs %v and no live node has that much", ErrInfeasible, b)
	}
	total := 0
	switch sc.PlacementStrategy {
	case rayo.STRICT_PACK:
		total = slices.Max(perNode)
	case rayo.STRICT_SPREAD:
		total = len(perNode)
	default:
		for _, k := range perNode {
			total += k
		}
	}
	if total < sc.MinWorkers {
		what := "MinWorkers"
		if sc.MinWorkers == sc.NumWorkers {
			what = "NumWorkers"
		}
		return 0, fmt.Errorf("%w: the live nodes hold %d workers of %v (strategy %v); %s is %d", ErrInfeasible, total, b, sc.PlacementStrategy, what, sc.MinWorkers)
	}
	return min(total, sc.NumWorkers), nil
}

// place reserves n bundles, and if the cluster does not within
// PlacementTimeout, fewer down to MinWorkers.
func place(ctx context.Context, sc ScalingConfig, n int) (*rayo.PlacementGroup, error) {
	b := sc.bundle()
	for ; n >= sc.MinWorkers; n-- {
		bundles := make([]map[string]float64, n)
		for i := range bundles {
			bundles[i] = b
		}
		pg, err := rayo.NewPlacementGroup(ctx, bundles, sc.PlacementStrategy)
		if err != nil {
			return nil, err
		}
		wctx, cancel := context.WithTimeout(ctx, sc.PlacementTimeout)
		err = pg.Ready(wctx)
		cancel()
		if err == nil {
			return pg, nil
		}
		_ = rayo.RemovePlacementGroup(context.WithoutCancel(ctx), pg)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w: %d workers of %v were not placed within %v", ErrPlacementTimeout, sc.MinWorkers, b, sc.PlacementTimeout)
}

// startWorkers creates one worker per bundle and orders them into ranks.
func startWorkers(ctx context.Context, pg *rayo.PlacementGroup, bundle map[string]float64, spec workerSpec) (*group, error) {
	n := pg.BundleCount()
	g := &group{pg: pg}
	for i := range n {
		h, err := workerType.Options(rayo.InPlacementGroup(pg, i), rayo.Resources(bundle), rayo.MaxConcurrency(4)).New(ctx, spec)
		if err != nil {
			g.kill(ctx)
			return nil, err
		}
		g.workers = append(g.workers, h)
	}
	infos := make([]workerInfo, n)
	for i, h := range g.workers {
		info, err := workerInfoM.Remote(h).Get(ctx)
		if err != nil {
			g.kill(ctx)
			return nil, err
		}
		infos[i] = info
	}
	order := rankOrder(infos)
	g.workers = permute(g.workers, order)
	g.infos = permute(infos, order)
	return g, nil
}

// rankOrder orders workers by node (in order of first appearance), then
// by their lowest GPU, then by bundle: order[rank] is a bundle index.
func rankOrder(infos []workerInfo) []int {
	nodeIdx := map[string]int{}
	for _, in := range infos {
		if _, ok := nodeIdx[in.NodeID]; !ok {
			nodeIdx[in.NodeID] = len(nodeIdx)
		}
	}
	lowGPU := func(in workerInfo) int {
		if len(in.GPUIDs) == 0 {
			return math.MaxInt
		}
		return slices.Min(in.GPUIDs)
	}
	order := make([]int, len(infos))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(nodeIdx[infos[a].NodeID], nodeIdx[infos[b].NodeID]), cmp.Compare(lowGPU(infos[a]), lowGPU(infos[b])))
	})
	return order
}

func permute[T any](s []T, order []int) []T {
	out := make([]T, len(order))
	for rank, i := range order {
		out[rank] = s[i]
	}
	return out
}

// contexts gives each rank its Context.
func contexts(infos []workerInfo, base Context) []Context {
	nodeRank := map[string]int{}
	localSize := map[string]int{}
	for _, in := range infos {
		if _, ok := nodeRank[in.NodeID]; !ok {
			nodeRank[in.NodeID] = len(nodeRank)
		}
		localSize[in.NodeID]++
	}
	seen := map[string]int{}
	out := make([]Context, len(infos))
	for rank, in := range infos {
		c := base
		c.WorldSize, c.WorldRank = len(infos), rank
		c.LocalRank, c.LocalWorldSize = seen[in.NodeID], localSize[in.NodeID]
		c.NodeRank, c.NumNodes, c.NodeID, c.GPUIDs = nodeRank[in.NodeID], len(nodeRank), in.NodeID, in.GPUIDs
		seen[in.NodeID]++
		out[rank] = c
	}
	return out
}

// stopWait bounds how long the group's loops get to return once told to
// stop: a script's SIGTERM grace, and a little more.
const stopWait = 7 * time.Second

// kill stops every worker's loop (a script and its process group with
// it), then ends the workers and frees the group's reservation.
func (g *group) kill(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	sctx, cancel := context.WithTimeout(ctx, stopWait)
	var wg sync.WaitGroup
	for _, h := range g.workers {
		wg.Go(func() { _, _ = workerStopM.Remote(h).Get(sctx) })
	}
	wg.Wait()
	cancel()
	for _, h := range g.workers {
		_ = rayo.Kill(ctx, h, true)
	}
	if g.pg != nil {
		_ = rayo.RemovePlacementGroup(ctx, g.pg)
	}
}
