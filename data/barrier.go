package data

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/data/internal/block"
	"github.com/rayo-dev/rayo/data/internal/compute"
)

// All-to-all operators (Ray Data's AllToAllOperator): they wait for every
// input block, then run as a map stage (each block split into n parts:
// random, by key hash, or by ranges of sampled key values) and a reduce
// stage (part j of every block combined into output j). A small input,
// one block or less than a target block in all, is done in one task
// instead: the 1M-row group-by that takes Ray 21 s is one task here. Like
// Ray's, these operators hold their whole input: they are outside the
// streaming budget (the store spills if it must).

// barrierSpec is an all-to-all operator as a plan holds it.
type barrierSpec struct {
	Kind      string            `msgpack:"k"` // shuffle, sort, repartition, aggregate, mapgroups, join, zip
	Seed      uint64            `msgpack:"s,omitempty"`
	SortKeys  []compute.SortKey `msgpack:"sk,omitempty"`
	Keys      []string          `msgpack:"ks,omitempty"`
	RightKeys []string          `msgpack:"rk,omitempty"`
	Aggs      []compute.Agg     `msgpack:"a,omitempty"`
	N         int               `msgpack:"n,omitempty"`
	Fn        string            `msgpack:"f,omitempty"`
	How       string            `msgpack:"h,omitempty"`
	Other     *node             `msgpack:"o,omitempty"`
	OtherExec execOptions       `msgpack:"oe"`
}

// partSpec is a map task's work: an optional partial aggregation, then a
// split into N parts.
type partSpec struct {
	Kind       string            `msgpack:"k"` // random, hash, range
	N          int               `msgpack:"n"`
	Seed       uint64            `msgpack:"s,omitempty"`
	Keys       []string          `msgpack:"ks,omitempty"`
	SortKeys   []compute.SortKey `msgpack:"sk,omitempty"`
	Boundaries []byte            `msgpack:"b,omitempty"` // range: an encoded block of boundary rows
	Aggs       []compute.Agg     `msgpack:"a,omitempty"` // partial aggregation first
}

// reduceSpec is a reduce task's work over its parts.
type reduceSpec struct {
	Kind      string            `msgpack:"k"` // shuffle, sort, aggregate, combine, mapgroups, join, zip
	Seed      uint64            `msgpack:"s,omitempty"`
	SortKeys  []compute.SortKey `msgpack:"sk,omitempty"`
	Keys      []string          `msgpack:"ks,omitempty"`
	RightKeys []string          `msgpack:"rk,omitempty"`
	Aggs      []compute.Agg     `msgpack:"a,omitempty"`
	Fn        string            `msgpack:"f,omitempty"`
	How       string            `msgpack:"h,omitempty"`
	NLeft     int               `msgpack:"l,omitempty"` // join, zip: the first NLeft parts are the left side
	Label     string            `msgpack:"lb"`
	Target    int64             `msgpack:"t"`
}

var partitionTask = rayo.Register[[][]byte]("rayo.data.partition", func(ctx context.Context, spec partSpec, b []byte) ([][]byte, error) {
	rec, err := block.Decode(b)
	if err != nil {
		return nil, err
	}
	if len(spec.Aggs) > 0 {
		if rec, err = compute.Partial(rec, spec.Keys, spec.Aggs); err != nil {
			return nil, err
		}
	}
	var parts []arrow.RecordBatch
	switch spec.Kind {
	case "random":
		parts, err = compute.RandomPartition(rec, spec.N, spec.Seed)
	case "hash":
		parts, err = compute.HashPartition(rec, spec.Keys, spec.N)
	case "range":
		var bounds arrow.RecordBatch
		if bounds, err = block.Decode(spec.Boundaries); err == nil {
			parts, err = compute.RangePartition(rec, spec.SortKeys, bounds)
		}
	default:
		err = fmt.Errorf("%w: partition kind %q", ErrInvalidArgument, spec.Kind)
	}
	if err != nil {
		return nil, err
	}
	if len(parts) != spec.N {
		return nil, fmt.Errorf("data: partition into %d parts gave %d", spec.N, len(parts))
	}
	out := make([][]byte, len(parts))
	for i, p := range parts {
		if out[i], err = block.Encode(p); err != nil {
			return nil, err
		}
	}
	return out, nil
})

