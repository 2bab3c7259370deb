package data

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/data/internal/block"
	"github.com/rayo-dev/rayo/data/internal/rows"
)

// Dataset is a lazy, distributed collection of rows held as Arrow blocks
// (Ray's ray.data.Dataset). Transformations return a new Dataset and run
// nothing; consuming it (Iter, Take, Count, Write...) runs the plan with
// the streaming executor. A Dataset is immutable and safe to share.
type Dataset struct {
	n    *node
	err  error
	exec execOptions
}

// nodeKind is a logical operator's kind.
type nodeKind int

const (
	nodeRead    nodeKind = iota + 1 // read tasks over units
	nodeBlocks                      // blocks already in the store
	nodeOp                          // a row-wise operator: fused into tasks
	nodeLimit                       // the first n rows
	nodeBarrier                     // an all-to-all operator
	nodeUnion                       // datasets one after another
)

// node is a logical operator; Input is the one before it. A plan is
// plain data (msgpack-encodable), so that it can run in another process:
// StreamingSplit runs it in a coordinator actor.
type node struct {
	Kind  nodeKind `msgpack:"k"`
	Label string   `msgpack:"l"`
	Input *node    `msgpack:"i,omitempty"`
	// nodeRead: the source, split into units when the plan runs (listing
	// files is I/O).
	Source *sourceSpec `msgpack:"s,omitempty"`
	// nodeBlocks
	Blocks []blockRef `msgpack:"b,omitempty"`
	// nodeOp
	Op     opSpec     `msgpack:"o"`
	FnArgs []byte     `msgpack:"a,omitempty"` // a class function's constructor arguments
	Opts   mapOptions `msgpack:"m"`
	// nodeLimit
	Limit int64 `msgpack:"n,omitempty"`
	// nodeBarrier
	Barrier *barrierSpec `msgpack:"r,omitempty"`
	// nodeUnion
	Union []*node `msgpack:"u,omitempty"`
	// nodeUnion, nodeBarrier: the run options of the other inputs.
	Exec []execOptions `msgpack:"e,omitempty"`

	statsOnce sync.Once
	stats     *runStats // the latest run's figures
}

func errorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidArgument}, args...)...)
}

// failed is a Dataset whose every use fails with err.
func failed(err error) *Dataset { return &Dataset{err: err} }

func (d *Dataset) then(n *node) *Dataset {
	if d.err != nil {
		return d
	}
	n.Input = d.n
	return &Dataset{n: n, exec: d.exec}
}

// Range is a dataset of the integers [0, n) in an int64 column "id"
// (Ray's ray.data.range), read by twice as many tasks as the cluster has
// CPUs (more for a large n, fewer for a small one) unless Parallelism
// says.
func Range(n int64, opts ...ReadOption) *Dataset {
	if n < 0 {
		return failed(errorf("Range(%d): n must not be negative", n))
	}
	ro := newReadOptions(opts)
	return &Dataset{n: &node{Kind: nodeRead, Label: "Range", Source: &sourceSpec{Kind: "range", N: n, Parallelism: ro.parallelism}},
		exec: defaultExecOptions()}
}

// FromItems is a dataset of Go values (Ray's ray.data.from_items): T is a
// struct whose exported fields become the columns (named by `arrow:"name"`
// tags; see the package doc for the types). The items are put in the
// object store now, in blocks of at most the target block size.
func FromItems[T any](ctx context.Context, items []T) (*Dataset, error) {
	rec, err := rows.ToRecord(memory.DefaultAllocator, items)
	if err != nil {
		return nil, err
	}
	return FromArrow(ctx, rec)
}

