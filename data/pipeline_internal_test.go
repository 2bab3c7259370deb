package data

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestRecordBytesOfSlices: a slice counts the bytes it spans, not the
// buffers of the record it was cut from.
func TestRecordBytesOfSlices(t *testing.T) {
	const n = 1 << 20
	ib := array.NewInt64Builder(memory.DefaultAllocator)
	sb := array.NewStringBuilder(memory.DefaultAllocator)
	lb := array.NewListBuilder(memory.DefaultAllocator, arrow.PrimitiveTypes.Int32)
	for i := range n {
		ib.Append(int64(i))
		sb.Append("abcdefgh") // 8 bytes each
		lb.Append(true)
		lb.ValueBuilder().(*array.Int32Builder).Append(int32(i))
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.BinaryTypes.String},
		{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32)},
	}, nil)
	rec := array.NewRecordBatch(schema, []arrow.Array{ib.NewArray(), sb.NewArray(), lb.NewArray()}, n)
	whole := recordBytes(rec)
	if whole < n*(8+12+8) || whole > n*(8+12+8)*2 {
		t.Fatalf("the whole record: %d bytes", whole)
	}
	for _, off := range []int64{0, n / 2, n - 1024} {
		got := recordBytes(rec.NewSlice(off, off+1024))
		if got > whole/256 || got < 1024*(8+12) {
			t.Fatalf("a 1024-row slice at %d: %d bytes (the record is %d)", off, got, whole)
		}
	}
}
