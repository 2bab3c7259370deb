package sched

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
)

// PGStrategy is a placement group's bundle placement strategy (Ray's names).
type PGStrategy int

const (
	PGPack         PGStrategy = iota // as few nodes as possible, best effort
	PGSpread                         // as many distinct nodes as possible, best effort
	PGStrictPack                     // all bundles on one node, or not placed
	PGStrictSpread                   // every bundle on a different node, or not placed
)

var pgStrategyNames = [...]string{"PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"}

// ErrInvalidPGStrategy reports an unknown placement group strategy name.
var ErrInvalidPGStrategy = errors.New("sched: invalid placement group strategy")

// String returns Ray's name for s: "PACK", "SPREAD", "STRICT_PACK" or
// "STRICT_SPREAD" ("PGStrategy(n)" for an unknown value).
func (s PGStrategy) String() string {
	if s >= 0 && int(s) < len(pgStrategyNames) {
		return pgStrategyNames[s]
	}
	return fmt.Sprintf("PGStrategy(%d)", int(s))
}

// ParsePGStrategy parses Ray's strategy names, case-insensitively and
// ignoring surrounding whitespace.
func ParsePGStrategy(s string) (PGStrategy, error) {
	name := strings.ToUpper(strings.TrimSpace(s))
	for i, n := range pgStrategyNames {
		if name == n {
			return PGStrategy(i), nil
		}
	}
	return 0, fmt.Errorf("%w %q: want PACK, SPREAD, STRICT_PACK or STRICT_SPREAD", ErrInvalidPGStrategy, s)
}

// pgSearchWork bounds the backtracking search PACK and SPREAD fall back to
// when their greedy placement fails (exact bin packing is NP-hard). Work is
// counted in node checks: the search may do one full descent (bundles x
// nodes) plus this many more. When it runs out the answer is "unknown": not
// placeable now, but not declared infeasible either, so a group is never
// failed on a guess.
const pgSearchWork = 1 << 18

// PlaceBundles assigns each bundle a node, all or nothing. assignment[i] is
// the ID of the node for bundles[i]; it is nil unless ok.
//
// Only Alive, non-Draining nodes are used (labels are not consulted). ok is
// true when every bundle fits the nodes' Available resources at once,
// counting the bundles already assigned in this call. When not ok,
// infeasible reports that the bundles could never be placed, even on an
// empty cluster of these nodes (their Total): e.g. a bundle bigger than
// every node, STRICT_PACK whose sum exceeds every node, or STRICT_SPREAD
// with more bundles than usable nodes. infeasible is only reported when
// proven, never on a guess. An empty bundle list is trivially placed; an
// unknown strategy is infeasible.
//
// Strategies follow Ray:
//   - PACK: if one node can hold every bundle, all go there; otherwise the
//     largest bundle goes to the preferred node that fits it, that node is
//     filled with whatever else fits, and so on. Best effort: it spreads
//     only as far as it must.
//   - SPREAD: each bundle goes to a node this call has used least (an unused
//     one while any fits), so distinct nodes are used as much as possible;
//     nodes are reused only when needed.
//   - STRICT_PACK: all bundles on one node that can hold their sum.
//   - STRICT_SPREAD: each bundle on a different node (an exact bipartite
//     matching, so it never fails while some assignment exists).
//
// Bundles are considered largest first (by dominant share of the usable
// cluster's total). Nodes are preferred least loaded first: load is the
// node's highest utilization (Total-Available)/Total over the resources the
// bundles ask for (all resources when they ask for none), so a group lands on
// the emptiest nodes. Equal loads are broken in node-ID order when rnd is
// nil, or in an order shuffled by rnd otherwise, so the result is
// deterministic given the inputs and rnd's state (rnd is drawn from once per
// call, to shuffle). When PACK's or SPREAD's greedy pass fails, a bounded
// backtracking search looks for any valid assignment before giving up; for
// small groups it is exhaustive. Inputs are not modified.
func PlaceBundles(bundles []Resources, strategy PGStrategy, nodes []NodeView, rnd *rand.Rand) (assignment []string, ok bool, infeasible bool) {
	if strategy < PGPack || strategy > PGStrictSpread {
		return nil, false, true
	}
	if len(bundles) == 0 {
		return []string{}, true, false
	}
	bs := make([]Resources, len(bundles))
	for i, b := range bundles {
		bs[i] = positive(b)
	}
	ns := pgNodeOrder(bs, nodes, rnd)
	order := bundleOrder(bs, ns)

	now := newPlacer(bs, order, ns, func(n *NodeView) Resources { return n.Available })
	if now.place(strategy) == placed {
		out := make([]string, len(bs))
		for i, ni := range now.assign {
			out[i] = ns[ni].ID
		}
		return out, true, false
	}
	ever := newPlacer(bs, order, ns, func(n *NodeView) Resources { return n.Total })
	return nil, false, ever.place(strategy) == impossible
}

