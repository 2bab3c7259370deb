package rows

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// ToRecord converts rows, a []T of a struct type T, to a record batch with
// SchemaOf(T) as its schema, allocated from mem (nil: Go's allocator). The
// caller releases the record. Ray Data's equivalent is the Arrow block
// ray.data.from_items builds from Python rows. Errors wrap ErrNotStruct or
// ErrUnsupportedType.
func ToRecord(mem memory.Allocator, rows any) (arrow.Record, error) {
	rv := reflect.ValueOf(rows)
	if rv.Kind() != reflect.Slice {
		return nil, fmt.Errorf("%w: ToRecord wants a slice of structs, not %T", ErrNotStruct, rows)
	}
	p, err := planOf(rv.Type().Elem())
	if err != nil {
		return nil, err
	}
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	rb := array.NewRecordBuilder(mem, p.schema)
	defer rb.Release()
	n := rv.Len()
	rb.Reserve(n)
	var base unsafe.Pointer
	if n > 0 {
		base = rv.Index(0).Addr().UnsafePointer()
	}
	stride := rv.Type().Elem().Size()
	// Column by column: one builder's memory stays hot at a time.
	for j, f := range p.conv.fields {
		if n > 0 && fastAppend(f.conv, rb.Field(j), unsafe.Add(base, f.offset), stride, n) {
			continue
		}
		app := f.conv.appender(rb.Field(j))
		for r := 0; r < n; r++ {
			app(rv.Index(r).Field(f.index))
		}
	}
	return rb.NewRecord(), nil
}

// FromRecord converts a record batch to a []T, T a struct type, mapping
// columns to fields by name (the names SchemaOf gives; columns no field
// names are ignored). The result shares no memory with rec, so rec may be
// released, or its block freed, afterwards. Ray Data's equivalent is
// iterating a block's rows (Dataset.iter_rows). Errors wrap ErrNilRecord,
// ErrNotStruct, ErrUnsupportedType, ErrMissingColumn, ErrTypeMismatch
// (naming the column; nullability aside, the column's type must be the
// one SchemaOf gives the field) or ErrNull (naming the column and row of a null in a
// field that is not a pointer).
func FromRecord[T any](rec arrow.Record) ([]T, error) {
	v, err := FromRecordOf(rec, reflect.TypeFor[T]())
	if err != nil {
		return nil, err
	}
	return v.Interface().([]T), nil
}

// FromRecordOf is FromRecord for a struct type t known only at run time
// (package cols reads a batch's columns through it): it returns a []t.
func FromRecordOf(rec arrow.Record, t reflect.Type) (reflect.Value, error) {
	if rec == nil {
		return reflect.Value{}, ErrNilRecord
	}
	p, err := planOf(t)
	if err != nil {
		return reflect.Value{}, err
	}
	schema := rec.Schema()
	cols := make([]arrow.Array, len(p.conv.fields))
	for j, f := range p.conv.fields {
		idx := schema.FieldIndices(f.name)
		if len(idx) == 0 {
			return reflect.Value{}, fmt.Errorf("%w: %q (field %s)", ErrMissingColumn, f.name, t.Field(f.index).Name)
		}
		col := rec.Column(idx[0])
		if want := f.conv.dataType(); !compatible(col.DataType(), want) {
			return reflect.Value{}, fmt.Errorf("%w: column %q is %s, field wants %s", ErrTypeMismatch, f.name, col.DataType(), want)
		}
		cols[j] = col
	}
	n := int(rec.NumRows())
	ov := reflect.MakeSlice(reflect.SliceOf(t), n, n)
	base, stride := ov.UnsafePointer(), t.Size()
	for j, f := range p.conv.fields {
		if n > 0 && fastRead(f.conv, cols[j], unsafe.Add(base, f.offset), stride) {
			continue
		}
		rd := f.conv.reader(cols[j], f.name)
		for r := 0; r < n; r++ {
			if err := rd(r, ov.Index(r).Field(f.index)); err != nil {
				return reflect.Value{}, fmt.Errorf("rows: column %q, row %d: %w", f.name, r, err)
			}
		}
	}
	return ov, nil
}
