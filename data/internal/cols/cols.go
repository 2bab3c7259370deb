package cols

import (
	"errors"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/rayo-dev/rayo/data/internal/rows"
)

// sliceHeader is a slice's layout, to make a []struct{F E} of package
// rows a []E (the same layout) without a copy.
type sliceHeader struct {
	data     unsafe.Pointer
	len, cap int
}

// FromRecord reads rec into a batch of type T (see SchemaOf), mapping
// columns to fields by name; columns no field names are ignored. Ray
// Data's equivalent is the dict of NumPy arrays a batch UDF receives.
//
// A fixed-width numeric column without nulls, of exactly the field's
// element type, is not copied: the slice aliases rec's buffer. The batch
// is then valid only while rec is (inside a MapBatches call: during the
// call), and must not be written to: the buffer may be the object
// store's shared memory, which other readers see. Every other column is
// copied: a null becomes the zero value, or nil in a []*E field. A 0-row
// record gives nil slices.
//
// Errors wrap ErrNilRecord, ErrNotBatch, ErrUnsupported, ErrNoColumn,
// ErrType (a *ColumnError naming the field and column) or ErrNull (a null
// nested inside a value whose Go type cannot hold it).
func FromRecord[T any](rec arrow.Record) (T, error) {
	var out T
	if rec == nil {
		return out, ErrNilRecord
	}
	p, err := planOf(reflect.TypeFor[T]())
	if err != nil {
		return out, err
	}
	base := unsafe.Pointer(&out)
	for i := range p.fields {
		f := &p.fields[i]
		if err := readField(f, rec, unsafe.Add(base, f.offset)); err != nil {
			var zero T
			return zero, err
		}
	}
	return out, nil
}

func readField(f *field, rec arrow.Record, dst unsafe.Pointer) error {
	idx := rec.Schema().FieldIndices(f.name)
	if len(idx) == 0 {
		return &ColumnError{Field: f.path, Column: f.name, Err: ErrNoColumn,
			Detail: fmt.Sprintf("the record's columns are %v", columnNames(rec.Schema()))}
	}
	col := rec.Column(idx[0])
	if f.how != viaRows {
		if !arrow.TypeEqual(col.DataType(), f.dt) {
			return &ColumnError{Field: f.path, Column: f.name, Err: ErrType,
				Detail: fmt.Sprintf("the column is %s, the field wants %s", col.DataType(), f.dt)}
		}
		if col.Len() == 0 {
			return nil
		}
	}
	switch f.how {
	case asNum, asNumPtr:
		readNum(f, col, dst)
	case asBool:
		readBool(col.(*array.Boolean), dst)
	case asString:
		readString(col.(*array.String), dst)
	case asBinary:
		readBinary(col.(*array.Binary), dst)
	default:
		return readViaRows(f, rec, col, dst)
	}
	return nil
}

func columnNames(s *arrow.Schema) []string {
	names := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		names[i] = f.Name
	}
	return names
}

// readViaRows reads a column of any other element type with package rows,
// as a []struct{F E}, which is a []E.
func readViaRows(f *field, rec arrow.Record, col arrow.Array, dst unsafe.Pointer) error {
	one := f.one
	if col.NullN() > 0 && f.onePtr != nil {
		one = f.onePtr
	}
	v, err := rows.FromRecordOf(rec, one)
	if err != nil {
		return rowsError(f, err)
	}
	n := v.Len()
	if n == 0 {
		return nil
	}
	if one == f.one {
		*(*sliceHeader)(dst) = sliceHeader{v.UnsafePointer(), n, n}
		return nil
	}
	// The nulls become zero values.
	out := reflect.MakeSlice(f.typ, n, n)
	for i := 0; i < n; i++ {
		if p := v.Index(i).Field(0); !p.IsNil() {
			out.Index(i).Set(p.Elem())
		}
	}
	reflect.NewAt(f.typ, dst).Elem().Set(out)
	return nil
}

func rowsError(f *field, err error) error {
	e := &ColumnError{Field: f.path, Column: f.name, Err: ErrType, Cause: err}
	switch {
	case errors.Is(err, rows.ErrNull):
		e.Err = ErrNull
	case errors.Is(err, rows.ErrMissingColumn):
		e.Err = ErrNoColumn
	}
	return e
}

func readBool(a *array.Boolean, dst unsafe.Pointer) {
	out := make([]bool, a.Len())
	for i := range out {
		out[i] = a.IsValid(i) && a.Value(i)
	}
	*(*[]bool)(dst) = out
}

