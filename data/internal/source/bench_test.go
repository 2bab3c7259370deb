package source

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

const benchRows = 1 << 20

// benchFile writes a 1M-row Parquet file of two columns (int64, float64)
// in row groups of 128Ki rows.
func benchFile(b *testing.B) string {
	b.Helper()
	p := filepath.Join(b.TempDir(), "bench.parquet")
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: arrow.PrimitiveTypes.Int64},
		{Name: "b", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	rb := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer rb.Release()
	for i := range benchRows {
		rb.Field(0).(*array.Int64Builder).Append(int64(i))
		rb.Field(1).(*array.Float64Builder).Append(float64(i) * 0.5)
	}
	rec := rb.NewRecordBatch()
	defer rec.Release()
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(sc, f, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(128<<10)), pqarrow.DefaultWriterProps())
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkReadParquet: Read of every unit of a 1M-row two-column file
// (rows/s), beside pqarrow's plain ReadTable of the same file (the floor)
// in the same run.
func BenchmarkReadParquet(b *testing.B) {
	p := benchFile(b)
	ctx := context.Background()
	b.Run("source.Read", func(b *testing.B) {
		opts := DefaultOptions()
		for b.Loop() {
			units, _, err := Plan(ctx, Parquet, []string{p}, opts)
			if err != nil {
				b.Fatal(err)
			}
			var n int64
			for _, u := range units {
				err := Read(ctx, Parquet, u, opts, func(rec arrow.RecordBatch) error {
					n += rec.NumRows()
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			if n != benchRows {
				b.Fatalf("%d rows", n)
			}
		}
		b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("source.Read+filter", func(b *testing.B) {
		opts := DefaultOptions()
		opts.Filter = []Predicate{{"b", ">=", 0.0}} // keeps every row: the mask's cost
		for b.Loop() {
			units, _, err := Plan(ctx, Parquet, []string{p}, opts)
			if err != nil {
				b.Fatal(err)
			}
			for _, u := range units {
				if err := Read(ctx, Parquet, u, opts, func(arrow.RecordBatch) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("pqarrow.ReadTable", func(b *testing.B) {
		for b.Loop() {
			f, err := os.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			tbl, err := pqarrow.ReadTable(ctx, f, nil, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
			f.Close()
			if err != nil {
				b.Fatal(err)
			}
			if tbl.NumRows() != benchRows {
				b.Fatalf("%d rows", tbl.NumRows())
			}
			tbl.Release()
		}
		b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}
