package node

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/rayo-dev/rayo/internal/gpu"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/sched"
)

// leaseReq is a lease request waiting in the node's queue.
type leaseReq struct {
	req      *protocol.LeaseRequest
	peer     *rpc.Peer
	done     chan struct{}
	reply    *protocol.LeaseReply
	err      error
	finished bool
	// infeasible is set while no node in the cluster view can hold it;
	// warned makes the warning appear once.
	infeasible bool
	// pickedHere: a SPREAD pick chose this node; it is not picked again.
	pickedHere bool
	// groupChecked: the head was asked whether the request's placement
	// group still exists.
	groupChecked bool
	warned       bool
	// unknownSeen is when a view first lacked the node a hard affinity
	// names (see affinityGoneLocked).
	unknownSeen time.Time
	queuedAt    time.Time
}

// finish answers the request; the node's lock is held.
func (r *leaseReq) finish(reply *protocol.LeaseReply, err error) {
	if r.finished {
		return
	}
	r.finished = true
	r.reply, r.err = reply, err
	close(r.done)
}

// jobKey names the node's entry for a request's job. Detached actors get
// an entry of their own, which the job's end does not touch: their
// workers outlive the job, and they may restart after it. A call
// environment (EnvVars) gets an entry of its own too: its workers serve
// only calls of that environment.
func jobKey(req *protocol.LeaseRequest) string {
	k := req.Job.JobID
	if req.Detached {
		k += "/detached"
	}
	if req.EnvKey != "" {
		k += "#" + req.EnvKey
	}
	return k
}

// lease is a granted worker and the resources it holds.
type lease struct {
	lent         bool // its CPUs are lent while its worker waits on Get
	lentCPU      int64
	lentDepth    int // the nesting depth of the task that waits (blocked.go)
	gpuIDs       []int
	bundleGPUs   *gpu.Allocator // the bundle allocator its GPUs came from
	bundleAmount float64
	id           string
	worker       *worker
	resources    sched.Resources
	peer         *rpc.Peer
}

func (n *Node) requestLease(ctx context.Context, req *protocol.LeaseRequest) (*protocol.LeaseReply, error) {
	if req.Job.JobID == "" {
		return nil, rpc.Errorf(rpc.CodeBadRequest, "node: lease request without a job")
	}
	for name, v := range req.Resources {
		if v < 0 {
			return nil, rpc.Errorf(rpc.CodeBadRequest, "node: resource %q is negative", name)
		}
	}
	if err := protocol.CheckEnv(req.Env); err != nil {
		return nil, rpc.Errorf(rpc.CodeBadRequest, "node: lease request: %v", err)
	}
	if req.EnvKey != protocol.EnvKey(n.cfg.Token, req.Env) {
		// The key decides which workers may serve it: it must be the
		// environment's.
		return nil, rpc.Errorf(rpc.CodeBadRequest, "node: lease request: environment key does not match its environment")
	}
	r := &leaseReq{req: req, peer: rpc.PeerFrom(ctx), done: make(chan struct{}), queuedAt: time.Now()}
	n.mu.Lock()
	if n.stopping {
		n.mu.Unlock()
		return nil, errStopping
	}
	_, err := n.jobLocked(&req.Job, jobKey(req), req.Env)
	if err != nil {
		n.mu.Unlock()
		return nil, err
	}
	if req.RequestID != "" {
		n.pending[req.RequestID] = r
	}
	n.queue = append(n.queue, r)
	n.scheduleLocked()
	n.mu.Unlock()

	select {
	case <-r.done:
	case <-ctx.Done():
		n.mu.Lock()
		r.finish(nil, ctx.Err())
		n.scheduleLocked()
		n.mu.Unlock()
	}
	if req.RequestID != "" {
		n.mu.Lock()
		if n.pending[req.RequestID] == r {
			delete(n.pending, req.RequestID)
		}
		n.mu.Unlock()
	}
	// A grant whose requester went away in the meantime is returned at
	// once by the peer's close hook (see grantLocked).
	return r.reply, r.err
}

// cancelLease withdraws a queued lease request: its requester no longer
// has tasks for it. A request already granted is unaffected (the
// requester returns the lease).
func (n *Node) cancelLease(_ context.Context, req *protocol.CancelLeaseRequest) (*protocol.Empty, error) {
	n.mu.Lock()
	if r := n.pending[req.RequestID]; r != nil {
		r.finish(nil, rpc.Errorf(protocol.CodeLeaseCancelled, "node: lease request withdrawn"))
		delete(n.pending, req.RequestID)
		n.scheduleLocked()
	}
	n.mu.Unlock()
	return &protocol.Empty{}, nil
}

