package data

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	acompute "github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/util"

	"github.com/rayo-dev/rayo/data/internal/compute"
)

// The fused operators of one task run in a worker as a chain of steps:
// each step takes the records the one before it produced, in order, and
// hands its own on. Batch-sized steps buffer rows until a batch is full.

// opKind names a row-wise operator that runs inside a task.
type opKind string

const (
	opUDF    opKind = "udf"    // Map, FlatMap, Filter, MapBatches: a registered function
	opAddCol opKind = "addcol" // AddColumn: a column function
	opSelect opKind = "select" // SelectColumns
	opDrop   opKind = "drop"   // DropColumns
	opRename opKind = "rename" // RenameColumns
	opLimit  opKind = "limit"  // a per-task limit pushed into a read
	opSlice  opKind = "slice"  // rows [Skip, Skip+N) of the task's input
	// opPartial is a group-by's partial aggregation pushed into the tasks
	// before it: they hand on per-group states, not rows.
	opPartial opKind = "partial"
)

// opSpec is one fused operator, as it travels in a task's arguments.
type opSpec struct {
	Kind      opKind   `msgpack:"k"`
	Label     string   `msgpack:"l"`           // the operator's name in errors and stats
	Fn        string   `msgpack:"f,omitempty"` // the registered function
	FnKind    fnKind   `msgpack:"fk,omitempty"`
	BatchSize int      `msgpack:"b,omitempty"` // rows per batch; 0: whole records
	Cols      []string `msgpack:"c,omitempty"` // select/drop; rename's old names; addcol's name
	To        []string `msgpack:"t,omitempty"` // rename's new names
	N         int64    `msgpack:"n,omitempty"` // limit, slice: rows to pass
	Skip      int64    `msgpack:"s,omitempty"` // slice: rows to drop first
	// partial: the group-by's keys and aggregations.
	Keys []string      `msgpack:"ks,omitempty"`
	Aggs []compute.Agg `msgpack:"a,omitempty"`
}

// step is one operator of a running chain.
type step interface {
	// push hands the step a record; it may keep it until finish.
	push(ctx context.Context, rec arrow.RecordBatch) error
	// finish flushes what the step buffered.
	finish(ctx context.Context) error
}

// outFunc is the end of a chain: it receives the chain's output.
type outFunc func(ctx context.Context, rec arrow.RecordBatch) error

// buildChain makes the steps of ops in front of out. state, for a class
// function, is the actor's instance.
func buildChain(ops []opSpec, state any, out outFunc) (step, error) {
	next := stepFunc(out)
	var first step = next
	for i := len(ops) - 1; i >= 0; i-- {
		s, err := newStep(ops[i], state, first)
		if err != nil {
			return nil, err
		}
		first = s
	}
	return first, nil
}

// stepFunc adapts an outFunc into the chain's last step.
type stepFunc outFunc

func (f stepFunc) push(ctx context.Context, rec arrow.RecordBatch) error { return f(ctx, rec) }
func (f stepFunc) finish(context.Context) error                          { return nil }

func newStep(op opSpec, state any, next step) (step, error) {
	switch op.Kind {
	case opUDF:
		fn, err := udfOf(op, state)
		if err != nil {
			return nil, err
		}
		return &batchStep{op: op, fn: fn, next: next}, nil
	case opAddCol:
		def, err := lookupFn(op.Fn, kindColumn)
		if err != nil {
			return nil, err
		}
		name := op.Cols[0]
		fn := func(ctx context.Context, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
			col, err := def.column(ctx, rec)
			if err != nil {
				return nil, err
			}
			if col == nil || int64(col.Len()) != rec.NumRows() {
				n := -1
				if col != nil {
					n = col.Len()
				}
				return nil, fmt.Errorf("%w: the column has %d values for a batch of %d rows", ErrBadBatch, n, rec.NumRows())
			}
			fields := append(append([]arrow.Field{}, rec.Schema().Fields()...), arrow.Field{Name: name, Type: col.DataType(), Nullable: true})
			cols := append(append([]arrow.Array{}, rec.Columns()...), col)
			return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, rec.NumRows()), nil
		}
		return &batchStep{op: op, fn: fn, next: next}, nil
	case opSelect, opDrop, opRename:
		return &batchStep{op: op, fn: func(_ context.Context, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
			return reshape(op, rec)
		}, next: next, internal: true}, nil
	case opLimit:
		return &limitStep{left: op.N, next: next}, nil
	case opSlice:
		return &skipStep{skip: op.Skip, next: &limitStep{left: op.N, next: next}}, nil
	case opPartial:
		return &partialStep{op: op, next: next}, nil
	}
	return nil, fmt.Errorf("%w: unknown operator %q", ErrInvalidArgument, op.Kind)
}