// FromArrow is a dataset of Arrow record batches (Ray's
// ray.data.from_arrow), put in the object store now, one block each (or
// more, when a batch is above the target block size).
func FromArrow(ctx context.Context, recs ...arrow.RecordBatch) (*Dataset, error) {
	var blocks []blockRef
	release := func() {
		for _, b := range blocks {
			b.release()
		}
	}
	for _, rec := range recs {
		if rec == nil {
			release()
			return nil, errorf("FromArrow: a nil record batch")
		}
		for _, part := range splitRecord(rec, defaultTargetBlock) {
			b, err := block.Encode(part)
			if err != nil {
				release()
				return nil, err
			}
			ref, err := rayo.Put(ctx, b)
			if err != nil {
				release()
				return nil, err
			}
			blocks = append(blocks, blockRef{Ref: ref, Meta: blockMeta{Rows: part.NumRows(), Bytes: int64(len(b))}})
		}
	}
	return &Dataset{n: &node{Kind: nodeBlocks, Label: "FromArrow", Blocks: blocks}, exec: defaultExecOptions()}, nil
}

// splitRecord cuts rec into slices of at most target bytes.
func splitRecord(rec arrow.RecordBatch, target int64) []arrow.RecordBatch {
	size := recordBytes(rec)
	if size <= target || rec.NumRows() <= 1 {
		return []arrow.RecordBatch{rec}
	}
	parts := (size + target - 1) / target
	per := (rec.NumRows() + parts - 1) / parts
	var out []arrow.RecordBatch
	for off := int64(0); off < rec.NumRows(); off += per {
		out = append(out, rec.NewSlice(off, min(off+per, rec.NumRows())))
	}
	return out
}

// udf adds an operator that runs fn, checking its kind.
func (d *Dataset) udf(label string, fn *Fn, want []fnKind, opts []MapOption) *Dataset {
	if d.err != nil {
		return d
	}
	if fn == nil {
		return failed(errorf("%s: a nil function", label))
	}
	if fn.err != nil {
		return failed(fn.err)
	}
	if !slices.Contains(want, fn.kind) {
		return failed(fmt.Errorf("%w: %s takes %v, %q is %v", ErrWrongKind, label, want[0], fn.name, fn.kind))
	}
	mo := newMapOptions(opts)
	if mo.err != nil {
		return failed(fmt.Errorf("%s: %w", label, mo.err))
	}
	if fn.kind != kindClass && mo.MinActors > 0 && mo.MinActors != mo.MaxActors {
		return failed(errorf("%s: Concurrency(%d, %d): a range of sizes is for a Class's actor pool; a plain function takes a cap, Concurrency(n, n)", label, mo.MinActors, mo.MaxActors))
	}
	batch := mo.BatchSize
	if !mo.BatchSizeSet && fn.kind != kindBatch && fn.kind != kindClass {
		batch = defaultBatchSize
	}
	label = fmt.Sprintf("%s(%s)", label, fn.name)
	return d.then(&node{Kind: nodeOp, Label: label, FnArgs: fn.args, Opts: mo,
		Op: opSpec{Kind: opUDF, Label: label, Fn: fn.name, FnKind: fn.kind, BatchSize: batch}})
}

// Map runs fn on each row (Ray's Dataset.map). fn comes from MapFunc.
func (d *Dataset) Map(fn *Fn, opts ...MapOption) *Dataset {
	return d.udf("Map", fn, []fnKind{kindMap}, opts)
}

// FlatMap runs fn on each row; each gives any number of rows (Ray's
// flat_map). fn comes from FlatMapFunc.
func (d *Dataset) FlatMap(fn *Fn, opts ...MapOption) *Dataset {
	return d.udf("FlatMap", fn, []fnKind{kindFlatMap}, opts)
}

// Filter keeps the rows for which fn returns true (Ray's filter). fn
// comes from FilterFunc.
func (d *Dataset) Filter(fn *Fn, opts ...MapOption) *Dataset {
	return d.udf("Filter", fn, []fnKind{kindFilter}, opts)
}

// MapBatches runs fn on batches of rows (Ray's map_batches): fn comes
// from BatchFunc or ColumnsFunc (run as tasks), or from a Class's With
// (run on an autoscaling pool of actors: see Concurrency).
func (d *Dataset) MapBatches(fn *Fn, opts ...MapOption) *Dataset {
	return d.udf("MapBatches", fn, []fnKind{kindBatch, kindClass}, opts)
}