// readString copies the column's bytes once, into one string the values
// are substrings of: one allocation, not one per value.
func readString(a *array.String, dst unsafe.Pointer) {
	all := string(a.ValueBytes())
	offs := a.ValueOffsets()
	out := make([]string, a.Len())
	for i := range out {
		if a.IsValid(i) {
			out[i] = all[offs[i]-offs[0] : offs[i+1]-offs[0]]
		}
	}
	*(*[]string)(dst) = out
}

// readBinary copies the column's bytes once; each value is a slice of the
// copy with its capacity cut at its end, so that appending to one cannot
// overwrite the next. An empty or null value is nil, as in package rows.
func readBinary(a *array.Binary, dst unsafe.Pointer) {
	all := append([]byte(nil), a.ValueBytes()...)
	offs := a.ValueOffsets()
	out := make([][]byte, a.Len())
	for i := range out {
		s, e := offs[i]-offs[0], offs[i+1]-offs[0]
		if a.IsValid(i) && s != e {
			out[i] = all[s:e:e]
		}
	}
	*(*[][]byte)(dst) = out
}

// ToRecord converts batch, a batch struct (or a pointer to one; see
// SchemaOf), to a record batch with SchemaOf's schema, allocated from mem
// (nil: Go's allocator). Every column is copied into Arrow memory, so the
// batch may be reused afterwards; the caller releases the record. Ray
// Data's equivalent is the block it builds from the dict of NumPy arrays
// a batch UDF returns. Errors wrap ErrNotBatch, ErrUnsupported or
// ErrLength (a *LengthError naming two fields of different lengths).
func ToRecord(mem memory.Allocator, batch any) (arrow.Record, error) {
	rv := reflect.ValueOf(batch)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil, fmt.Errorf("%w: a nil %T", ErrNotBatch, batch)
		}
		rv = rv.Elem()
	}
	if !rv.IsValid() {
		return nil, fmt.Errorf("%w: nil", ErrNotBatch)
	}
	p, err := planOf(rv.Type())
	if err != nil {
		return nil, err
	}
	if !rv.CanAddr() { // a struct passed by value: the fields are read in place
		c := reflect.New(rv.Type()).Elem()
		c.Set(rv)
		rv = c
	}
	base := rv.Addr().UnsafePointer()
	n := (*sliceHeader)(unsafe.Add(base, p.fields[0].offset)).len
	for _, f := range p.fields[1:] {
		if m := (*sliceHeader)(unsafe.Add(base, f.offset)).len; m != n {
			return nil, &LengthError{Field: p.fields[0].path, Len: n, Other: f.path, OtherLen: m}
		}
	}
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	arrs := make([]arrow.Array, 0, len(p.fields))
	defer func() {
		for _, a := range arrs {
			a.Release()
		}
	}()
	for i := range p.fields {
		f := &p.fields[i]
		a, err := writeField(mem, f, unsafe.Add(base, f.offset), n)
		if err != nil {
			return nil, err
		}
		arrs = append(arrs, a)
	}
	return array.NewRecordBatch(p.schema, arrs, int64(n)), nil
}

func writeField(mem memory.Allocator, f *field, src unsafe.Pointer, n int) (arrow.Array, error) {
	switch f.how {
	case asNum, asNumPtr:
		return writeNum(mem, f, src, n), nil
	case asBool:
		b := array.NewBooleanBuilder(mem)
		defer b.Release()
		b.AppendValues(*(*[]bool)(src), nil)
		return b.NewArray(), nil
	case asString:
		b := array.NewStringBuilder(mem)
		defer b.Release()
		b.AppendValues(*(*[]string)(src), nil)
		return b.NewArray(), nil
	case asBinary:
		b := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
		defer b.Release()
		b.AppendValues(*(*[][]byte)(src), nil)
		return b.NewArray(), nil
	}
	// Any other element type: package rows, given the []E as a
	// []struct{F E}.
	v := reflect.NewAt(reflect.SliceOf(f.one), src).Elem()
	rec, err := rows.ToRecord(mem, v.Interface())
	if err != nil {
		return nil, &ColumnError{Field: f.path, Column: f.name, Err: ErrUnsupported, Cause: err}
	}
	defer rec.Release()
	a := rec.Column(0)
	a.Retain()
	return a, nil
}