// udfOf resolves an operator's registered function in this process.
func udfOf(op opSpec, state any) (batchFunc, error) {
	if op.FnKind == kindClass {
		def, err := lookupFn(op.Fn, kindClass)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
			return def.call(ctx, state, rec)
		}, nil
	}
	def, err := lookupFn(op.Fn, op.FnKind)
	if err != nil {
		return nil, err
	}
	return def.batch, nil
}

// batchStep runs a function on batches of op.BatchSize rows (whole
// records when 0), gathering rows across records when they are smaller.
type batchStep struct {
	op       opSpec
	fn       batchFunc
	next     step
	internal bool // a rayo operator, not a user's function

	pending []arrow.RecordBatch // rows not yet in a batch
	rows    int64               // rows in pending
	seen    int64               // rows handed to fn so far
}

func (s *batchStep) push(ctx context.Context, rec arrow.RecordBatch) error {
	if rec.NumRows() == 0 && s.op.BatchSize > 0 {
		return nil
	}
	if s.op.BatchSize <= 0 {
		return s.call(ctx, rec)
	}
	s.pending = append(s.pending, rec)
	s.rows += rec.NumRows()
	for s.rows >= int64(s.op.BatchSize) {
		if err := s.callFirst(ctx, int64(s.op.BatchSize)); err != nil {
			return err
		}
	}
	return nil
}

func (s *batchStep) finish(ctx context.Context) error {
	if s.rows > 0 {
		if err := s.callFirst(ctx, s.rows); err != nil {
			return err
		}
	}
	return s.next.finish(ctx)
}

// callFirst calls fn on the first n pending rows.
func (s *batchStep) callFirst(ctx context.Context, n int64) error {
	batch, rest, err := takeRows(s.pending, n)
	if err != nil {
		return err
	}
	s.pending = rest
	s.rows -= n
	return s.call(ctx, batch)
}

// call runs fn on one batch, turning a failure or a panic into a
// *UDFError that names the operator and the rows.
func (s *batchStep) call(ctx context.Context, batch arrow.RecordBatch) (err error) {
	first := s.seen
	s.seen += batch.NumRows()
	out, err := s.safeCall(ctx, batch)
	if err != nil {
		if s.internal {
			return fmt.Errorf("data: %s: %w", s.op.Label, err)
		}
		if re, ok := err.(*rowError); ok {
			first += int64(re.row)
			return &UDFError{Op: s.op.Label, Fn: s.op.Fn, FirstRow: first, Rows: 1, Err: re.err}
		}
		return &UDFError{Op: s.op.Label, Fn: s.op.Fn, FirstRow: first, Rows: batch.NumRows(), Err: err}
	}
	if err := checkBatch(out); err != nil {
		return &UDFError{Op: s.op.Label, Fn: s.op.Fn, FirstRow: first, Rows: batch.NumRows(), Err: err}
	}
	return s.next.push(ctx, out)
}

func (s *batchStep) safeCall(ctx context.Context, batch arrow.RecordBatch) (out arrow.RecordBatch, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return s.fn(ctx, batch)
}

// checkBatch refuses a batch whose columns disagree with its length.
func checkBatch(rec arrow.RecordBatch) error {
	if rec == nil {
		return fmt.Errorf("%w: nil batch", ErrBadBatch)
	}
	if int(rec.NumCols()) != len(rec.Schema().Fields()) {
		return fmt.Errorf("%w: %d columns for %d schema fields", ErrBadBatch, rec.NumCols(), len(rec.Schema().Fields()))
	}
	for i, c := range rec.Columns() {
		if int64(c.Len()) != rec.NumRows() {
			return fmt.Errorf("%w: column %q has %d values, the batch %d rows", ErrBadBatch, rec.Schema().Field(i).Name, c.Len(), rec.NumRows())
		}
		if !arrow.TypeEqual(c.DataType(), rec.Schema().Field(i).Type) {
			return fmt.Errorf("%w: column %q is %s, its field says %s", ErrBadBatch, rec.Schema().Field(i).Name, c.DataType(), rec.Schema().Field(i).Type)
		}
	}
	return nil
}

// limitStep passes on the first left rows and drops the rest.
type limitStep struct {
	left int64
	next step
}

func (s *limitStep) push(ctx context.Context, rec arrow.RecordBatch) error {
	if s.left <= 0 {
		return errLimitReached
	}
	if rec.NumRows() > s.left {
		rec = rec.NewSlice(0, s.left)
	}
	s.left -= rec.NumRows()
	if err := s.next.push(ctx, rec); err != nil {
		return err
	}
	if s.left <= 0 {
		return errLimitReached
	}
	return nil
}