func (n *Node) returnLease(_ context.Context, req *protocol.ReturnLeaseRequest) (*protocol.Empty, error) {
	n.mu.Lock()
	l := n.leases[req.LeaseID]
	if l != nil {
		n.releaseLocked(l, req.Disconnect)
		n.scheduleLocked()
	}
	n.mu.Unlock()
	if l != nil && req.Disconnect {
		l.worker.kill()
	}
	return &protocol.Empty{}, nil
}

// releaseLocked frees a lease's resources and puts its worker back in the
// pool, unless the worker is going away.
func (n *Node) releaseLocked(l *lease, discard bool) {
	if n.leases[l.id] != l {
		return
	}
	delete(n.leases, l.id)
	if l.peer != nil {
		delete(n.peerLeases[l.peer], l.id)
	}
	defer n.checkDrainedLocked()
	if l.gpuIDs != nil && l.resources["GPU"] > 0 {
		n.gpus.Release(l.gpuIDs, float64(l.resources["GPU"])/sched.Unit)
	}
	if l.bundleGPUs != nil {
		l.bundleGPUs.Release(l.gpuIDs, l.bundleAmount)
		l.bundleGPUs = nil
	}
	l.gpuIDs = nil
	ret := l.resources.Clone()
	if l.lent {
		// Its CPUs were given back when it blocked.
		ret["CPU"] = 0
		l.lent = false
	}
	n.available.Add(ret)
	w := l.worker
	w.lease = nil
	if w.dedicated && !w.dead {
		// An actor's worker holds the actor's state: it ends with it.
		w.dead = true
		w.kill()
		return
	}
	if discard || w.dead {
		return
	}
	w.idleSince = time.Now()
	j := n.jobs[w.jobID]
	if j != nil && !j.dead {
		j.idle = append(j.idle, w)
	}
}

// clusterViewLocked is the policy's input: the head's last view, with this
// node's own entry replaced by its exact current state.
func (n *Node) clusterViewLocked() []sched.NodeView {
	views := make([]sched.NodeView, 0, len(n.view)+1)
	self := false
	for _, s := range n.view {
		v := sched.NodeView{ID: s.Info.NodeID, Total: s.Info.Total, Available: s.Available,
			Labels: s.Info.Labels, Alive: s.Alive, Draining: s.Draining}
		if v.ID == n.cfg.NodeID {
			v.Total, v.Available, v.Alive, self = n.total, n.available, true, true
			v.Draining = n.draining
		}
		views = append(views, v)
	}
	if !self {
		views = append(views, sched.NodeView{ID: n.cfg.NodeID, Total: n.total,
			Available: n.available, Labels: n.cfg.Labels, Alive: true})
	}
	return views
}

func (n *Node) nodeAddrLocked(id string) string {
	for _, s := range n.view {
		if s.Info.NodeID == id {
			return s.Info.Addr
		}
	}
	return ""
}

// scheduleLocked walks the queue in order and grants, redirects or keeps
// each request. It is called after every change that could unblock one.
func (n *Node) scheduleLocked() {
	if n.stopping {
		return
	}
	var view []sched.NodeView
	kept := n.queue[:0]
	for _, r := range n.queue {
		if r.finished {
			continue
		}
		if view == nil {
			view = n.clusterViewLocked()
		}
		if !n.placeLocked(r, view) {
			kept = append(kept, r)
		} else {
			view = nil // availability changed
		}
	}
	for i := len(kept); i < len(n.queue); i++ {
		n.queue[i] = nil
	}
	n.queue = kept
}

