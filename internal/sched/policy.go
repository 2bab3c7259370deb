package sched

import (
	"math"
	"math/rand/v2"
	"sort"
)

// NodeView is what the policy knows of one node.
type NodeView struct {
	ID        string
	Total     Resources
	Available Resources
	Labels    map[string]string
	Alive     bool
	Draining  bool // a draining node takes no new work
}

// StrategyKind selects the placement policy.
type StrategyKind int

const (
	StrategyDefault StrategyKind = iota // Ray's hybrid policy
	StrategySpread
	StrategyNodeAffinity
)

// Strategy is a task's scheduling strategy.
//
// Labels is a hard filter applied under every Kind: a node that fails any
// requirement is neither available nor feasible for the request, so a
// request whose selector no alive node matches is Infeasible, and a
// NodeAffinity target that fails it counts as unusable (hard: Infeasible;
// soft: the default policy over the matching nodes). Because of the slice,
// Strategy values cannot be compared with ==; use reflect.DeepEqual or
// FormatLabelSelector to build keys.
type Strategy struct {
	Kind   StrategyKind
	NodeID string             // for NodeAffinity
	Soft   bool               // NodeAffinity: fall back to the default policy if the node is dead or infeasible
	Labels []LabelRequirement // label selector: all must hold for a node to be a candidate
}

// Outcome is the kind of decision Pick made.
type Outcome int

const (
	Place      Outcome = iota // run on NodeID now: the node has the resources available
	Queue                     // NodeID can hold the request but is busy now: queue there
	Infeasible                // no alive node's Total can ever hold the request
	// Unschedulable: a hard NodeAffinity names a node that is dead or not
	// in the view (NodeID names it). It can never run; the caller fails
	// it (Ray's TaskUnschedulableError) rather than wait.
	Unschedulable
)

// Decision is the result of Pick.
type Decision struct {
	Outcome Outcome
	NodeID  string
}

// Options tunes the hybrid policy.
type Options struct {
	SpreadThreshold float64 // default 0.5 when zero
	TopKFraction    float64 // default 0.2 when zero
	TopKMin         int     // default 1 when zero
}

func (o Options) withDefaults() Options {
	if o.SpreadThreshold == 0 {
		o.SpreadThreshold = 0.5
	}
	if o.TopKFraction == 0 {
		o.TopKFraction = 0.2
	}
	if o.TopKMin <= 0 {
		o.TopKMin = 1
	}
	return o
}

// candidate is a schedulable node plus the facts every policy needs about it,
// computed once so the policies never touch (or mutate) the caller's slice.
type candidate struct {
	node      *NodeView
	feasible  bool
	available bool
	score     float64
}

// Pick chooses a node for req. local is the ID of the node making the decision
// (preferred when ties). rnd supplies randomness; a nil rnd makes the hybrid
// policy deterministic by always taking the best of the top k. spreadIndex is
// a cursor for round-robin SPREAD; Pick returns the next cursor value
// (unchanged for other strategies or when nothing could be placed).
//
// Nodes failing strat.Labels are dropped before any policy runs, so they are
// never placed on, queued on, or counted (the hybrid policy's top-k and the
// SPREAD cursor range over the matching nodes only).
func Pick(req Resources, nodes []NodeView, local string, strat Strategy, opts Options, rnd *rand.Rand, spreadIndex int) (Decision, int) {
	opts = opts.withDefaults()
	if strat.Kind == StrategyNodeAffinity && !strat.Soft && !knownAlive(nodes, strat.NodeID) {
		// Decided before the label filter: a target that fails the
		// selector is alive, only unusable (Infeasible below).
		return Decision{Outcome: Unschedulable, NodeID: strat.NodeID}, spreadIndex
	}
	if len(strat.Labels) > 0 {
		nodes = filterByLabels(nodes, strat)
	}
	switch strat.Kind {
	case StrategySpread:
		return pickSpread(req, nodes, local, opts, spreadIndex)
	case StrategyNodeAffinity:
		if d, ok := pickAffinity(req, nodes, strat.NodeID); ok {
			return d, spreadIndex
		}
		if !strat.Soft {
			return Decision{Outcome: Infeasible}, spreadIndex
		}
	}
	return pickHybrid(req, nodes, local, opts, rnd), spreadIndex
}

// candidates returns the alive, non-draining nodes ordered local-first, then
// by ID, so every tie-break is deterministic regardless of input order.
func candidates(req Resources, nodes []NodeView, local string, opts Options) []candidate {
	cs := make([]candidate, 0, len(nodes))
	for i := range nodes {
		n := &nodes[i]
		if !n.Alive || n.Draining {
			continue
		}
		cs = append(cs, candidate{
			node:      n,
			feasible:  req.FitsIn(n.Total),
			available: req.FitsIn(n.Available),
			score:     score(req, n, opts.SpreadThreshold),
		})
	}
	sort.SliceStable(cs, func(i, j int) bool {
		li, lj := cs[i].node.ID == local, cs[j].node.ID == local
		if li != lj {
			return li
		}
		return cs[i].node.ID < cs[j].node.ID
	})
	return cs
}