func (s *limitStep) finish(ctx context.Context) error { return s.next.finish(ctx) }

// skipStep drops the first skip rows.
type skipStep struct {
	skip int64
	next step
}

func (s *skipStep) push(ctx context.Context, rec arrow.RecordBatch) error {
	if s.skip >= rec.NumRows() {
		s.skip -= rec.NumRows()
		return nil
	}
	if s.skip > 0 {
		rec = rec.NewSlice(s.skip, rec.NumRows())
		s.skip = 0
	}
	return s.next.push(ctx, rec)
}

func (s *skipStep) finish(ctx context.Context) error { return s.next.finish(ctx) }

// partialStep aggregates each record into per-group states and, at the
// end, combines the task's states into one record of them.
type partialStep struct {
	op       opSpec
	next     step
	partials []arrow.RecordBatch
}

func (s *partialStep) push(_ context.Context, rec arrow.RecordBatch) error {
	p, err := compute.Partial(rec, s.op.Keys, s.op.Aggs)
	if err != nil {
		return fmt.Errorf("data: %s: %w", s.op.Label, err)
	}
	s.partials = append(s.partials, p)
	return nil
}

func (s *partialStep) finish(ctx context.Context) error {
	if len(s.partials) > 0 {
		p := s.partials[0]
		if len(s.partials) > 1 {
			var err error
			if p, err = compute.Combine(s.partials, s.op.Keys, s.op.Aggs); err != nil {
				return fmt.Errorf("data: %s: %w", s.op.Label, err)
			}
		}
		s.partials = nil
		if err := s.next.push(ctx, p); err != nil {
			return err
		}
	}
	return s.next.finish(ctx)
}

// errLimitReached stops a read early: the rows a limit needs are out.
var errLimitReached = fmt.Errorf("data: limit reached")

// takeRows splits recs after n rows: the first n as one record (a slice
// when they lie in one record, else a concatenation) and the rest.
func takeRows(recs []arrow.RecordBatch, n int64) (arrow.RecordBatch, []arrow.RecordBatch, error) {
	if len(recs) > 0 && recs[0].NumRows() >= n {
		first := recs[0]
		if first.NumRows() == n {
			return first, recs[1:], nil
		}
		return first.NewSlice(0, n), append([]arrow.RecordBatch{first.NewSlice(n, first.NumRows())}, recs[1:]...), nil
	}
	var parts []arrow.RecordBatch
	got := int64(0)
	i := 0
	for ; i < len(recs) && got < n; i++ {
		r := recs[i]
		if got+r.NumRows() > n {
			parts = append(parts, r.NewSlice(0, n-got))
			recs[i] = r.NewSlice(n-got, r.NumRows())
			got = n
			break
		}
		parts = append(parts, r)
		got += r.NumRows()
	}
	out, err := concatRecords(parts)
	if err != nil {
		return nil, nil, err
	}
	return out, recs[i:], nil
}

// concatRecords joins records of one schema into one (a copy).
func concatRecords(recs []arrow.RecordBatch) (arrow.RecordBatch, error) {
	if len(recs) == 1 {
		return recs[0], nil
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%w: nothing to concatenate", ErrInvalidArgument)
	}
	schema := recs[0].Schema()
	var rowsTotal int64
	for _, r := range recs[1:] {
		if !r.Schema().Equal(schema) {
			return nil, fmt.Errorf("%w: batches with different schemas: %v and %v", ErrBadBatch, schema, r.Schema())
		}
	}
	cols := make([]arrow.Array, schema.NumFields())
	for c := range cols {
		parts := make([]arrow.Array, len(recs))
		for i, r := range recs {
			parts[i] = r.Column(c)
		}
		col, err := array.Concatenate(parts, memory.DefaultAllocator)
		if err != nil {
			return nil, fmt.Errorf("data: concatenating column %q: %w", schema.Field(c).Name, err)
		}
		cols[c] = col
	}
	for _, r := range recs {
		rowsTotal += r.NumRows()
	}
	return array.NewRecordBatch(schema, cols, rowsTotal), nil
}

// reshape runs a select, drop or rename.
func reshape(op opSpec, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	schema := rec.Schema()
	index := func(name string) (int, error) {
		idx := schema.FieldIndices(name)
		if len(idx) == 0 {
			return 0, fmt.Errorf("%w: %q (the columns are %v)", ErrNoColumn, name, columnNames(schema))
		}
		return idx[0], nil
	}
	var fields []arrow.Field
	var cols []arrow.Array
	switch op.Kind {
	case opSelect:
		for _, name := range op.Cols {
			i, err := index(name)
			if err != nil {
				return nil, err
			}
			fields, cols = append(fields, schema.Field(i)), append(cols, rec.Column(i))
		}
	case opDrop:
		drop := map[int]bool{}
		for _, name := range op.Cols {
			i, err := index(name)
			if err != nil {
				return nil, err
			}
			drop[i] = true
		}
		for i, f := range schema.Fields() {
			if !drop[i] {
				fields, cols = append(fields, f), append(cols, rec.Column(i))
			}
		}
	case opRename:
		fields = append(fields, schema.Fields()...)
		cols = rec.Columns()
		for k, name := range op.Cols {
			i, err := index(name)
			if err != nil {
				return nil, err
			}
			fields[i].Name = op.To[k]
		}
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, rec.NumRows()), nil
}