var sampleTask = rayo.Register[[]byte]("rayo.data.sample", func(ctx context.Context, keys []compute.SortKey, k int, seed uint64, b []byte) ([]byte, error) {
	rec, err := block.Decode(b)
	if err != nil {
		return nil, err
	}
	s, err := compute.Sample(rec, keys, k, seed)
	if err != nil {
		return nil, err
	}
	return block.Encode(s)
})

var reduceTask = rayo.RegisterStream[[]byte]("rayo.data.reduce", func(ctx context.Context, spec reduceSpec, parts ...[]byte) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		em := newEmitter(spec.Target, yield)
		em.close(reduce(ctx, spec, parts, em))
	}
})

// reduce runs a reduce task's work into em.
func reduce(ctx context.Context, spec reduceSpec, parts [][]byte, em *emitter) error {
	recs := make([]arrow.RecordBatch, 0, len(parts))
	for i, p := range parts {
		rec, err := block.Decode(p)
		if err != nil {
			return fmt.Errorf("data: %s: input %d: %w", spec.Label, i, err)
		}
		recs = append(recs, rec)
	}
	out, err := reduceRecords(ctx, spec, recs)
	if err != nil {
		return fmt.Errorf("data: %s: %w", spec.Label, err)
	}
	for _, rec := range out {
		if err := em.add(ctx, rec); err != nil {
			return err
		}
	}
	return nil
}

func reduceRecords(ctx context.Context, spec reduceSpec, recs []arrow.RecordBatch) ([]arrow.RecordBatch, error) {
	one := func(rec arrow.RecordBatch, err error) ([]arrow.RecordBatch, error) {
		if err != nil {
			return nil, err
		}
		return []arrow.RecordBatch{rec}, nil
	}
	switch spec.Kind {
	case "shuffle":
		all, err := compute.Concat(recs)
		if err != nil {
			return nil, err
		}
		return one(compute.Shuffle(all, spec.Seed))
	case "sort":
		return one(compute.Sort(recs, spec.SortKeys))
	case "aggregate":
		return one(compute.Aggregate(recs, spec.Keys, spec.Aggs))
	case "combine":
		partial, err := compute.Combine(recs, spec.Keys, spec.Aggs)
		if err != nil {
			return nil, err
		}
		return one(compute.Finalize(partial, spec.Keys, spec.Aggs))
	case "mapgroups":
		return mapGroups(ctx, spec, recs)
	case "join":
		return one(compute.HashJoin(recs[:spec.NLeft], recs[spec.NLeft:], spec.Keys, spec.RightKeys, spec.How, "_1"))
	case "zip":
		return zipRecords(recs[:spec.NLeft], recs[spec.NLeft:])
	}
	return nil, fmt.Errorf("%w: reduce kind %q", ErrInvalidArgument, spec.Kind)
}

// mapGroups sorts the rows by the keys and calls the function once per
// group of equal keys.
func mapGroups(ctx context.Context, spec reduceSpec, recs []arrow.RecordBatch) ([]arrow.RecordBatch, error) {
	def, err := lookupFn(spec.Fn, kindBatch)
	if err != nil {
		return nil, err
	}
	sortKeys := make([]compute.SortKey, len(spec.Keys))
	for i, k := range spec.Keys {
		sortKeys[i] = compute.SortKey{Column: k}
	}
	sorted, err := compute.Sort(recs, sortKeys)
	if err != nil {
		return nil, err
	}
	keys, err := compute.NewKeys(sorted, spec.Keys)
	if err != nil {
		return nil, err
	}
	hashes := keys.Hashes(nil)
	var out []arrow.RecordBatch
	call := func(lo, hi int) error {
		step := &batchStep{op: opSpec{Label: spec.Label, Fn: spec.Fn}, fn: def.batch, next: stepFunc(func(_ context.Context, r arrow.RecordBatch) error {
			out = append(out, r)
			return nil
		})}
		return step.call(ctx, sorted.NewSlice(int64(lo), int64(hi)))
	}
	start := 0
	for i := 1; i <= len(hashes); i++ {
		if i == len(hashes) || hashes[i] != hashes[start] || !sameKeys(sorted, spec.Keys, start, i) {
			if err := call(start, i); err != nil {
				return nil, err
			}
			start = i
		}
	}
	return out, nil
}

