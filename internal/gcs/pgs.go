package gcs

import (
	"context"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/sched"
)

// Placement groups: the head places a group's bundles with the policy in
// internal/sched, then reserves them in two phases (prepare on every
// node, then commit on every node; any failed prepare cancels the
// others), so a group is never half reserved. A group that cannot be
// placed waits for the cluster to change. When a node dies, its bundles
// are placed again.

type pgEntry struct {
	info    protocol.PGInfo
	changed chan struct{}
	running bool // a placement loop is at work
}

// snapshotLocked copies the group's record, bundles included, so that a
// reply being encoded never shares memory with the placement loop.
func (g *pgEntry) snapshotLocked() protocol.PGInfo {
	info := g.info
	info.Bundles = append([]protocol.BundleState(nil), g.info.Bundles...)
	return info
}

func (s *Server) touchPGLocked(g *pgEntry) {
	s.version++
	g.info.Version = s.version
	close(g.changed)
	g.changed = make(chan struct{})
	s.savePGLocked(g)
}

func (s *Server) createPG(_ context.Context, req *protocol.CreatePGRequest) (*protocol.PGInfo, error) {
	if req.PGID == "" || len(req.Bundles) == 0 {
		return nil, rpc.Errorf(rpc.CodeBadRequest, "rayo: a placement group needs an ID and at least one bundle")
	}
	for i, b := range req.Bundles {
		if b.IsZero() {
			return nil, rpc.Errorf(rpc.CodeBadRequest, "rayo: bundle %d of the placement group is empty", i)
		}
		for name, v := range b {
			if v < 0 {
				return nil, rpc.Errorf(rpc.CodeBadRequest, "rayo: bundle %d asks for negative %s", i, name)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.pgs[req.PGID]; old != nil {
		// A creation retried across a head restart.
		if old.info.JobID == req.JobID && len(old.info.Bundles) == len(req.Bundles) {
			info := old.snapshotLocked()
			return &info, nil
		}
		return nil, rpc.Errorf(rpc.CodeBadRequest, "rayo: placement group %s exists", req.PGID)
	}
	if req.Name != "" && s.pgByNameLocked(req.Name, req.Namespace) != nil {
		return nil, rpc.Errorf(rpc.CodeBadRequest, "rayo: a placement group named %q already exists in namespace %q", req.Name, req.Namespace)
	}
	g := &pgEntry{changed: make(chan struct{}), info: protocol.PGInfo{PGID: req.PGID, Name: req.Name,
		Strategy: req.Strategy, State: protocol.PGPending, JobID: req.JobID, Detached: req.Detached,
		CreatedAt: time.Now().UnixMilli(), Namespace: req.Namespace}}
	for i, b := range req.Bundles {
		g.info.Bundles = append(g.info.Bundles, protocol.BundleState{Index: i, Resources: b.Clone()})
	}
	s.pgs[req.PGID] = g
	s.touchPGLocked(g)
	s.startPlacingLocked(g)
	info := g.snapshotLocked()
	return &info, nil
}

func (s *Server) startPlacingLocked(g *pgEntry) {
	if g.running {
		return
	}
	g.running = true
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.placePG(g) }()
}

// placePG places the group's unplaced bundles until all are, the group is
// removed, or the head stops.
func (s *Server) placePG(g *pgEntry) {
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	backoff := 50 * time.Millisecond
	defer func() {
		s.mu.Lock()
		g.running = false
		s.mu.Unlock()
	}()
	for {
		s.mu.Lock()
		if g.info.State == protocol.PGRemoved {
			s.mu.Unlock()
			return
		}
		var missing []int
		var bundles []sched.Resources
		used := map[string]bool{}
		for _, b := range g.info.Bundles {
			if b.NodeID == "" {
				missing = append(missing, b.Index)
				bundles = append(bundles, b.Resources)
			} else {
				used[b.NodeID] = true
			}
		}
		if len(missing) == 0 {
			g.info.State, g.info.Infeasible = protocol.PGCreated, false
			s.touchPGLocked(g)
			s.mu.Unlock()
			return
		}
		views, addrs := s.nodeViewLocked()
		if g.info.Strategy == sched.PGStrictSpread || g.info.Strategy == sched.PGStrictPack {
			views = constrain(views, used, g.info.Strategy)
		}
		changed := s.nodesChanged
		assign, ok, infeasible := sched.PlaceBundles(bundles, g.info.Strategy, views, rnd)
		if !ok {
			if infeasible != g.info.Infeasible {
				g.info.Infeasible = infeasible
				s.touchPGLocked(g)
				if infeasible {
					s.cfg.Log.Warn("infeasible placement group: no set of nodes can ever hold it; it waits until they join",
						"pg", g.info.PGID, "strategy", g.info.Strategy.String())
				}
			}
			s.mu.Unlock()
			select {
			case <-changed:
			case <-time.After(time.Second):
			case <-s.stop:
				return
			}
			continue
		}
		s.mu.Unlock()
		if s.reserve(g, missing, bundles, assign, addrs) {
			backoff = 50 * time.Millisecond
			continue
		}
		select {
		case <-time.After(backoff):
		case <-s.stop:
			return
		}
		backoff = min(backoff*2, time.Second)
	}
}

// constrain keeps a strict group's constraint for bundles placed again:
// STRICT_SPREAD avoids nodes that hold its other bundles, STRICT_PACK
// sticks to the node that does.
func constrain(views []sched.NodeView, used map[string]bool, st sched.PGStrategy) []sched.NodeView {
	if len(used) == 0 {
		return views
	}
	var out []sched.NodeView
	for _, v := range views {
		if (st == sched.PGStrictSpread) != used[v.ID] {
			out = append(out, v)
		}
	}
	return out
}

// reserve runs the two phases for the given bundles; false if any node
// refused (what was prepared is given back).
func (s *Server) reserve(g *pgEntry, idx []int, bundles []sched.Resources, assign []string, addrs map[string]string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reqs := make([]*protocol.BundleRequest, len(idx))
	for i := range idx {
		reqs[i] = &protocol.BundleRequest{PGID: g.info.PGID, Index: idx[i], Resources: bundles[i]}
	}
	errs := make([]error, len(idx))
	var wg sync.WaitGroup
	for i := range idx {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.nodeClient(ctx, addrs[assign[i]])
			if err == nil {
				err = c.Call(ctx, protocol.NodePrepareBundle, reqs[i], nil)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	failed := false
	for _, e := range errs {
		failed = failed || e != nil
	}
	phase := protocol.NodeCommitBundle
	if failed {
		phase = protocol.NodeReturnBundle
	}
	for i := range idx {
		if errs[i] != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c, err := s.nodeClient(ctx, addrs[assign[i]]); err == nil {
				if err := c.Call(ctx, phase, reqs[i], nil); err != nil && phase == protocol.NodeCommitBundle {
					errs[i] = err
				}
			}
		}()
	}
	wg.Wait()
	if failed {
		return false
	}
	s.mu.Lock()
	removed := g.info.State == protocol.PGRemoved
	if !removed {
		for i, bi := range idx {
			if errs[i] == nil {
				g.info.Bundles[bi].NodeID = assign[i]
			}
		}
		s.touchPGLocked(g)
	}
	s.mu.Unlock()
	if removed {
		s.returnBundles(g, idx, assign, addrs)
	}
	return true
}

func (s *Server) returnBundles(g *pgEntry, idx []int, nodes []string, addrs map[string]string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, bi := range idx {
		if nodes[i] == "" {
			continue
		}
		if c, err := s.nodeClient(ctx, addrs[nodes[i]]); err == nil {
			_ = c.Call(ctx, protocol.NodeReturnBundle, &protocol.BundleRequest{PGID: g.info.PGID, Index: bi}, nil)
		}
	}
}

// removePG frees a group's bundles; the tasks and actors in it end.
func (s *Server) removePG(_ context.Context, req *protocol.RemovePGRequest) (*protocol.Empty, error) {
	s.mu.Lock()
	g := s.pgs[req.PGID]
	if g == nil {
		s.mu.Unlock()
		return nil, rpc.Errorf(protocol.CodePGNotFound, "rayo: no placement group %s", req.PGID)
	}
	if g.info.State == protocol.PGRemoved {
		s.mu.Unlock()
		return &protocol.Empty{}, nil
	}
	var idx []int
	var nodes []string
	for _, b := range g.info.Bundles {
		idx, nodes = append(idx, b.Index), append(nodes, b.NodeID)
	}
	_, addrs := s.nodeViewLocked()
	g.info.State = protocol.PGRemoved
	s.touchPGLocked(g)
	s.mu.Unlock()
	s.returnBundles(g, idx, nodes, addrs)
	return &protocol.Empty{}, nil
}

func (s *Server) getPG(ctx context.Context, req *protocol.GetPGRequest) (*protocol.PGInfo, error) {
	return longPoll(ctx, s, req.AfterVersion, func() (protocol.PGInfo, uint64, <-chan struct{}, error) {
		g := s.pgs[req.PGID]
		if g == nil {
			return protocol.PGInfo{}, 0, nil, rpc.Errorf(protocol.CodePGNotFound, "rayo: no placement group %s", req.PGID)
		}
		return g.snapshotLocked(), g.info.Version, g.changed, nil
	})
}

func (s *Server) listPGs(context.Context, *protocol.Empty) (*protocol.ListPGsReply, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &protocol.ListPGsReply{Groups: s.pgInfosLocked()}, nil
}

func (s *Server) pgInfosLocked() []protocol.PGInfo {
	out := make([]protocol.PGInfo, 0, len(s.pgs))
	for _, g := range s.pgs {
		out = append(out, g.snapshotLocked())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PGID < out[j].PGID })
	return out
}

// nodeLostBundles re-places the bundles a dead node held.
func (s *Server) nodeLostBundlesLocked(nodeID string) {
	for _, g := range s.pgs {
		if g.info.State == protocol.PGRemoved {
			continue
		}
		lost := false
		for i := range g.info.Bundles {
			if g.info.Bundles[i].NodeID == nodeID {
				g.info.Bundles[i].NodeID = ""
				lost = true
			}
		}
		if lost {
			g.info.State = protocol.PGRescheduling
			s.touchPGLocked(g)
			s.startPlacingLocked(g)
		}
	}
}

// endJobPGs removes the job's groups that are not detached.
func (s *Server) endJobPGs(jobID string) {
	s.mu.Lock()
	var ids []string
	for id, g := range s.pgs {
		if g.info.JobID == jobID && !g.info.Detached && g.info.State != protocol.PGRemoved {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	for _, id := range ids {
		_, _ = s.removePG(context.Background(), &protocol.RemovePGRequest{PGID: id})
	}
}