// positive copies the positive entries of r; zero and (invalid) negative
// amounts ask for nothing.
func positive(r Resources) Resources {
	c := make(Resources, len(r))
	for name, v := range r {
		if v > 0 {
			c[name] = v
		}
	}
	return c
}

// pgNodeOrder returns the usable nodes, least loaded first.
func pgNodeOrder(bundles []Resources, nodes []NodeView, rnd *rand.Rand) []*NodeView {
	var ns []*NodeView
	for i := range nodes {
		if nodes[i].Alive && !nodes[i].Draining {
			ns = append(ns, &nodes[i])
		}
	}
	sort.SliceStable(ns, func(i, j int) bool { return ns[i].ID < ns[j].ID })
	if rnd != nil {
		rnd.Shuffle(len(ns), func(i, j int) { ns[i], ns[j] = ns[j], ns[i] })
	}
	names := map[string]bool{}
	for _, b := range bundles {
		for name := range b {
			names[name] = true
		}
	}
	load := make(map[*NodeView]float64, len(ns))
	for _, n := range ns {
		var l float64
		for name, total := range n.Total {
			if total > 0 && (len(names) == 0 || names[name]) {
				l = math.Max(l, float64(total-n.Available[name])/float64(total))
			}
		}
		load[n] = l
	}
	sort.SliceStable(ns, func(i, j int) bool { return load[ns[i]] < load[ns[j]] })
	return ns
}

// bundleOrder returns bundle indices largest first: by dominant share of the
// usable nodes' summed Total (a resource no node has counts as infinite, so
// hopeless bundles fail fast), ties in input order.
func bundleOrder(bundles []Resources, ns []*NodeView) []int {
	cluster := Resources{}
	for _, n := range ns {
		cluster.Add(n.Total)
	}
	share := make([]float64, len(bundles))
	for i, b := range bundles {
		for name, v := range b {
			if c := cluster[name]; c > 0 {
				share[i] = math.Max(share[i], float64(v)/float64(c))
			} else {
				share[i] = math.Inf(1)
			}
		}
	}
	order := make([]int, len(bundles))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return share[order[i]] > share[order[j]] })
	return order
}

type placeResult int

const (
	placed     placeResult = iota
	impossible             // proven: no assignment exists
	unknown                // the search budget ran out
)

// placer assigns bundles to nodes against one capacity (Available or Total).
type placer struct {
	bundles []Resources
	order   []int       // bundle indices, largest first
	rem     []Resources // remaining capacity per node (index into the node order)
	count   []int       // bundles assigned per node
	assign  []int       // node index per bundle; -1 while unassigned
	work    int         // search work left, in node checks
}

func newPlacer(bundles []Resources, order []int, ns []*NodeView, capacity func(*NodeView) Resources) *placer {
	p := &placer{bundles: bundles, order: order, work: len(bundles)*len(ns) + pgSearchWork,
		rem: make([]Resources, len(ns)), count: make([]int, len(ns)), assign: make([]int, len(bundles))}
	for i, n := range ns {
		p.rem[i] = positive(capacity(n))
	}
	for i := range p.assign {
		p.assign[i] = -1
	}
	return p
}

func (p *placer) set(b, n int) {
	p.rem[n].Sub(p.bundles[b])
	p.count[n]++
	p.assign[b] = n
}

func (p *placer) unset(b, n int) {
	p.rem[n].Add(p.bundles[b])
	p.count[n]--
	p.assign[b] = -1
}

func (p *placer) place(strategy PGStrategy) placeResult {
	// Exact necessary conditions first: every bundle fits some node, and the
	// bundles' sum fits the nodes' summed capacity.
	sum, capSum := Resources{}, Resources{}
	for _, b := range p.bundles {
		sum.Add(b)
		fits := false
		for _, r := range p.rem {
			if b.FitsIn(r) {
				fits = true
				break
			}
		}
		if !fits {
			return impossible
		}
	}
	for _, r := range p.rem {
		capSum.Add(r)
	}
	if !sum.FitsIn(capSum) {
		return impossible
	}
	switch strategy {
	case PGStrictPack:
		for n, r := range p.rem {
			if sum.FitsIn(r) {
				for b := range p.bundles {
					p.set(b, n)
				}
				return placed
			}
		}
		return impossible
	case PGStrictSpread:
		return p.match()
	case PGPack:
		if p.packGreedy() {
			return placed
		}
		for b, n := range p.assign {
			if n >= 0 {
				p.unset(b, n)
			}
		}
	}
	return p.search(0, strategy)
}