// placeLocked decides one request; it reports whether the request left the
// queue.
func (n *Node) placeLocked(r *leaseReq, view []sched.NodeView) bool {
	req := r.req
	if n.draining && req.Spilled && !req.Dedicated {
		// Sent here before the sender knew this node is draining.
		r.finish(&protocol.LeaseReply{Rejected: true}, nil)
		return true
	}
	reserved := n.reservedCPULocked(req.Depth) // for deeper tasks (blocked.go)
	local := req.Resources.FitsIn(n.total)
	if (!req.Spilled || !local) && !r.pickedHere {
		d, next := sched.Pick(req.Resources, n.viewLessLocked(view, reserved), n.cfg.NodeID, req.Strategy, sched.Options{}, n.rnd, n.spreadIdx)
		if d.Outcome != sched.Infeasible {
			n.spreadIdx = next
		}
		if d.Outcome == sched.Place && d.NodeID == n.cfg.NodeID && req.Strategy.Kind == sched.StrategySpread &&
			n.viewAt.After(r.queuedAt) {
			// Keep a spread pick made on a current view: passes while
			// the worker starts must not move the request on.
			r.pickedHere = true
		}
		switch {
		case d.Outcome == sched.Unschedulable:
			if n.affinityGoneLocked(r, view, d.NodeID) {
				r.finish(nil, rpc.Errorf(protocol.CodeNodeAffinityUnavailable,
					"rayo: task %s has a hard node affinity to node %s, which is dead or not in the cluster", req.Name, d.NodeID))
				return true
			}
			return false
		case d.Outcome == sched.Infeasible:
			if !n.viewAt.After(r.queuedAt) {
				// The view predates the request: a node that fits may
				// have joined since. Decide on the next view.
				return false
			}
			if groupUnplaced(req.Resources, view) {
				// Its group waits for room: pending, not infeasible (Ray).
				r.infeasible = false
				n.checkGroupRemovedLocked(r)
				return false
			}
			if !r.warned {
				r.warned = true
				n.warnInfeasibleLocked(r)
			}
			r.infeasible = true
			n.checkGroupRemovedLocked(r)
			return false
		case d.NodeID != n.cfg.NodeID:
			addr := n.nodeAddrLocked(d.NodeID)
			if addr == "" {
				return false
			}
			r.finish(&protocol.LeaseReply{RetryAt: addr, RetryNodeID: d.NodeID, QueueThere: d.Outcome == sched.Queue}, nil)
			return true
		}
	}
	r.infeasible = false
	extra, roomy := n.bundleExtraLocked(req.Resources) // a bundle is one pool (bundles.go)
	if !roomy || !fitsLess(req.Resources, n.available, reserved) || !extra.FitsIn(n.available) {
		if req.Spilled && !req.QueueHere && !req.Dedicated && local {
			// Sent here on a view that was out of date: this node is busy.
			// Give the request back (Ray's grant-or-reject) rather than
			// keep it while other nodes may be idle.
			r.finish(&protocol.LeaseReply{Rejected: true}, nil)
			return true
		}
		return false
	}
	j := n.jobs[jobKey(req)]
	if j == nil || j.dead {
		r.finish(nil, rpc.Errorf(protocol.CodeJobDead, "node: job %s has ended", req.Job.JobID))
		return true
	}
	if j.err != nil {
		r.finish(nil, j.err)
		return true
	}
	gpuIDs, bundleGPUs, bundleAmount := n.bundleGPUsLocked(req.Resources)
	if g := req.Resources["GPU"]; g > 0 {
		ids, ok := n.gpus.Acquire(float64(g) / sched.Unit)
		if !ok {
			return false // the GPUs' fractions do not line up yet
		}
		gpuIDs = ids
	}
	w := j.popIdle()
	if w == nil {
		if gpuIDs != nil && req.Resources["GPU"] > 0 {
			n.gpus.Release(gpuIDs, float64(req.Resources["GPU"])/sched.Unit)
		}
		if bundleGPUs != nil {
			bundleGPUs.Release(gpuIDs, bundleAmount)
		}
		n.startWorkerIfUsefulLocked(j, req.Dedicated, true)
		return false
	}
	n.grantLocked(r, w, gpuIDs)
	if l := w.lease; l != nil {
		l.bundleGPUs, l.bundleAmount = bundleGPUs, bundleAmount
		n.available.Sub(extra)
		l.resources.Add(extra)
	}
	return true
}

func (n *Node) grantLocked(r *leaseReq, w *worker, gpuIDs []int) {
	l := &lease{id: newID(8), worker: w, resources: r.req.Resources.Clone(), peer: r.peer, gpuIDs: gpuIDs}
	w.dedicated, w.detached = r.req.Dedicated, r.req.Detached
	n.available.Sub(l.resources)
	n.leases[l.id] = l
	w.lease = l
	r.finish(&protocol.LeaseReply{LeaseID: l.id, WorkerID: w.id, WorkerAddr: w.addr, WorkerPid: w.pid, NodeID: n.cfg.NodeID, GPUIDs: gpuIDs}, nil)
	// An actor's lease (dedicated, taken by the head) outlives the head's
	// connection: the actor lives on while the head restarts, and the
	// head returns the lease when the actor ends (or, after a restart,
	// when no record names it; see info).
	if r.peer != nil && !r.req.Dedicated {
		n.trackPeerLocked(r.peer, l)
	}
}

// trackPeerLocked ties a lease to its requester's connection, with one
// close hook per connection however many leases it takes over time.
func (n *Node) trackPeerLocked(p *rpc.Peer, l *lease) {
	ls := n.peerLeases[p]
	if ls == nil {
		ls = map[string]*lease{}
		n.peerLeases[p] = ls
		p.OnClose(func() {
			n.mu.Lock()
			for _, l := range n.peerLeases[p] {
				n.releaseLocked(l, false)
			}
			delete(n.peerLeases, p)
			n.scheduleLocked()
			n.mu.Unlock()
		})
	}
	ls[l.id] = l
}