// AddColumn adds a column computed by fn from each batch (Ray's
// add_column). fn comes from ColumnFunc.
func (d *Dataset) AddColumn(name string, fn *Fn, opts ...MapOption) *Dataset {
	if name == "" {
		return failed(errorf("AddColumn: an empty column name"))
	}
	out := d.udf("AddColumn", fn, []fnKind{kindColumn}, opts)
	if out.err == nil {
		out.n.Op.Kind, out.n.Op.Cols = opAddCol, []string{name}
	}
	return out
}

// reshape adds a select, drop or rename.
func (d *Dataset) reshape(label string, op opSpec) *Dataset {
	op.Label = label
	return d.then(&node{Kind: nodeOp, Label: label, Op: op, Opts: newMapOptions(nil)})
}

// SelectColumns keeps only cols, in that order (Ray's select_columns).
func (d *Dataset) SelectColumns(cols ...string) *Dataset {
	if len(cols) == 0 {
		return failed(errorf("SelectColumns: no columns"))
	}
	return d.reshape("SelectColumns("+strings.Join(cols, ", ")+")", opSpec{Kind: opSelect, Cols: cols})
}

// DropColumns removes cols (Ray's drop_columns).
func (d *Dataset) DropColumns(cols ...string) *Dataset {
	if len(cols) == 0 {
		return failed(errorf("DropColumns: no columns"))
	}
	return d.reshape("DropColumns("+strings.Join(cols, ", ")+")", opSpec{Kind: opDrop, Cols: cols})
}

// RenameColumns renames columns, old name to new (Ray's rename_columns).
func (d *Dataset) RenameColumns(names map[string]string) *Dataset {
	if len(names) == 0 {
		return failed(errorf("RenameColumns: no columns"))
	}
	old := slices.Sorted(maps.Keys(names))
	to := make([]string, len(old))
	pairs := make([]string, len(old))
	for i, o := range old {
		if names[o] == "" {
			return failed(errorf("RenameColumns: an empty new name for %q", o))
		}
		to[i] = names[o]
		pairs[i] = o + "->" + to[i]
	}
	return d.reshape("RenameColumns("+strings.Join(pairs, ", ")+")", opSpec{Kind: opRename, Cols: old, To: to})
}

// Limit keeps the first n rows (Ray's limit). Reading stops once they
// are read: the limit is pushed into the reads.
func (d *Dataset) Limit(n int64) *Dataset {
	if n < 0 {
		return failed(errorf("Limit(%d): n must not be negative", n))
	}
	return d.then(&node{Kind: nodeLimit, Label: fmt.Sprintf("Limit[%d]", n), Limit: n})
}

// Union is this dataset's rows followed by others' (Ray's union).
func (d *Dataset) Union(others ...*Dataset) *Dataset {
	if d.err != nil {
		return d
	}
	all := append([]*Dataset{d}, others...)
	for _, o := range others {
		if o == nil {
			return failed(errorf("Union: a nil dataset"))
		}
		if o.err != nil {
			return o
		}
	}
	ns := make([]*node, len(all))
	execs := make([]execOptions, len(all))
	for i, o := range all {
		ns[i], execs[i] = o.n, o.exec
	}
	return &Dataset{n: &node{Kind: nodeUnion, Label: "Union", Union: ns, Exec: execs}, exec: d.exec}
}

// OpStats are an operator's figures for a run (Ray's Dataset.stats()).
type OpStats struct {
	Op         string        // the operator, e.g. "ReadParquet->MapBatches(f)"
	Tasks      int64         // tasks (or actor calls) finished
	Rows       int64         // rows out
	Blocks     int64         // blocks out
	Bytes      int64         // bytes of those blocks
	Wall       time.Duration // from its first task to its end
	TaskWall   time.Duration // its tasks' wall time, summed
	TaskCPU    time.Duration // its tasks' CPU time, summed
	PeakQueued int64         // the most bytes of its output waiting downstream
	Actors     int           // an actor pool's size at its largest
	Running    int           // tasks running (in a snapshot)
	Queued     int64         // bytes of its output waiting now (in a snapshot)
	Done       bool          // finished (in a snapshot)
}