// packGreedy follows Ray's PACK: if an unused node can hold every remaining
// bundle, the preferred such node takes them all; otherwise the largest
// remaining bundle goes to the preferred unused node that fits it, which is
// then filled first fit (largest first) from the remaining bundles, and so
// on. A filled node cannot take any remaining bundle, so each node is chosen
// at most once. It costs O(bundles x (nodes + bundles)).
func (p *placer) packGreedy() bool {
	left := append([]int(nil), p.order...)
	for len(left) > 0 {
		sum := Resources{}
		for _, b := range left {
			sum.Add(p.bundles[b])
		}
		best := -1
		for n, r := range p.rem {
			if p.count[n] == 0 && sum.FitsIn(r) {
				best = n
				break
			}
		}
		if best < 0 {
			for n, r := range p.rem {
				if p.count[n] == 0 && p.bundles[left[0]].FitsIn(r) {
					best = n
					break
				}
			}
		}
		if best < 0 {
			return false
		}
		var rest []int
		for _, b := range left {
			if p.bundles[b].FitsIn(p.rem[best]) {
				p.set(b, best)
			} else {
				rest = append(rest, b)
			}
		}
		left = rest
	}
	return true
}

// search assigns order[k:] by depth-first search with backtracking. The
// first path it tries is the greedy choice (PACK: a node already used by
// this call first; SPREAD: the node this call has used least), each level
// trying nodes in preference order; later paths are tried only when it
// fails. Nodes whose remaining capacity equals one already tried at the same
// level are skipped: their subtrees are equivalent.
func (p *placer) search(k int, strategy PGStrategy) placeResult {
	if k == len(p.order) {
		return placed
	}
	if p.work -= len(p.rem); p.work < 0 {
		return unknown
	}
	b := p.order[k]
	var cands []int
	if strategy == PGPack {
		// Used nodes first, then unused, each in preference order.
		for _, used := range []bool{true, false} {
			for n, r := range p.rem {
				if (p.count[n] > 0) == used && p.bundles[b].FitsIn(r) {
					cands = append(cands, n)
				}
			}
		}
	} else {
		for n, r := range p.rem {
			if p.bundles[b].FitsIn(r) {
				cands = append(cands, n)
			}
		}
		// Least used first; stable, so preference order within a count.
		sort.SliceStable(cands, func(i, j int) bool { return p.count[cands[i]] < p.count[cands[j]] })
	}
	var tried map[string]bool
	for _, n := range cands {
		var key string
		if tried != nil {
			if key = amountsKey(p.rem[n]); tried[key] {
				continue
			}
		}
		p.set(b, n)
		res := p.search(k+1, strategy)
		if res == placed {
			return placed
		}
		p.unset(b, n)
		if res == unknown {
			return unknown
		}
		if tried == nil {
			tried, key = map[string]bool{}, amountsKey(p.rem[n])
		}
		tried[key] = true
		if p.work -= len(p.rem); p.work < 0 {
			return unknown
		}
	}
	return impossible
}

// amountsKey renders r exactly and canonically (sorted names, zero entries
// dropped), so two capacities get the same key exactly when they are equal.
func amountsKey(r Resources) string {
	names := make([]string, 0, len(r))
	for name, v := range r {
		if v != 0 {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		b.WriteString(strconv.Quote(name))
		b.WriteByte('=')
		b.WriteString(strconv.FormatInt(r[name], 10))
		b.WriteByte(';')
	}
	return b.String()
}

// match places one bundle per node by augmenting paths (Kuhn's algorithm),
// bundles largest first and nodes in preference order, so it finds an
// assignment whenever one exists. A free node that fits is always taken
// before any placed bundle is moved, so when greedy placement succeeds the
// result is the greedy one.
func (p *placer) match() placeResult {
	if len(p.bundles) > len(p.rem) {
		return impossible
	}
	owner := make([]int, len(p.rem)) // bundle on each node, -1 if none
	for n := range owner {
		owner[n] = -1
	}
	var visited []bool
	var augment func(b int) bool
	augment = func(b int) bool {
		for n, r := range p.rem {
			if owner[n] < 0 && !visited[n] && p.bundles[b].FitsIn(r) {
				visited[n] = true
				owner[n] = b
				return true
			}
		}
		for n, r := range p.rem {
			if owner[n] < 0 || visited[n] || !p.bundles[b].FitsIn(r) {
				continue
			}
			visited[n] = true
			if augment(owner[n]) {
				owner[n] = b
				return true
			}
		}
		return false
	}
	for _, b := range p.order {
		visited = make([]bool, len(p.rem))
		if !augment(b) {
			return impossible
		}
	}
	for n, b := range owner {
		if b >= 0 {
			p.set(b, n)
		}
	}
	return placed
}
