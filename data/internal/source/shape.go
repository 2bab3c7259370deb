package source

import (
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// PathColumn is the column Options.IncludePaths adds: Ray Data's
// include_paths=True column "path".
const PathColumn = "path"

// outCol is one column of Read's output: a file column (by index in the
// raw record), a partition key (by index in Unit.Partition) or the path.
type outCol struct {
	field arrow.Field
	file  int // index in the raw record, or -1
	part  int // index in Unit.Partition, or -1
}

// shaper turns the raw records a format reader gives into Read's output:
// the filter applied row-exactly, partition and path columns added, the
// projection's order, and at most TargetRows rows per record.
type shaper struct {
	ctx     context.Context
	path    string
	unit    Unit
	opts    Options
	out     []outCol
	schema  *arrow.Schema
	preds   []Predicate // on raw columns
	predIdx []int       // their raw column indices
	pass    bool        // the partition and path predicates hold
	emitted bool
}

// wanted lists the raw columns a reader must produce, from the file's
// column names: the projected ones and those the filter reads; nil means
// all, and an empty slice none (only partition or path columns, so only
// the row count is needed). It fails with ErrNoColumn for a name that is nowhere.
func wanted(path string, names []string, unit Unit, opts Options) ([]string, error) {
	virtual := virtualNames(unit, opts)
	all := append(slices.Clone(names), virtual...)
	check := func(c string) error {
		if !slices.Contains(all, c) {
			return noColumn(path, c, all)
		}
		return nil
	}
	for _, c := range opts.Columns {
		if err := check(c); err != nil {
			return nil, err
		}
	}
	for _, p := range opts.Filter {
		if err := check(p.Column); err != nil {
			return nil, err
		}
	}
	if len(opts.Columns) == 0 {
		return nil, nil
	}
	need := []string{} // not nil: nil means every column
	for _, n := range names {
		in := slices.Contains(opts.Columns, n)
		for _, p := range opts.Filter {
			in = in || p.Column == n
		}
		if in {
			need = append(need, n)
		}
	}
	return need, nil
}

// virtualNames are the columns Read adds to a file's: partition keys and
// path. A partition key that repeats a file column's name is refused
// (ErrSchemaMismatch), so that a filter on it means one thing.
func virtualNames(unit Unit, opts Options) []string {
	var v []string
	if opts.Partitioning {
		for _, kv := range unit.Partition {
			v = append(v, kv.Key)
		}
	}
	if opts.IncludePaths {
		v = append(v, PathColumn)
	}
	return v
}

// collision refuses a hive partition key that repeats a column of the
// file (names): a filter on the name would be ambiguous.
func collision(unit Unit, opts Options, names []string) error {
	if !opts.Partitioning {
		return nil
	}
	for _, kv := range unit.Partition {
		if slices.Contains(names, kv.Key) {
			e := newErr(ErrSchemaMismatch, unit.Path, "%q is both a column of the file and a hive partition key", kv.Key)
			e.Column = kv.Key
			return e
		}
	}
	return nil
}

// newShaper prepares the output for raw records of schema raw.
func newShaper(ctx context.Context, unit Unit, opts Options, raw *arrow.Schema) (*shaper, error) {
	s := &shaper{ctx: ctx, path: unit.Path, unit: unit, opts: opts, pass: true}
	var names []string
	for _, f := range raw.Fields() {
		names = append(names, f.Name)
	}
	if err := collision(unit, opts, names); err != nil {
		return nil, err
	}
	all := append(slices.Clone(names), virtualNames(unit, opts)...)
	resolve := func(name string) (outCol, error) {
		if i := raw.FieldIndices(name); len(i) > 0 {
			return outCol{field: raw.Field(i[0]), file: i[0], part: -1}, nil
		}
		if opts.Partitioning {
			for j, kv := range unit.Partition {
				if kv.Key == name {
					t := arrow.DataType(arrow.BinaryTypes.String)
					if kv.Int {
						t = arrow.PrimitiveTypes.Int64
					}
					return outCol{field: arrow.Field{Name: name, Type: t}, file: -1, part: j}, nil
				}
			}
		}
		if opts.IncludePaths && name == PathColumn {
			return outCol{field: arrow.Field{Name: name, Type: arrow.BinaryTypes.String}, file: -1, part: -1}, nil
		}
		return outCol{}, noColumn(unit.Path, name, all)
	}
	cols := opts.Columns
	if len(cols) == 0 {
		cols = all
	}
	for _, c := range cols {
		oc, err := resolve(c)
		if err != nil {
			return nil, err
		}
		s.out = append(s.out, oc)
	}
	fields := make([]arrow.Field, len(s.out))
	for i, oc := range s.out {
		fields[i] = oc.field
	}
	s.schema = arrow.NewSchema(fields, nil)

	for _, p := range opts.Filter {
		oc, err := resolve(p.Column)
		if err != nil {
			return nil, err
		}
		if err := checkComparable(oc.field.Type, p.Value); err != nil {
			e := wrapErr(ErrUnsupported, unit.Path, err, "filter %s %s %v", p.Column, p.Op, p.Value)
			e.Column = p.Column
			return nil, e
		}
		switch {
		case oc.file >= 0:
			s.preds = append(s.preds, p)
			s.predIdx = append(s.predIdx, oc.file)
		case oc.part >= 0:
			s.pass = s.pass && holds(p.Op, partValue(unit.Partition[oc.part]), p.Value)
		default:
			s.pass = s.pass && holds(p.Op, unit.Path, p.Value)
		}
	}
	return s, nil
}

// push filters rec (the raw record; push does not release it), shapes
// it and emits it in slices of at most TargetRows rows.
func (s *shaper) push(rec arrow.RecordBatch, emit func(arrow.RecordBatch) error) error {
	if !s.pass || rec.NumRows() == 0 {
		return nil
	}
	if err := s.ctx.Err(); err != nil {
		return err
	}
	n := int(rec.NumRows())
	filtered := rec
	if len(s.preds) > 0 {
		keep := make([]bool, n)
		for i := range keep {
			keep[i] = true
		}
		for i, p := range s.preds {
			andMask(rec.Column(s.predIdx[i]), p, keep)
		}
		kept := 0
		for _, k := range keep {
			if k {
				kept++
			}
		}
		switch kept {
		case 0:
			return nil
		case n:
		default:
			b := array.NewBooleanBuilder(memory.DefaultAllocator)
			b.AppendValues(keep, nil)
			mask := b.NewBooleanArray()
			b.Release()
			f, err := compute.FilterRecordBatch(s.ctx, rec, mask, compute.DefaultFilterOptions())
			mask.Release()
			if err != nil {
				return wrapErr(ErrCorrupt, s.path, err, "filter")
			}
			defer f.Release()
			filtered = f
			n = kept
		}
	}
	cols := make([]arrow.Array, len(s.out))
	for i, oc := range s.out {
		switch {
		case oc.file >= 0:
			cols[i] = filtered.Column(oc.file)
			cols[i].Retain()
		case oc.part >= 0:
			cols[i] = constant(oc.field.Type, partValue(s.unit.Partition[oc.part]), n)
		default:
			cols[i] = constant(oc.field.Type, s.path, n)
		}
	}
	out := array.NewRecordBatch(s.schema, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	defer out.Release()
	step := n
	if s.opts.TargetRows > 0 {
		step = s.opts.TargetRows
	}
	for lo := 0; lo < n; lo += step {
		hi := min(lo+step, n)
		part := out
		if lo > 0 || hi < n {
			part = out.NewSlice(int64(lo), int64(hi))
		}
		s.emitted = true
		err := callEmit(emit, part)
		if part != out {
			part.Release()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// finish emits one empty record when the unit gave no row, so that the
// consumer still learns its schema.
func (s *shaper) finish(emit func(arrow.RecordBatch) error) error {
	if s.emitted {
		return nil
	}
	cols := make([]arrow.Array, len(s.out))
	for i, oc := range s.out {
		cols[i] = array.MakeArrayOfNull(memory.DefaultAllocator, oc.field.Type, 0)
	}
	out := array.NewRecordBatch(s.schema, cols, 0)
	for _, c := range cols {
		c.Release()
	}
	defer out.Release()
	s.emitted = true
	return callEmit(emit, out)
}

// constant is an array of n copies of v (int64 or string).
func constant(t arrow.DataType, v any, n int) arrow.Array {
	if t.ID() == arrow.INT64 {
		b := array.NewInt64Builder(memory.DefaultAllocator)
		defer b.Release()
		b.Reserve(n)
		x, _ := v.(int64)
		for range n {
			b.UnsafeAppend(x)
		}
		return b.NewArray()
	}
	b := array.NewStringBuilder(memory.DefaultAllocator)
	defer b.Release()
	x, _ := v.(string)
	b.Reserve(n)
	b.ReserveData(n * len(x))
	for range n {
		b.Append(x)
	}
	return b.NewArray()
}

// callEmit calls emit, turning a panic in it into ErrEmitPanicked rather
// than letting Read's recover call it a corrupt file.
func callEmit(emit func(arrow.RecordBatch) error, rec arrow.RecordBatch) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrEmitPanicked, r)
		}
	}()
	return emit(rec)
}