// sameKeys reports whether rows a and b have equal key values.
func sameKeys(rec arrow.RecordBatch, keys []string, a, b int) bool {
	for _, k := range keys {
		col := rec.Column(rec.Schema().FieldIndices(k)[0])
		if col.IsNull(a) != col.IsNull(b) || (!col.IsNull(a) && col.ValueStr(a) != col.ValueStr(b)) {
			return false
		}
	}
	return true
}

// zipRecords puts the columns of right's rows beside left's.
func zipRecords(left, right []arrow.RecordBatch) ([]arrow.RecordBatch, error) {
	l, err := compute.Concat(left)
	if err != nil {
		return nil, err
	}
	r, err := compute.Concat(right)
	if err != nil {
		return nil, err
	}
	if l.NumRows() != r.NumRows() {
		return nil, fmt.Errorf("%w: zip of %d rows with %d", ErrInvalidArgument, l.NumRows(), r.NumRows())
	}
	fields := append([]arrow.Field{}, l.Schema().Fields()...)
	cols := append([]arrow.Array{}, l.Columns()...)
	taken := map[string]bool{}
	for _, f := range fields {
		taken[f.Name] = true
	}
	for i, f := range r.Schema().Fields() {
		for taken[f.Name] {
			f.Name += "_1" // Ray's suffix for a clash
		}
		taken[f.Name] = true
		fields = append(fields, f)
		cols = append(cols, r.Column(i))
	}
	return []arrow.RecordBatch{array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, l.NumRows())}, nil
}

// run executes the operator over its inputs inside a running plan. A
// shuffle's intermediate parts have no lineage (they are a task's several
// results): when a node dies with some, the operator runs again, its
// inputs rebuilt from theirs.
func (b *barrierSpec) run(ctx context.Context, ex *executor, in []blockRef) ([]blockRef, error) {
	out, err := b.runOnce(ctx, ex, in)
	for attempt := 0; attempt < 2 && errors.Is(err, rayo.ErrObjectLost) && ctx.Err() == nil; attempt++ {
		out, err = b.runOnce(ctx, ex, in)
	}
	return out, err
}

func (b *barrierSpec) runOnce(ctx context.Context, ex *executor, in []blockRef) ([]blockRef, error) {
	target := ex.cfg.targetBlock
	var total int64
	for _, x := range in {
		total += x.Meta.Bytes
	}
	small := len(in) <= 1 || total <= target
	n := max(1, len(in))
	label := b.Kind
	switch b.Kind {
	case "shuffle":
		if small {
			return reduceOne(ctx, reduceSpec{Kind: "shuffle", Seed: b.Seed, Label: label, Target: target}, in)
		}
		return shuffleStage(ctx, in, n, func(i int) partSpec {
			return partSpec{Kind: "random", N: n, Seed: b.Seed ^ uint64(i)*0x9e3779b97f4a7c15}
		},
			func(j int) reduceSpec {
				return reduceSpec{Kind: "shuffle", Seed: b.Seed ^ uint64(j+1)*0xbf58476d1ce4e5b9, Label: label, Target: target}
			})
	case "sort":
		if small {
			return reduceOne(ctx, reduceSpec{Kind: "sort", SortKeys: b.SortKeys, Label: label, Target: target}, in)
		}
		bounds, err := boundaries(ctx, in, b.SortKeys, n, b.Seed)
		if err != nil {
			return nil, err
		}
		return shuffleStage(ctx, in, n, func(int) partSpec { return partSpec{Kind: "range", N: n, SortKeys: b.SortKeys, Boundaries: bounds} },
			func(int) reduceSpec {
				return reduceSpec{Kind: "sort", SortKeys: b.SortKeys, Label: label, Target: target}
			})
	case "aggregate":
		if small {
			return reduceOne(ctx, reduceSpec{Kind: "aggregate", Keys: b.Keys, Aggs: b.Aggs, Label: label, Target: target}, in)
		}
		if len(b.Keys) == 0 { // a global aggregation: partials, then one combine
			return shuffleStage(ctx, in, 1, func(int) partSpec { return partSpec{Kind: "random", N: 1, Aggs: b.Aggs} },
				func(int) reduceSpec { return reduceSpec{Kind: "combine", Aggs: b.Aggs, Label: label, Target: target} })
		}
		sk := ascending(b.Keys)
		bounds, err := boundaries(ctx, in, sk, n, b.Seed)
		if err != nil {
			return nil, err
		}
		// Ranges of keys, so that the outputs in order are sorted by key.
		return shuffleStage(ctx, in, n, func(int) partSpec {
			return partSpec{Kind: "range", N: n, Keys: b.Keys, SortKeys: sk, Boundaries: bounds, Aggs: b.Aggs}
		}, func(int) reduceSpec {
			return reduceSpec{Kind: "combine", Keys: b.Keys, Aggs: b.Aggs, Label: label, Target: target}
		})
	case "mapgroups":
		rs := func(int) reduceSpec {
			return reduceSpec{Kind: "mapgroups", Keys: b.Keys, Fn: b.Fn, Label: "MapGroups(" + b.Fn + ")", Target: target}
		}
		if small {
			return reduceOne(ctx, rs(0), in)
		}
		sk := ascending(b.Keys)
		bounds, err := boundaries(ctx, in, sk, n, b.Seed)
		if err != nil {
			return nil, err
		}
		return shuffleStage(ctx, in, n, func(int) partSpec { return partSpec{Kind: "range", N: n, SortKeys: sk, Boundaries: bounds} }, rs)
	case "repartition":
		return repartition(ctx, in, b.N, target)
	case "join", "zip":
		right, err := (&Dataset{n: b.Other, exec: b.OtherExec}).collect(ctx)
		if err != nil {
			return nil, err
		}
		defer releaseAll(right)
		if b.Kind == "zip" {
			return zip(ctx, in, right, target)
		}
		return join(ctx, b, in, right, target)
	}
	return nil, fmt.Errorf("%w: unknown all-to-all operator %q", ErrInvalidArgument, b.Kind)
}

