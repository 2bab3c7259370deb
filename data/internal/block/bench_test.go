package block_test

import (
	"bytes"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/rayo-dev/rayo/data/internal/block"
)

// bigBlock is a 64 MiB block (4 Mi rows of int64 and float64), aligned as
// the object store aligns it.
func bigBlock(b *testing.B) []byte {
	b.Helper()
	const rows = 4 << 20
	ints := make([]int64, rows)
	floats := make([]float64, rows)
	for i := range ints {
		ints[i], floats[i] = int64(i), float64(i)/2
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int64},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	ia := array.NewInt64Data(array.NewData(arrow.PrimitiveTypes.Int64, rows,
		[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(ints))}, nil, 0, 0))
	fa := array.NewFloat64Data(array.NewData(arrow.PrimitiveTypes.Float64, rows,
		[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Float64Traits.CastToBytes(floats))}, nil, 0, 0))
	rec := array.NewRecord(schema, []arrow.Array{ia, fa}, rows)
	defer rec.Release()
	ia.Release()
	fa.Release()
	enc, err := block.Encode(rec)
	if err != nil {
		b.Fatal(err)
	}
	return aligned(enc)
}

// BenchmarkDecode64MiB: decoding a 64 MiB block in place (Decode) against
// arrow-go's default reader, which reads the same IPC file through an
// io.ReaderAt into freshly allocated buffers (a copy). Both then read one
// value of each column.
func BenchmarkDecode64MiB(b *testing.B) {
	blk := bigBlock(b)
	b.Run("inplace", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rec, err := block.Decode(blk)
			if err != nil {
				b.Fatal(err)
			}
			if rec.Column(0).(*array.Int64).Value(1) != 1 || rec.Column(1).(*array.Float64).Value(2) != 1 {
				b.Fatal("wrong values")
			}
			rec.Release()
		}
	})
	b.Run("copy", func(b *testing.B) {
		file := blk[block.HeaderSize:]
		b.ReportAllocs()
		for b.Loop() {
			r, err := ipc.NewFileReader(bytes.NewReader(file))
			if err != nil {
				b.Fatal(err)
			}
			rec, err := r.RecordAt(0)
			if err != nil {
				b.Fatal(err)
			}
			if rec.Column(0).(*array.Int64).Value(1) != 1 || rec.Column(1).(*array.Float64).Value(2) != 1 {
				b.Fatal("wrong values")
			}
			rec.Release()
			r.Close()
		}
	})
}
