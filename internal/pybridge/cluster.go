package pybridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rayo-dev/rayo/internal/core"
	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/sched"
)

// wireStrategy is a task's or actor's scheduling strategy from Python
// (Ray's scheduling_strategy and the older placement_group options).
type wireStrategy struct {
	// Kind is "", "DEFAULT", "SPREAD" or "NODE_AFFINITY".
	Kind   string `msgpack:"k,omitempty"`
	NodeID string `msgpack:"node,omitempty"`
	Soft   bool   `msgpack:"soft,omitempty"`
	// PG and Bundle place the call in a placement group's bundle (-1: any).
	PG     string `msgpack:"pg,omitempty"`
	Bundle int    `msgpack:"b"`
	// Labels is a label selector (rayo's LabelSelector syntax).
	Labels string `msgpack:"labels,omitempty"`
}

// placement is what a call asking for res with st is scheduled with.
func placement(res map[string]float64, st *wireStrategy) (sched.Resources, sched.Strategy, error) {
	var strat sched.Strategy
	if st != nil {
		switch st.Kind {
		case "", "DEFAULT":
		case "SPREAD":
			strat.Kind = sched.StrategySpread
		case "NODE_AFFINITY":
			if st.NodeID == "" {
				return nil, strat, fmt.Errorf("%w: node affinity names no node", errs.ErrInvalidOption)
			}
			strat = sched.Strategy{Kind: sched.StrategyNodeAffinity, NodeID: st.NodeID, Soft: st.Soft}
		default:
			return nil, strat, fmt.Errorf("%w: unknown scheduling strategy %q", errs.ErrInvalidOption, st.Kind)
		}
		if st.Labels != "" {
			reqs, err := sched.ParseLabelSelector(st.Labels)
			if err != nil {
				return nil, strat, fmt.Errorf("%w: %v", errs.ErrInvalidOption, err)
			}
			strat.Labels = reqs
		}
		if st.PG != "" {
			if st.Bundle < -1 {
				return nil, strat, fmt.Errorf("%w: bundle index %d", errs.ErrInvalidOption, st.Bundle)
			}
			res = protocol.BundleResources(res, st.PG, st.Bundle)
		}
	}
	r, err := sched.FromFloat(res)
	if err != nil {
		return nil, strat, fmt.Errorf("%w: %v", errs.ErrInvalidOption, err)
	}
	return r, strat, nil
}

type (
	nodeInfo struct {
		NodeID    string             `msgpack:"id"`
		Address   string             `msgpack:"addr"`
		Hostname  string             `msgpack:"host"`
		Alive     bool               `msgpack:"alive"`
		State     string             `msgpack:"state"`
		IsHead    bool               `msgpack:"head"`
		Resources map[string]float64 `msgpack:"res"`
		Available map[string]float64 `msgpack:"avail"`
		Labels    map[string]string  `msgpack:"labels"`
		Store     int64              `msgpack:"store"`
	}
	nodesReply struct {
		Nodes []nodeInfo `msgpack:"nodes"`
	}
	pgCreateReq struct {
		Name     string               `msgpack:"name,omitempty"`
		Bundles  []map[string]float64 `msgpack:"bundles"`
		Strategy string               `msgpack:"strategy"`
		Detached bool                 `msgpack:"detached,omitempty"`
	}
	pgReq struct {
		ID        string  `msgpack:"id,omitempty"`
		Name      string  `msgpack:"name,omitempty"`
		Namespace string  `msgpack:"ns,omitempty"`
		Timeout   float64 `msgpack:"t"`
	}
	pgInfo struct {
		ID       string               `msgpack:"id"`
		Name     string               `msgpack:"name"`
		Strategy string               `msgpack:"strategy"`
		State    string               `msgpack:"state"`
		Bundles  []map[string]float64 `msgpack:"bundles"`
		Nodes    []string             `msgpack:"nodes"`
		Detached bool                 `msgpack:"detached"`
	}
	pgsReply struct {
		Groups []pgInfo `msgpack:"groups"`
	}
	readyReply struct {
		Ready bool `msgpack:"ready"`
	}
	ctxReq struct {
		ID string `msgpack:"id"`
	}
	ctxReply struct {
		Resources   map[string]float64 `msgpack:"res"`
		GPUIDs      []int              `msgpack:"gpus"`
		PG          string             `msgpack:"pg"`
		BundleIndex int                `msgpack:"bundle"`
		// Cancelled: the call was cancelled while it runs (Ray's
		// is_canceled()).
		Cancelled bool `msgpack:"cancelled"`
	}
)