func ascending(keys []string) []compute.SortKey {
	sk := make([]compute.SortKey, len(keys))
	for i, k := range keys {
		sk[i] = compute.SortKey{Column: k}
	}
	return sk
}

func releaseAll(bs []blockRef) {
	for _, b := range bs {
		b.release()
	}
}

// reduceOne runs one reduce task over every input block.
func reduceOne(ctx context.Context, spec reduceSpec, in []blockRef) ([]blockRef, error) {
	args := make([]any, 0, len(in)+1)
	args = append(args, spec)
	for _, b := range in {
		args = append(args, b.Ref)
	}
	return takeBlocks(ctx, reduceTask.Remote(args...))
}

// boundaries samples the blocks' keys and picks n-1 range boundaries,
// returned as an encoded block.
func boundaries(ctx context.Context, in []blockRef, keys []compute.SortKey, n int, seed uint64) ([]byte, error) {
	refs := make([]rayo.ObjectRef[[]byte], len(in))
	for i, b := range in {
		refs[i] = sampleTask.Remote(keys, 64*n, seed+uint64(i), b.Ref)
	}
	samples := make([]arrow.RecordBatch, 0, len(in))
	for _, r := range refs {
		raw, err := r.Get(ctx)
		if err != nil {
			return nil, err
		}
		rec, err := block.Decode(append([]byte(nil), raw...)) // a copy: the ref goes
		r.Release()
		if err != nil {
			return nil, err
		}
		samples = append(samples, rec)
	}
	bounds, err := compute.SampleBoundaries(samples, keys, n)
	if err != nil {
		return nil, err
	}
	return block.Encode(bounds)
}

// shuffleStage runs a map task per input block (each splitting it into n
// parts) and then n reduce tasks, reduce j over part j of every block;
// the outputs come in reduce order.
func shuffleStage(ctx context.Context, in []blockRef, n int, mapSpec func(i int) partSpec, redSpec func(j int) reduceSpec) ([]blockRef, error) {
	parts := make([][]rayo.ObjectRef[[]byte], len(in))
	for i, b := range in {
		parts[i] = rayo.RemoteN(partitionTask, n, mapSpec(i), b.Ref)
	}
	defer func() {
		for _, ps := range parts {
			for _, p := range ps {
				p.Release()
			}
		}
	}()
	return runReduces(ctx, n, func(j int) []any {
		args := make([]any, 0, len(in)+1)
		args = append(args, redSpec(j))
		for i := range in {
			args = append(args, parts[i][j])
		}
		return args
	})
}