// demandsLocked summarises the queue for the head, by resource shape.
func (n *Node) demandsLocked() []protocol.Demand {
	byShape := map[string]*protocol.Demand{}
	for _, r := range n.queue {
		if r.finished {
			continue
		}
		key := r.req.Resources.String()
		if r.infeasible {
			key += "!"
		}
		d := byShape[key]
		if d == nil {
			d = &protocol.Demand{Shape: r.req.Resources, Infeasible: r.infeasible}
			byShape[key] = d
		}
		d.Count++
	}
	out := make([]protocol.Demand, 0, len(byShape))
	for _, d := range byShape {
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Shape.String() < out[j].Shape.String() })
	return out
}

// checkGroupRemovedLocked asks the head, once, whether an infeasible
// request's placement group was removed; if so the request fails with
// pg_removed instead of waiting for resources that will never come back.
func (n *Node) checkGroupRemovedLocked(r *leaseReq) {
	if r.groupChecked {
		return
	}
	pg := protocol.GroupOfResources(r.req.Resources)
	if pg == "" {
		return
	}
	r.groupChecked = true
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := n.peerNode(ctx, n.cfg.HeadAddr)
		if err != nil {
			return
		}
		var info protocol.PGInfo
		err = c.Call(ctx, protocol.HeadGetPG, &protocol.GetPGRequest{PGID: pg}, &info)
		if (err == nil && info.State == protocol.PGRemoved) || rpc.CodeOf(err) == protocol.CodePGNotFound {
			n.mu.Lock()
			r.finish(nil, rpc.Errorf(protocol.CodePGRemoved, "rayo: placement group %s was removed", pg))
			n.scheduleLocked()
			n.mu.Unlock()
		}
	}()
}

// affinityGoneLocked decides whether a request whose hard node affinity
// names a node the view does not show alive fails now. A node the view
// shows dead never comes back (the head refuses it), so that is final. A
// node absent from the view may have joined after the head answered the
// heartbeat that brought it: the request fails only if a second view,
// asked for after the first one arrived, does not show it either.
func (n *Node) affinityGoneLocked(r *leaseReq, view []sched.NodeView, target string) bool {
	for _, v := range view {
		if v.ID == target {
			return !v.Alive
		}
	}
	if !n.viewAt.After(r.queuedAt) {
		return false
	}
	if r.unknownSeen.IsZero() {
		r.unknownSeen = n.viewAt
		return false
	}
	return n.viewAt.After(r.unknownSeen)
}

// warnInfeasibleLocked tells the node's log and the job's driver, once,
// that a request waits for a node that can hold it, naming what it
// needs: the node it is bound to, the labels it selects, the resources.
func (n *Node) warnInfeasibleLocked(r *leaseReq) {
	req := r.req
	need := req.Resources.String()
	if req.Resources.IsZero() {
		need = "no resources"
	}
	var where string
	switch {
	case req.Strategy.Kind == sched.StrategyNodeAffinity && !req.Strategy.Soft:
		where = fmt.Sprintf("%s on node %s (a hard node affinity), which cannot provide it or is draining", need, req.Strategy.NodeID)
	case len(req.Strategy.Labels) > 0:
		where = fmt.Sprintf("%s on a node matching %s, which no node in the cluster can provide", need, sched.FormatLabelSelector(req.Strategy.Labels))
	default:
		where = need + ", which no node in the cluster can ever provide"
	}
	n.log.Warn("infeasible resource demand: no node can ever hold it; it waits until one joins",
		"task", req.Name, "resources", req.Resources.String(), "strategy", strategyName(req.Strategy), "job", req.Job.JobID)
	if j := n.jobs[jobKey(req)]; j != nil {
		j.logs.add(protocol.LogLine{Stderr: true, Text: fmt.Sprintf(
			"Warning: task %s needs %s; it waits until such a node joins (see rayo status)", req.Name, where)})
	}
}

// strategyName describes a strategy for logs.
func strategyName(s sched.Strategy) string {
	var out string
	switch s.Kind {
	case sched.StrategySpread:
		out = "spread"
	case sched.StrategyNodeAffinity:
		out = "node_affinity=" + s.NodeID
		if s.Soft {
			out += ",soft"
		}
	default:
		out = "default"
	}
	if len(s.Labels) > 0 {
		out += " labels=" + sched.FormatLabelSelector(s.Labels)
	}
	return out
}