func toPGInfo(in *protocol.PGInfo) pgInfo {
	out := pgInfo{ID: in.PGID, Name: in.Name, Strategy: in.Strategy.String(), State: in.State, Detached: in.Detached}
	for _, b := range in.Bundles {
		out.Bundles = append(out.Bundles, b.Resources.ToFloat())
		out.Nodes = append(out.Nodes, b.NodeID)
	}
	return out
}

func registerClusterOps(s *rpc.Server, ready func(context.Context) (*core.Runtime, error)) {
	rpc.Register(s, "py.nodes", func(ctx context.Context, _ *empty) (*nodesReply, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		st, err := rt.ClusterStatus(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		out := &nodesReply{Nodes: make([]nodeInfo, 0, len(st.Nodes))}
		for _, n := range st.Nodes {
			ni := nodeInfo{NodeID: n.Info.NodeID, Address: n.Info.Addr, Hostname: n.Info.Hostname, Alive: n.Alive,
				State: n.StateName(), IsHead: n.Info.IsHead, Resources: n.Info.Total.ToFloat(), Available: map[string]float64{},
				Labels: n.Info.Labels, Store: n.Info.StoreCapacity}
			if n.Alive {
				ni.Available = n.Available.ToFloat()
			}
			out.Nodes = append(out.Nodes, ni)
		}
		return out, nil
	})
	rpc.Register(s, "py.pg.create", func(ctx context.Context, req *pgCreateReq) (*pgInfo, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		strategy, err := sched.ParsePGStrategy(req.Strategy)
		if err != nil {
			return nil, wireError(fmt.Errorf("%w: %v", errs.ErrInvalidOption, err))
		}
		if len(req.Bundles) == 0 {
			return nil, wireError(fmt.Errorf("%w: a placement group needs at least one bundle", errs.ErrInvalidOption))
		}
		bundles := make([]sched.Resources, len(req.Bundles))
		for i, b := range req.Bundles {
			if bundles[i], err = sched.FromFloat(b); err != nil {
				return nil, wireError(fmt.Errorf("%w: bundle %d: %v", errs.ErrInvalidOption, i, err))
			}
		}
		id, err := rt.CreatePlacementGroup(ctx, req.Name, bundles, strategy, req.Detached)
		if err != nil {
			return nil, wireError(err)
		}
		info, err := rt.PlacementGroupInfo(ctx, id)
		if err != nil {
			return nil, wireError(err)
		}
		out := toPGInfo(info)
		return &out, nil
	})
	rpc.Register(s, "py.pg.ready", func(ctx context.Context, req *pgReq) (*readyReply, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		if req.Timeout >= 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Duration(req.Timeout*float64(time.Second)))
			defer cancel()
		}
		if err := rt.WaitPlacementGroup(ctx, req.ID); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return &readyReply{}, nil
			}
			return nil, wireError(err)
		}
		return &readyReply{Ready: true}, nil
	})
	rpc.Register(s, "py.pg.remove", func(ctx context.Context, req *pgReq) (*empty, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		if err := rt.RemovePlacementGroup(ctx, req.ID); err != nil {
			return nil, wireError(err)
		}
		return &empty{}, nil
	})
	rpc.Register(s, "py.pg.get", func(ctx context.Context, req *pgReq) (*pgInfo, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		var info *protocol.PGInfo
		if req.ID != "" {
			info, err = rt.PlacementGroupInfo(ctx, req.ID)
		} else {
			ns := req.Namespace
			if ns == "" {
				ns = rt.Job().Namespace
			}
			info, err = rt.PlacementGroupByName(ctx, req.Name, ns)
		}
		if err != nil {
			return nil, wireError(err)
		}
		out := toPGInfo(info)
		return &out, nil
	})
	rpc.Register(s, "py.pg.list", func(ctx context.Context, _ *empty) (*pgsReply, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		groups, err := rt.ListPlacementGroups(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		out := &pgsReply{Groups: make([]pgInfo, len(groups))}
		for i := range groups {
			out.Groups[i] = toPGInfo(&groups[i])
		}
		return out, nil
	})
}
