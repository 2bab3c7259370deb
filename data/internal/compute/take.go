package compute

import (
	"context"
	"fmt"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var mem = memory.DefaultAllocator

// int32Array wraps idx as an Arrow int32 array without copying; valid,
// when not nil, marks the null indices (false), which Take turns into
// null rows.
func int32Array(idx []int32, valid []bool) arrow.Array {
	buf := memory.NewBufferBytes(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(idx))), 4*len(idx)))
	var nullBuf *memory.Buffer
	nulls := 0
	if valid != nil {
		bm := make([]byte, bitutil.BytesForBits(int64(len(idx))))
		for i, v := range valid {
			if v {
				bitutil.SetBit(bm, i)
			} else {
				nulls++
			}
		}
		nullBuf = memory.NewBufferBytes(bm)
	}
	data := array.NewData(arrow.PrimitiveTypes.Int32, len(idx), []*memory.Buffer{nullBuf, buf}, nil, nulls, 0)
	defer data.Release()
	return array.MakeFromData(data)
}

// take gathers rows idx of arr (Arrow's take kernel).
func take(arr arrow.Array, idx arrow.Array) (arrow.Array, error) {
	out, err := compute.TakeArrayOpts(context.Background(), arr, idx, compute.TakeOptions{BoundsCheck: false})
	if err != nil {
		return nil, fmt.Errorf("data: take from a %s column: %w", arr.DataType(), err)
	}
	return out, nil
}

// takeRecord gathers rows idx of every column of rec.
func takeRecord(rec arrow.Record, idx []int32) (arrow.Record, error) {
	ia := int32Array(idx, nil)
	defer ia.Release()
	cols := make([]arrow.Array, rec.NumCols())
	defer releaseAll(cols)
	for c := range cols {
		out, err := take(rec.Column(c), ia)
		if err != nil {
			return nil, err
		}
		cols[c] = out
	}
	return array.NewRecordBatch(rec.Schema(), cols, int64(len(idx))), nil
}

func releaseAll(arrs []arrow.Array) {
	for _, a := range arrs {
		if a != nil {
			a.Release()
		}
	}
}

// Concat joins records with the same schema into one (Ray Data's
// concatenation of blocks). One record is returned as is (retained);
// records whose schemas differ fail with ErrSchemaMismatch naming the
// first field that differs; no records fail with ErrBadArgument.
func Concat(recs []arrow.Record) (arrow.Record, error) {
	if len(recs) == 0 {
		return nil, badArg("concat of no records")
	}
	schema := recs[0].Schema()
	for _, r := range recs[1:] {
		if err := sameSchema(schema, r.Schema()); err != nil {
			return nil, err
		}
	}
	if len(recs) == 1 {
		recs[0].Retain()
		return recs[0], nil
	}
	var rows int64
	for _, r := range recs {
		rows += r.NumRows()
	}
	cols := make([]arrow.Array, schema.NumFields())
	defer releaseAll(cols)
	parts := make([]arrow.Array, len(recs))
	for c := range cols {
		for i, r := range recs {
			parts[i] = r.Column(c)
		}
		out, err := array.Concatenate(parts, mem)
		if err != nil {
			return nil, fmt.Errorf("data: concat column %q: %w", schema.Field(c).Name, err)
		}
		cols[c] = out
	}
	return array.NewRecordBatch(schema, cols, rows), nil
}

// concatArrays concatenates arrays of one type (one is retained and
// returned as is).
func concatArrays(parts []arrow.Array) (arrow.Array, error) {
	if len(parts) == 1 {
		parts[0].Retain()
		return parts[0], nil
	}
	return array.Concatenate(parts, mem)
}

// sameSchema compares field names and types (not metadata).
func sameSchema(a, b *arrow.Schema) error {
	if a.NumFields() != b.NumFields() {
		return &ColumnError{Err: ErrSchemaMismatch, Column: fieldAt(a, b), Detail: fmt.Sprintf("%d columns against %d", a.NumFields(), b.NumFields())}
	}
	for i := range a.NumFields() {
		fa, fb := a.Field(i), b.Field(i)
		if fa.Name != fb.Name {
			return &ColumnError{Err: ErrSchemaMismatch, Column: fa.Name, Detail: fmt.Sprintf("column %d is %q in another record", i, fb.Name)}
		}
		if !arrow.TypeEqual(fa.Type, fb.Type) {
			return &ColumnError{Err: ErrSchemaMismatch, Column: fa.Name, Detail: fmt.Sprintf("%s against %s", fa.Type, fb.Type)}
		}
	}
	return nil
}

// fieldAt names the first field present in one schema but not the other.
func fieldAt(a, b *arrow.Schema) string {
	for _, f := range a.Fields() {
		if !b.HasField(f.Name) {
			return f.Name
		}
	}
	for _, f := range b.Fields() {
		if !a.HasField(f.Name) {
			return f.Name
		}
	}
	return ""
}
