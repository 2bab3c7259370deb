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
	for ; n != nil; n = n.input {
		out = append(out, n)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// physicalPlan builds the run's operators.
func (d *Dataset) physicalPlan(ctx context.Context) (*plan, error) {
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
	for _, n := range chain(d.n) {
		switch n.kind {
		case nodeRead:
			units, err := n.units(ctx)
			if err != nil {
				return nil, fmt.Errorf("data: %s: %w", n.label, err)
			}
			ops = append(ops, &physOp{label: n.label, kind: physRead, units: units, mopts: newMapOptions(nil)})
		case nodeBlocks:
			in := make([]blockRef, len(n.blocks))
			for i, b := range n.blocks {
				b.borrowed = true
				in[i] = b
			}
			ops = append(ops, &physOp{label: n.label, kind: physBlocks, input: in})
		case nodeOp:
			isClass := n.fn != nil && n.fn.kind == kindClass
			if l := last(); l != nil && !isClass && fusable(l, n) {
				l.label += "->" + n.label
				l.ops = append(l.ops, n.op)
				l.batch = max(l.batch, int64(n.op.BatchSize))
				continue
			}
			op := &physOp{label: n.label, kind: physMap, ops: []opSpec{n.op}, mopts: n.mopts, batch: int64(n.op.BatchSize)}
			if isClass {
				op.kind, op.class = physActor, n.fn
			}
			ops = append(ops, op)
		case nodeLimit:
			if l := last(); l != nil && (l.kind == physRead || l.kind == physMap || l.kind == physActor) {
				l.ops = append(l.ops, opSpec{Kind: opLimit, Label: n.label, N: n.limit})
			}
			ops = append(ops, &physOp{label: n.label, kind: physLimit, limit: n.limit})
		case nodeBarrier:
			ops = append(ops, &physOp{label: n.label, kind: physBarrier, barrier: n.barrier})
		case nodeUnion:
			op := &physOp{label: n.label, kind: physUnion}
			for _, in := range n.union {
				p, err := in.physicalPlan(ctx)
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
		if n.fn == nil { // a select, drop or rename: no compute of its own
			return true
		}
		return l.mopts.compatible(n.mopts) && l.kind == physMap || (l.kind == physRead && n.mopts.compatible(newMapOptions(nil)))
	case physActor:
		// Row-wise work after a stateful function runs on its actors, as
		// Ray fuses it, when it asks for no resources of its own.
		return n.fn == nil || n.mopts.compatible(newMapOptions(nil))
	}
	return false
}