// score is the node's critical-resource utilization after placing req. Only
// the resources req asks for matter (an idle GPU should not make a node look
// free for a CPU task); scores under threshold collapse to 0 so lightly loaded
// nodes all look equally good and the local node wins, packing work.
func score(req Resources, n *NodeView, threshold float64) float64 {
	util := func(name string, want int64) float64 {
		total := n.Total[name]
		if total <= 0 {
			return 0
		}
		return float64(total-n.Available[name]+want) / float64(total)
	}
	var s float64
	if req.IsZero() {
		for name := range n.Total {
			s = math.Max(s, util(name, 0))
		}
	} else {
		for name, want := range req {
			if want > 0 {
				s = math.Max(s, util(name, want))
			}
		}
	}
	if s < threshold {
		return 0
	}
	return s
}

func aliveCount(nodes []NodeView) int {
	n := 0
	for i := range nodes {
		if nodes[i].Alive {
			n++
		}
	}
	return n
}

func pickHybrid(req Resources, nodes []NodeView, local string, opts Options, rnd *rand.Rand) Decision {
	cs := candidates(req, nodes, local, opts)
	var avail []candidate
	for _, c := range cs {
		if c.available {
			avail = append(avail, c)
		}
	}
	if len(avail) == 0 {
		return queueOrInfeasible(cs, local)
	}
	// Stable sort keeps the local-first/ID order among equal scores.
	sort.SliceStable(avail, func(i, j int) bool { return avail[i].score < avail[j].score })
	if avail[0].score == 0 {
		for _, c := range avail {
			if c.score != 0 {
				break
			}
			if c.node.ID == local {
				return Decision{Outcome: Place, NodeID: local}
			}
		}
	}
	// Randomizing among the best k spreads load when many schedulers see the
	// same (stale) view and would otherwise all pick the single best node.
	k := max(opts.TopKMin, int(math.Ceil(opts.TopKFraction*float64(aliveCount(nodes)))))
	k = min(k, len(avail))
	i := 0
	if rnd != nil && k > 1 {
		i = rnd.IntN(k)
	}
	return Decision{Outcome: Place, NodeID: avail[i].node.ID}
}

// queueOrInfeasible handles the case where no candidate has the resources
// free right now. Queuing locally avoids a network hop when the local node can
// ever run the task; otherwise the least-loaded feasible node is chosen.
func queueOrInfeasible(cs []candidate, local string) Decision {
	var best *candidate
	for i := range cs {
		c := &cs[i]
		if !c.feasible {
			continue
		}
		if c.node.ID == local {
			return Decision{Outcome: Queue, NodeID: local}
		}
		if best == nil || c.score < best.score {
			best = c
		}
	}
	if best == nil {
		return Decision{Outcome: Infeasible}
	}
	return Decision{Outcome: Queue, NodeID: best.node.ID}
}

// pickSpread round-robins over candidates in ID order, skipping busy ones.
// The cursor indexes the ID-sorted candidate list (as in Ray) rather than the
// available subset, so it stays meaningful as nodes become busy or free.
func pickSpread(req Resources, nodes []NodeView, local string, opts Options, spreadIndex int) (Decision, int) {
	cs := candidates(req, nodes, local, opts)
	byID := make([]candidate, len(cs))
	copy(byID, cs)
	sort.SliceStable(byID, func(i, j int) bool { return byID[i].node.ID < byID[j].node.ID })
	n := len(byID)
	if n > 0 {
		start := ((spreadIndex % n) + n) % n
		for off := range n {
			i := (start + off) % n
			if byID[i].available {
				return Decision{Outcome: Place, NodeID: byID[i].node.ID}, i + 1
			}
		}
	}
	return queueOrInfeasible(cs, local), spreadIndex
}

// knownAlive reports whether id is an alive node of the view.
func knownAlive(nodes []NodeView, id string) bool {
	for i := range nodes {
		if nodes[i].ID == id {
			return nodes[i].Alive
		}
	}
	return false
}

// pickAffinity returns the decision for the target node and true when the
// target can ever run req; false means the caller must fall back or fail.
func pickAffinity(req Resources, nodes []NodeView, target string) (Decision, bool) {
	for i := range nodes {
		n := &nodes[i]
		if n.ID != target || !n.Alive || n.Draining || !req.FitsIn(n.Total) {
			continue
		}
		if req.FitsIn(n.Available) {
			return Decision{Outcome: Place, NodeID: target}, true
		}
		return Decision{Outcome: Queue, NodeID: target}, true
	}
	return Decision{}, false
}
