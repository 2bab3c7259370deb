package cols_test

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/rayo-dev/rayo/data/internal/cols"
)

type bench3 struct {
	A []float64 `arrow:"a"`
	B []float64 `arrow:"b"`
	C []float64 `arrow:"c"`
}

const benchRows = 1 << 20

func benchRecord(b *testing.B) arrow.Record {
	in := bench3{A: make([]float64, benchRows), B: make([]float64, benchRows), C: make([]float64, benchRows)}
	for i := range in.A {
		in.A[i], in.B[i], in.C[i] = float64(i), float64(2*i), float64(3*i)
	}
	rec, err := cols.ToRecord(nil, in)
	if err != nil {
		b.Fatal(err)
	}
	return rec
}

// BenchmarkBatch: a MapBatches round trip of 1M rows x 3 float64 columns,
// record -> typed batch -> record, with package cols beside the same done
// by hand (copy each column out, build each column with a builder).
func BenchmarkBatch(b *testing.B) {
	rec := benchRecord(b)
	defer rec.Release()
	mem := memory.NewGoAllocator()
	b.Run("cols", func(b *testing.B) {
		b.SetBytes(benchRows * 3 * 8)
		for b.Loop() {
			batch, err := cols.FromRecord[bench3](rec)
			if err != nil {
				b.Fatal(err)
			}
			out, err := cols.ToRecord(mem, &batch)
			if err != nil {
				b.Fatal(err)
			}
			out.Release()
		}
	})
	b.Run("byhand", func(b *testing.B) {
		b.SetBytes(benchRows * 3 * 8)
		for b.Loop() {
			var batch bench3
			for i, dst := range []*[]float64{&batch.A, &batch.B, &batch.C} {
				*dst = append([]float64(nil), rec.Column(i).(*array.Float64).Float64Values()...)
			}
			arrs := make([]arrow.Array, 3)
			for i, src := range [][]float64{batch.A, batch.B, batch.C} {
				fb := array.NewFloat64Builder(mem)
				fb.AppendValues(src, nil)
				arrs[i] = fb.NewArray()
				fb.Release()
			}
			out := array.NewRecordBatch(rec.Schema(), arrs, benchRows)
			for _, a := range arrs {
				a.Release()
			}
			out.Release()
		}
	})
}
