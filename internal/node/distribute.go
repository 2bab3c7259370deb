package node

import (
	"context"
	"slices"
	"time"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// The node of an object's primary copy plans its transfers to other
// nodes. It keeps, per object, the nodes that hold a whole copy (those
// that pulled it and said so) and those copying it now, and how many
// pullers each is serving. A new puller reads from the whole copies with
// room to serve (several at once where there are several), else from a
// node still receiving it (which passes chunks on as they arrive), else
// from the least busy whole copy. Each node serves at most fanout
// pullers while others have room, and the primary's node serves only
// when no other whole copy can, so an object read by many nodes at once
// leaves its source about fanout times and spreads down a tree of
// pipelined relays, the earliest pullers nearest the root.

// fanout is the number of pullers a copy serves before the plan turns
// to other copies. The source of a broadcast sends the object about
// this many times.
const fanout = 2

// maxSources bounds the whole copies one transfer reads from at once.
const maxSources = 4

// staleHolder is how long a puller that never said how its pull went is
// kept as a relay.
const staleHolder = 10 * time.Minute

// distribution is what the primary's node knows of an object's copies.
type distribution struct {
	holders map[string]*holding
	order   []string // pullers in the order they came: relays are picked earliest first
}

type holding struct {
	whole   bool      // a sealed copy (the primary, or a pull that succeeded)
	serving int       // pullers planned to read from it and not done
	parents []string  // the sources planned for this puller
	since   time.Time // when it was planned
}

// pullPlan answers a puller with the nodes to read from.
func (n *Node) pullPlan(_ context.Context, req *protocol.PullPlanRequest) (*protocol.PullPlanReply, error) {
	if req.ObjectID == "" || req.Puller == "" {
		return nil, rpc.Errorf(rpc.CodeBadRequest, "node: a pull plan needs an object and a puller")
	}
	if !n.store.Contains(req.ObjectID) {
		return nil, rpc.Errorf(protocol.CodeObjectNotFound, "node: object %s is not here", req.ObjectID)
	}
	self := n.Addr()
	st := n.objs
	st.mu.Lock()
	defer st.mu.Unlock()
	d := st.dists[req.ObjectID]
	if d == nil {
		d = &distribution{holders: map[string]*holding{self: {whole: true}}}
		st.dists[req.ObjectID] = d
	}
	d.drop(req.Puller) // a puller that tries again starts over
	d.expire(time.Now())
	sources := d.pick(self)
	for _, s := range sources {
		d.holders[s].serving++
	}
	d.holders[req.Puller] = &holding{parents: sources, since: time.Now()}
	d.order = append(d.order, req.Puller)
	return &protocol.PullPlanReply{Sources: sources}, nil
}

// pick chooses a puller's sources.
func (d *distribution) pick(self string) []string {
	// Other whole copies first, the primary's node only when none has
	// room: it is the one every fallback comes back to.
	var whole []string
	for addr, h := range d.holders {
		if addr != self && h.whole && h.serving < fanout {
			whole = append(whole, addr)
		}
	}
	if len(whole) > 0 {
		slices.SortFunc(whole, func(a, b string) int { return d.holders[a].serving - d.holders[b].serving })
		return whole[:min(len(whole), maxSources)]
	}
	if d.holders[self].serving < fanout {
		return []string{self}
	}
	for _, addr := range d.order {
		if h := d.holders[addr]; h != nil && !h.whole && h.serving < fanout {
			return []string{addr}
		}
	}
	best := self
	for addr, h := range d.holders {
		if h.whole && h.serving < d.holders[best].serving {
			best = addr
		}
	}
	return []string{best}
}

// drop forgets a puller and frees its sources' slots.
func (d *distribution) drop(addr string) {
	h := d.holders[addr]
	if h == nil {
		return
	}
	d.releaseParents(h)
	if !h.whole {
		delete(d.holders, addr)
		d.order = slices.DeleteFunc(d.order, func(a string) bool { return a == addr })
	}
}

// releaseParents frees the slots a puller held on its sources.
func (d *distribution) releaseParents(h *holding) {
	for _, p := range h.parents {
		if ph := d.holders[p]; ph != nil && ph.serving > 0 {
			ph.serving--
		}
	}
	h.parents = nil
}

// expire forgets pullers that never reported.
func (d *distribution) expire(now time.Time) {
	for addr, h := range d.holders {
		if !h.whole && !h.since.IsZero() && now.Sub(h.since) > staleHolder {
			d.drop(addr)
		}
	}
}

// pullDone records how a planned pull went.
func (n *Node) pullDone(_ context.Context, req *protocol.PullDoneRequest) (*protocol.Empty, error) {
	st := n.objs
	st.mu.Lock()
	defer st.mu.Unlock()
	d := st.dists[req.ObjectID]
	if d == nil {
		return &protocol.Empty{}, nil
	}
	self := n.Addr()
	for _, g := range req.Gone {
		if g != self {
			d.forget(g)
		}
	}
	h := d.holders[req.Puller]
	if h == nil {
		return &protocol.Empty{}, nil
	}
	if !req.OK {
		d.drop(req.Puller)
		return &protocol.Empty{}, nil
	}
	d.releaseParents(h)
	h.whole = true
	d.order = slices.DeleteFunc(d.order, func(a string) bool { return a == req.Puller })
	return &protocol.Empty{}, nil
}

// forget drops a copy that failed to serve (its node died or evicted
// it); pullers planned onto it have already turned to the primary.
func (d *distribution) forget(addr string) {
	d.drop(addr)
	delete(d.holders, addr)
	d.order = slices.DeleteFunc(d.order, func(a string) bool { return a == addr })
}