// runReduces runs n reduce tasks at once, task j with args(j), and
// returns their outputs in task order.
func runReduces(ctx context.Context, n int, args func(j int) []any) ([]blockRef, error) {
	outs := make([][]blockRef, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for j := range n {
		s := reduceTask.Remote(args(j)...)
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[j], errs[j] = takeBlocks(ctx, s)
		}()
	}
	wg.Wait()
	var out []blockRef
	for j := range n {
		if errs[j] != nil {
			for _, o := range outs {
				releaseAll(o)
			}
			return nil, errs[j]
		}
		out = append(out, outs[j]...)
	}
	return out, nil
}

// repartition cuts the rows into n blocks of nearly equal rows (Ray's
// repartition without shuffle).
func repartition(ctx context.Context, in []blockRef, n int, target int64) ([]blockRef, error) {
	var total int64
	for _, b := range in {
		total += b.Meta.Rows
	}
	var out []blockRef
	for j := range n {
		lo, hi := total*int64(j)/int64(n), total*int64(j+1)/int64(n)
		part, err := sliceRows(ctx, in, lo, hi-lo, max(target, 1<<40)) // one block per part
		if err != nil {
			releaseAll(out)
			return nil, err
		}
		for _, b := range part {
			b.borrowed = false
			if b.Ref.ID() != "" {
				out = append(out, b)
			}
		}
	}
	return out, nil
}

// zip aligns right's rows with each left block's and puts them side by
// side.
func zip(ctx context.Context, left, right []blockRef, target int64) ([]blockRef, error) {
	var lrows, rrows int64
	for _, b := range left {
		lrows += b.Meta.Rows
	}
	for _, b := range right {
		rrows += b.Meta.Rows
	}
	if lrows != rrows {
		return nil, errorf("Zip: %d rows with %d rows", lrows, rrows)
	}
	var out []blockRef
	at := int64(0)
	for _, l := range left {
		if l.Meta.Rows == 0 {
			continue
		}
		r, err := sliceRows(ctx, right, at, l.Meta.Rows, target)
		if err != nil {
			releaseAll(out)
			return nil, err
		}
		at += l.Meta.Rows
		args := []any{reduceSpec{Kind: "zip", NLeft: 1, Label: "Zip", Target: target}, l.Ref}
		for _, b := range r {
			args = append(args, b.Ref)
		}
		z, err := takeBlocks(ctx, reduceTask.Remote(args...))
		releaseAll(r)
		if err != nil {
			releaseAll(out)
			return nil, err
		}
		out = append(out, z...)
	}
	return out, nil
}

// join hash-partitions both sides by their keys and joins part j of
// each in reduce j.
func join(ctx context.Context, b *barrierSpec, left, right []blockRef, target int64) ([]blockRef, error) {
	spec := reduceSpec{Kind: "join", Keys: b.Keys, RightKeys: b.RightKeys, How: b.How, Label: "Join", Target: target}
	var total int64
	for _, x := range append(append([]blockRef{}, left...), right...) {
		total += x.Meta.Bytes
	}
	if len(left) == 0 || len(right) == 0 || total <= target {
		if len(left) == 0 || len(right) == 0 {
			// One side is empty: one task still gives the right columns
			// when both have at least a block; else nothing to join with.
			if len(left) == 0 && (b.How == "inner" || b.How == "left") || len(right) == 0 && (b.How == "inner" || b.How == "right") {
				return nil, nil
			}
		}
		spec.NLeft = len(left)
		return reduceOne(ctx, spec, append(append([]blockRef{}, left...), right...))
	}
	n := max(len(left), len(right))
	lparts := make([][]rayo.ObjectRef[[]byte], len(left))
	for i, x := range left {
		lparts[i] = rayo.RemoteN(partitionTask, n, partSpec{Kind: "hash", N: n, Keys: b.Keys}, x.Ref)
	}
	rparts := make([][]rayo.ObjectRef[[]byte], len(right))
	for i, x := range right {
		rparts[i] = rayo.RemoteN(partitionTask, n, partSpec{Kind: "hash", N: n, Keys: b.RightKeys}, x.Ref)
	}
	defer func() {
		for _, ps := range append(lparts, rparts...) {
			for _, p := range ps {
				p.Release()
			}
		}
	}()
	spec.NLeft = len(left)
	return runReduces(ctx, n, func(j int) []any {
		args := []any{spec}
		for i := range left {
			args = append(args, lparts[i][j])
		}
		for i := range right {
			args = append(args, rparts[i][j])
		}
		return args
	})
}
