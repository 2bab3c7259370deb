package data

import (
	"context"
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
// Ray's, these operators wait for their whole input; then each input block
// is released once its map task is done, each part once its reduce is,
// and the output goes downstream in order under the run's budget.

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
	// Partial: the tasks before it aggregated partially already (the
	// plan pushed the group-by's first phase into them).
	Partial bool `msgpack:"p,omitempty"`
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

// run executes the operator over its inputs inside a running plan: it
// owns in, each block released as soon as the operator's tasks are done
// with it (so that the inputs shrink as a shuffle's parts grow) or passed
// on as it is, and hands its output to emit in order.
func (b *barrierSpec) run(ctx context.Context, ex *executor, in []blockRef, emit func(blockRef) error) error {
	ins := &inputs{ex: ex, blocks: in, done: make([]bool, len(in))}
	defer ins.releaseAll()
	return b.runOnce(ctx, ex, ins, func(x blockRef) error { return emit(ins.passOn(x)) })
}

// holdAll gives bs borrowed copies: their holder keeps the holds.
func holdAll(bs []blockRef) []blockRef {
	out := make([]blockRef, len(bs))
	for i, b := range bs {
		b.borrowed = true
		out[i] = b
	}
	return out
}

// inputs are an all-to-all operator's input blocks.
type inputs struct {
	ex     *executor
	blocks []blockRef
	done   []bool // released, or passed on
}

// release gives back input i (its tasks have it, or are done with it).
func (in *inputs) release(i int) {
	if !in.done[i] {
		in.done[i] = true
		in.ex.release(in.blocks[i])
	}
}

func (in *inputs) releaseAll() {
	for i := range in.blocks {
		in.release(i)
	}
}

// passOn marks an output that is an input block itself (a repartition's
// whole block): the run's hold moves to the output, as the input had it.
func (in *inputs) passOn(x blockRef) blockRef {
	for i, b := range in.blocks {
		if b.Ref.ID() == x.Ref.ID() && !in.done[i] {
			in.done[i] = true
			in.ex.keep(b) // delivered again below: counted once
			x.borrowed = b.borrowed
			return x
		}
	}
	return x
}

func (b *barrierSpec) runOnce(ctx context.Context, ex *executor, ins *inputs, emit func(blockRef) error) error {
	in := ins.blocks
	target := ex.cfg.targetBlock
	var total int64
	for _, x := range in {
		total += x.Meta.Bytes
	}
	small := len(in) <= 1 || total <= target
	n := max(1, len(in))
	label := b.Kind
	reducers := max(1, int(ex.cfg.cpus))
	switch b.Kind {
	case "shuffle":
		if small {
			return reduceOne(ctx, reduceSpec{Kind: "shuffle", Seed: b.Seed, Label: label, Target: target}, ins, emit)
		}
		return shuffleStage(ctx, ins, n, reducers, func(i int) partSpec {
			return partSpec{Kind: "random", N: n, Seed: b.Seed ^ uint64(i)*0x9e3779b97f4a7c15}
		},
			func(j int) reduceSpec {
				return reduceSpec{Kind: "shuffle", Seed: b.Seed ^ uint64(j+1)*0xbf58476d1ce4e5b9, Label: label, Target: target}
			}, emit)
	case "sort":
		if small {
			return reduceOne(ctx, reduceSpec{Kind: "sort", SortKeys: b.SortKeys, Label: label, Target: target}, ins, emit)
		}
		bounds, err := boundaries(ctx, in, b.SortKeys, n, b.Seed)
		if err != nil {
			return err
		}
		return shuffleStage(ctx, ins, n, reducers, func(int) partSpec { return partSpec{Kind: "range", N: n, SortKeys: b.SortKeys, Boundaries: bounds} },
			func(int) reduceSpec {
				return reduceSpec{Kind: "sort", SortKeys: b.SortKeys, Label: label, Target: target}
			}, emit)
	case "aggregate":
		combine := reduceSpec{Kind: "combine", Keys: b.Keys, Aggs: b.Aggs, Label: label, Target: target}
		if b.Partial && total <= localCombineBytes {
			return combineHere(ctx, combine, ins, emit)
		}
		if b.Partial && (small || len(b.Keys) == 0) {
			return reduceOne(ctx, combine, ins, emit)
		}
		if b.Partial {
			sk := ascending(b.Keys)
			bounds, err := boundaries(ctx, in, sk, n, b.Seed)
			if err != nil {
				return err
			}
			return shuffleStage(ctx, ins, n, reducers, func(int) partSpec {
				return partSpec{Kind: "range", N: n, SortKeys: sk, Boundaries: bounds}
			}, func(int) reduceSpec { return combine }, emit)
		}
		if small {
			return reduceOne(ctx, reduceSpec{Kind: "aggregate", Keys: b.Keys, Aggs: b.Aggs, Label: label, Target: target}, ins, emit)
		}
		if len(b.Keys) == 0 { // a global aggregation: partials, then one combine
			return shuffleStage(ctx, ins, 1, 1, func(int) partSpec { return partSpec{Kind: "random", N: 1, Aggs: b.Aggs} },
				func(int) reduceSpec { return reduceSpec{Kind: "combine", Aggs: b.Aggs, Label: label, Target: target} }, emit)
		}
		sk := ascending(b.Keys)
		bounds, err := boundaries(ctx, in, sk, n, b.Seed)
		if err != nil {
			return err
		}
		// Ranges of keys, so that the outputs in order are sorted by key.
		return shuffleStage(ctx, ins, n, reducers, func(int) partSpec {
			return partSpec{Kind: "range", N: n, Keys: b.Keys, SortKeys: sk, Boundaries: bounds, Aggs: b.Aggs}
		}, func(int) reduceSpec {
			return reduceSpec{Kind: "combine", Keys: b.Keys, Aggs: b.Aggs, Label: label, Target: target}
		}, emit)
	case "mapgroups":
		rs := func(int) reduceSpec {
			return reduceSpec{Kind: "mapgroups", Keys: b.Keys, Fn: b.Fn, Label: "MapGroups(" + b.Fn + ")", Target: target}
		}
		if small {
			return reduceOne(ctx, rs(0), ins, emit)
		}
		sk := ascending(b.Keys)
		bounds, err := boundaries(ctx, in, sk, n, b.Seed)
		if err != nil {
			return err
		}
		return shuffleStage(ctx, ins, n, reducers, func(int) partSpec { return partSpec{Kind: "range", N: n, SortKeys: sk, Boundaries: bounds} }, rs, emit)
	case "repartition":
		return repartition(ctx, ins, b.N, target, emit)
	case "join", "zip":
		right, err := (&Dataset{n: b.Other, exec: b.OtherExec}).collect(ctx)
		if err != nil {
			return err
		}
		defer releaseAll(right)
		if b.Kind == "zip" {
			return zip(ctx, ins, right, target, emit)
		}
		return join(ctx, b, ins, right, target, reducers, emit)
	}
	return fmt.Errorf("%w: unknown all-to-all operator %q", ErrInvalidArgument, b.Kind)
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

// emitAll hands blocks to emit in order; on a failure it releases the
// ones not handed over.
func emitAll(bs []blockRef, emit func(blockRef) error) error {
	for i, b := range bs {
		if err := emit(b); err != nil {
			releaseAll(bs[i+1:])
			return err
		}
	}
	return nil
}

// localCombineBytes bounds the partial states combined in the process
// that runs the plan rather than in a task: a few groups' states cost
// less to combine than a task's round trip.
const localCombineBytes = 1 << 20

// combineHere combines small partial states here and puts the result in
// the store as a block.
func combineHere(ctx context.Context, spec reduceSpec, ins *inputs, emit func(blockRef) error) error {
	recs := make([]arrow.RecordBatch, 0, len(ins.blocks))
	for _, b := range ins.blocks {
		raw, err := b.Ref.Get(ctx)
		if err != nil {
			return err
		}
		rec, err := block.Decode(append([]byte(nil), raw...)) // a copy: the input goes
		if err != nil {
			return err
		}
		recs = append(recs, rec)
	}
	ins.releaseAll()
	out, err := reduceRecords(ctx, spec, recs)
	if err != nil {
		return fmt.Errorf("data: %s: %w", spec.Label, err)
	}
	for _, rec := range out {
		enc, err := block.Encode(rec)
		if err != nil {
			return err
		}
		ref, err := rayo.Put(ctx, enc)
		if err != nil {
			return err
		}
		if err := emit(blockRef{Ref: ref, Meta: blockMeta{Rows: rec.NumRows(), Bytes: int64(len(enc))}}); err != nil {
			return err
		}
	}
	return nil
}

// reduceOne runs one reduce task over every input block.
func reduceOne(ctx context.Context, spec reduceSpec, ins *inputs, emit func(blockRef) error) error {
	args := make([]any, 0, len(ins.blocks)+1)
	args = append(args, spec)
	for _, b := range ins.blocks {
		args = append(args, b.Ref)
	}
	out, err := takeBlocks(ctx, reduceTask.Remote(args...))
	ins.releaseAll()
	if err != nil {
		return err
	}
	return emitAll(out, emit)
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
// parts), then n reduce tasks, reduce j over part j of every block, a few
// at a time; the outputs go to emit in reduce order. An input block is
// released once its map task is done, and part j of every block once
// reduce j is: the inputs shrink as the parts grow, and the parts as the
// outputs do.
func shuffleStage(ctx context.Context, ins *inputs, n, inFlight int, mapSpec func(i int) partSpec, redSpec func(j int) reduceSpec, emit func(blockRef) error) error {
	parts, err := partitionAll(ctx, ins, n, mapSpec)
	if err != nil {
		return err
	}
	in := ins.blocks
	return runReduces(ctx, n, inFlight, func(j int) []any {
		args := make([]any, 0, len(in)+1)
		args = append(args, redSpec(j))
		for i := range in {
			args = append(args, parts[i][j])
		}
		return args
	}, func(j int) {
		for i := range in {
			parts[i][j].Release()
		}
	}, emit)
}

// partitionAll runs a map task per input block and releases each input
// once its parts are made.
func partitionAll(ctx context.Context, ins *inputs, n int, mapSpec func(i int) partSpec) ([][]rayo.ObjectRef[[]byte], error) {
	parts := make([][]rayo.ObjectRef[[]byte], len(ins.blocks))
	for i, b := range ins.blocks {
		parts[i] = rayo.RemoteN(partitionTask, n, mapSpec(i), b.Ref)
	}
	pending := make([]rayo.Ref, len(parts))
	index := map[string]int{}
	for i, p := range parts {
		pending[i] = p[0] // a task's results complete together
		index[p[0].ID()] = i
	}
	for len(pending) > 0 {
		ready, rest, err := rayo.WaitRefs(ctx, pending, 1, -1)
		if err != nil {
			releaseParts(parts)
			return nil, err
		}
		for _, r := range ready {
			ins.release(index[r.ID()])
		}
		pending = rest
	}
	return parts, nil
}

func releaseParts(parts [][]rayo.ObjectRef[[]byte]) {
	for _, ps := range parts {
		for _, p := range ps {
			p.Release()
		}
	}
}

// runReduces runs n reduce tasks, inFlight at a time, task j with
// args(j); once task j is done, done(j) releases its inputs and its
// output goes to emit, in task order.
func runReduces(ctx context.Context, n, inFlight int, args func(j int) []any, done func(j int), emit func(blockRef) error) error {
	type result struct {
		out []blockRef
		err error
		end chan struct{}
	}
	results := make([]*result, n)
	var wg sync.WaitGroup
	start := func(j int) {
		r := &result{end: make(chan struct{})}
		results[j] = r
		s := reduceTask.Remote(args(j)...)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(r.end)
			r.out, r.err = takeBlocks(ctx, s)
		}()
	}
	started := 0
	for ; started < min(inFlight, n); started++ {
		start(started)
	}
	var err error
	j := 0
	for ; j < n && err == nil; j++ {
		r := results[j]
		<-r.end // takeBlocks ends with ctx
		done(j)
		if started < n {
			start(started)
			started++
		}
		if err = r.err; err == nil {
			err = emitAll(r.out, emit)
		}
	}
	// On a failure: the reduces started after it end, their outputs go.
	wg.Wait()
	for ; j < started; j++ {
		done(j)
		releaseAll(results[j].out)
	}
	for ; j < n; j++ {
		done(j)
	}
	return err
}

// repartition cuts the rows into n blocks of nearly equal rows (Ray's
// repartition without shuffle).
func repartition(ctx context.Context, ins *inputs, n int, target int64, emit func(blockRef) error) error {
	in := ins.blocks
	var total int64
	for _, b := range in {
		total += b.Meta.Rows
	}
	for j := range n {
		lo, hi := total*int64(j)/int64(n), total*int64(j+1)/int64(n)
		part, err := sliceRows(ctx, in, lo, hi-lo, max(target, 1<<40)) // one block per part
		if err != nil {
			return err
		}
		if err := emitAll(part, emit); err != nil {
			return err
		}
	}
	return nil
}

// zip aligns right's rows with each left block's and puts them side by
// side.
func zip(ctx context.Context, ins *inputs, right []blockRef, target int64, emit func(blockRef) error) error {
	left := ins.blocks
	var lrows, rrows int64
	for _, b := range left {
		lrows += b.Meta.Rows
	}
	for _, b := range right {
		rrows += b.Meta.Rows
	}
	if lrows != rrows {
		return errorf("Zip: %d rows with %d rows", lrows, rrows)
	}
	at := int64(0)
	for i, l := range left {
		if l.Meta.Rows == 0 {
			continue
		}
		r, err := sliceRows(ctx, right, at, l.Meta.Rows, target)
		if err != nil {
			return err
		}
		at += l.Meta.Rows
		args := []any{reduceSpec{Kind: "zip", NLeft: 1, Label: "Zip", Target: target}, l.Ref}
		for _, b := range r {
			args = append(args, b.Ref)
		}
		z, err := takeBlocks(ctx, reduceTask.Remote(args...))
		releaseAll(r)
		ins.release(i)
		if err != nil {
			return err
		}
		if err := emitAll(z, emit); err != nil {
			return err
		}
	}
	return nil
}

// join hash-partitions both sides by their keys and joins part j of
// each in reduce j.
func join(ctx context.Context, b *barrierSpec, ins *inputs, right []blockRef, target int64, inFlight int, emit func(blockRef) error) error {
	left := ins.blocks
	spec := reduceSpec{Kind: "join", Keys: b.Keys, RightKeys: b.RightKeys, How: b.How, Label: "Join", Target: target, NLeft: len(left)}
	var total int64
	for _, x := range append(append([]blockRef{}, left...), right...) {
		total += x.Meta.Bytes
	}
	if len(left) == 0 && (b.How == "inner" || b.How == "left") || len(right) == 0 && (b.How == "inner" || b.How == "right") {
		return nil // nothing to join with
	}
	if len(left) == 0 || len(right) == 0 || total <= target {
		both := &inputs{ex: ins.ex, blocks: append(append([]blockRef{}, left...), holdAll(right)...), done: make([]bool, len(left)+len(right))}
		for i := len(left); i < len(both.blocks); i++ {
			both.done[i] = true // right's blocks are the collect's: released by the caller
		}
		err := reduceOne(ctx, spec, both, emit)
		copy(ins.done, both.done[:len(left)])
		return err
	}
	n := max(len(left), len(right))
	lparts, err := partitionAll(ctx, ins, n, func(int) partSpec { return partSpec{Kind: "hash", N: n, Keys: b.Keys} })
	if err != nil {
		return err
	}
	rparts := make([][]rayo.ObjectRef[[]byte], len(right))
	for i, x := range right {
		rparts[i] = rayo.RemoteN(partitionTask, n, partSpec{Kind: "hash", N: n, Keys: b.RightKeys}, x.Ref)
	}
	return runReduces(ctx, n, inFlight, func(j int) []any {
		args := []any{spec}
		for i := range left {
			args = append(args, lparts[i][j])
		}
		for i := range right {
			args = append(args, rparts[i][j])
		}
		return args
	}, func(j int) {
		for i := range left {
			lparts[i][j].Release()
		}
		for i := range right {
			rparts[i][j].Release()
		}
	}, emit)
}