func columnNames(s *arrow.Schema) []string {
	names := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		names[i] = f.Name
	}
	return names
}

// filterRecord keeps the rows of rec where keep is true.
func filterRecord(ctx context.Context, rec arrow.RecordBatch, keep []bool) (arrow.RecordBatch, error) {
	b := array.NewBooleanBuilder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(keep, nil)
	mask := b.NewArray()
	defer mask.Release()
	return acompute.FilterRecordBatch(ctx, rec, mask, acompute.DefaultFilterOptions())
}

// recordBytes is the size of a record's data: for a slice, the part of
// its buffers the slice spans (arrow's TotalRecordSize counts the whole
// buffers behind it, so a 1024-row slice of a 1M-row block would count
// as the block).
func recordBytes(rec arrow.RecordBatch) int64 {
	var n int64
	for _, c := range rec.Columns() {
		n += arrayBytes(c)
	}
	return n
}

// arrayBytes is the size of the part of an array's buffers it spans.
func arrayBytes(a arrow.Array) int64 {
	rows := int64(a.Len())
	validity := (rows + 7) / 8
	switch dt := a.DataType().(type) {
	case arrow.FixedWidthDataType:
		return validity + rows*int64(max(dt.BitWidth(), 1)+7)/8
	case *arrow.StringType, *arrow.BinaryType:
		type offsets interface{ ValueOffset(int) int }
		if o, ok := a.(offsets); ok && rows > 0 {
			return validity + 4*rows + int64(o.ValueOffset(int(rows)-1)-o.ValueOffset(0)) + int64(valueLen(a, int(rows)-1))
		}
	}
	switch v := a.(type) {
	case *array.List:
		if rows == 0 {
			return validity
		}
		lo, _ := v.ValueOffsets(0)
		_, hi := v.ValueOffsets(int(rows) - 1)
		return validity + 4*rows + sliceBytes(v.ListValues(), lo, hi)
	case *array.LargeList:
		if rows == 0 {
			return validity
		}
		lo, _ := v.ValueOffsets(0)
		_, hi := v.ValueOffsets(int(rows) - 1)
		return validity + 8*rows + sliceBytes(v.ListValues(), lo, hi)
	case *array.FixedSizeList:
		size := int64(v.DataType().(*arrow.FixedSizeListType).Len())
		off := int64(v.Data().Offset())
		return validity + sliceBytes(v.ListValues(), off*size, (off+rows)*size)
	case *array.Struct:
		n := validity
		for i := range v.NumField() {
			n += arrayBytes(v.Field(i))
		}
		return n
	}
	// Other types: their whole buffers, in proportion to the rows the
	// slice has of them.
	whole := util.TotalArraySize(a)
	total := int64(a.Data().Offset()) + rows
	if total == 0 {
		return whole
	}
	return whole * rows / total
}

// sliceBytes is arrayBytes of values [lo, hi) of a.
func sliceBytes(a arrow.Array, lo, hi int64) int64 {
	if hi <= lo {
		return 0
	}
	s := array.NewSlice(a, lo, hi)
	defer s.Release()
	return arrayBytes(s)
}

// valueLen is the length of value i of a string or binary array.
func valueLen(a arrow.Array, i int) int {
	switch v := a.(type) {
	case *array.String:
		return len(v.Value(i))
	case *array.Binary:
		return len(v.Value(i))
	}
	return 0
}

// takeIndices gathers rec's rows at idx, in that order.
func takeIndices(rec arrow.RecordBatch, idx []int64) (arrow.RecordBatch, error) {
	b := array.NewInt64Builder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(idx, nil)
	indices := b.NewArray()
	defer indices.Release()
	cols := make([]arrow.Array, rec.NumCols())
	for i, c := range rec.Columns() {
		out, err := acompute.TakeArray(context.Background(), c, indices)
		if err != nil {
			return nil, fmt.Errorf("data: gathering column %q: %w", rec.Schema().Field(i).Name, err)
		}
		cols[i] = out
	}
	return array.NewRecordBatch(rec.Schema(), cols, int64(len(idx))), nil
}
