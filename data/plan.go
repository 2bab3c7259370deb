package data

import (
	"context"
	"fmt"
)

// Planning turns the logical chain of a Dataset into physical operators,
// with Ray Data's rules: consecutive row-wise operators with compatible
// resources are fused into one task (a read included), so a block is
// read, transformed and written back once; a limit is pushed into the
// tasks before it, which stop once they have produced its rows.

// chain lists the nodes from the source to n.
func chain(n *node) []*node {
	var out []*node
	for ; n != nil; n = n.Input {
		out = append(out, n)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// physicalPlan builds the run's operators.
func (d *Dataset) physicalPlan(ctx context.Context, cpus float64) (*plan, error) {
	if d.err != nil {
		return nil, d.err
	}
	var ops []*physOp
	last := func() *physOp {
		if len(ops) == 0 {
			return nil
		}
		return ops[len(ops)-1]
	}
	nodes := chain(d.n)
	for i, n := range nodes {
		switch n.Kind {
		case nodeRead:
			src := n.Source
			// Projection pushdown: a SelectColumns right after a file read
			// becomes the reader's column list.
			if i+1 < len(nodes) && nodes[i+1].Kind == nodeOp && nodes[i+1].Op.Kind == opSelect &&
				src.Kind == "files" && len(src.Options.Columns) == 0 {
				cp := *src
				cp.Options.Columns = nodes[i+1].Op.Cols
				src = &cp
			}
			units, err := src.units(ctx, cpus)
			if err != nil {
				return nil, fmt.Errorf("data: %s: %w", n.Label, err)
			}
			ops = append(ops, &physOp{label: n.Label, kind: physRead, units: units, mopts: newMapOptions(nil)})
		case nodeBlocks:
			in := make([]blockRef, len(n.Blocks))
			for i, b := range n.Blocks {
				b.borrowed = true
				in[i] = b
			}
			ops = append(ops, &physOp{label: n.Label, kind: physBlocks, input: in})
		case nodeOp:
			isClass := n.Op.Kind == opUDF && n.Op.FnKind == kindClass
			if l := last(); l != nil && !isClass && fusable(l, n) {
				l.label += "->" + n.Label
				l.ops = append(l.ops, n.Op)
				l.batch = max(l.batch, int64(n.Op.BatchSize))
				continue
			}
			op := &physOp{label: n.Label, kind: physMap, ops: []opSpec{n.Op}, mopts: n.Opts, batch: int64(n.Op.BatchSize)}
			if isClass {
				op.kind, op.class = physActor, &Fn{name: n.Op.Fn, kind: kindClass, args: n.FnArgs}
			}
			ops = append(ops, op)
		case nodeLimit:
			if l := last(); l != nil && (l.kind == physRead || l.kind == physMap || l.kind == physActor) {
				l.ops = append(l.ops, opSpec{Kind: opLimit, Label: n.Label, N: n.Limit})
			}
			ops = append(ops, &physOp{label: n.Label, kind: physLimit, limit: n.Limit})
		case nodeBarrier:
			b := n.Barrier
			// A group-by's partial aggregation runs in the tasks before it:
			// they hand on per-group states instead of rows.
			if l := last(); b.Kind == "aggregate" && l != nil && (l.kind == physRead || l.kind == physMap) {
				cp := *b
				cp.Partial = true
				b = &cp
				l.ops = append(l.ops, opSpec{Kind: opPartial, Label: n.Label, Keys: b.Keys, Aggs: b.Aggs})
				l.label += "->Partial"
			}
			ops = append(ops, &physOp{label: n.Label, kind: physBarrier, barrier: b.run})
		case nodeUnion:
			op := &physOp{label: n.Label, kind: physUnion}
			for i, in := range n.Union {
				p, err := (&Dataset{n: in, exec: n.Exec[i]}).physicalPlan(ctx, cpus)
				if err != nil {
					return nil, err
				}
				op.union = append(op.union, p)
			}
			ops = append(ops, op)
		}
	}
	if len(ops) == 0 {
		return nil, errorf("an empty dataset plan")
	}
	return &plan{ops: ops}, nil
}

// fusable reports whether operator n can join the tasks of l.
func fusable(l *physOp, n *node) bool {
	switch l.kind {
	case physRead, physMap:
		if n.Op.Kind != opUDF && n.Op.Kind != opAddCol { // a select, drop or rename: no compute of its own
			return true
		}
		return l.mopts.compatible(n.Opts) && l.kind == physMap || (l.kind == physRead && n.Opts.compatible(newMapOptions(nil)))
	case physActor:
		// Row-wise work after a stateful function runs on its actors, as
		// Ray fuses it, when it asks for no resources of its own.
		return (n.Op.Kind != opUDF && n.Op.Kind != opAddCol) || n.Opts.compatible(newMapOptions(nil))
	}
	return false
}
