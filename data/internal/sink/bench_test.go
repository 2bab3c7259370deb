package sink_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/rayo-dev/rayo/data/internal/sink"
)

// benchRows is the size of the benchmark's table: 1M rows of two float64
// columns (16 MB of data), in blocks of 128Ki rows.
const benchRows, benchBlock = 1 << 20, 128 << 10

func benchBlocks(b *testing.B) (*arrow.Schema, []arrow.RecordBatch) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "x", Type: arrow.PrimitiveTypes.Float64},
		{Name: "y", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	var recs []arrow.RecordBatch
	for start := 0; start < benchRows; start += benchBlock {
		rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		x, y := rb.Field(0).(*array.Float64Builder), rb.Field(1).(*array.Float64Builder)
		for i := start; i < start+benchBlock; i++ {
			x.Append(float64(i) * 0.5)
			y.Append(float64(i%1000) / 7)
		}
		recs = append(recs, rb.NewRecordBatch())
		rb.Release()
	}
	return schema, recs
}

func report(b *testing.B, size int64) {
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(benchRows)*float64(b.N)/s, "rows/s")
	b.ReportMetric(float64(benchRows*16)*float64(b.N)/s/1e6, "MB/s")
	b.ReportMetric(float64(size), "file-bytes")
}

// BenchmarkWriteParquet: sink.WriteFile (temp file, fsync, rename) of 1M
// rows x 2 float64 columns, snappy, beside arrow-go's own
// pqarrow.WriteTable of the same table with the same properties to a
// plain file (the floor). MB/s counts the 16 MB of column data.
func BenchmarkWriteParquet(b *testing.B) {
	schema, recs := benchBlocks(b)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	b.Run("sink.WriteFile", func(b *testing.B) {
		dir := filepath.Join(b.TempDir(), "out")
		if err := sink.Begin(dir, "bench", sink.ModeError); err != nil {
			b.Fatal(err)
		}
		path := sink.StagingPath(dir, "bench", sink.FileName(sink.Parquet, 0))
		var size int64
		b.ResetTimer()
		for range b.N {
			var err error
			if _, size, err = sink.WriteFile(context.Background(), sink.Parquet, path, schema, sink.Records(recs), sink.Options{}); err != nil {
				b.Fatal(err)
			}
		}
		report(b, size)
	})
	b.Run("pqarrow.WriteTable", func(b *testing.B) {
		tbl := array.NewTableFromRecords(schema, recs)
		defer tbl.Release()
		path := filepath.Join(b.TempDir(), "t.parquet")
		props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy),
			parquet.WithMaxRowGroupLength(sink.DefaultRowGroupRows))
		aprops := pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema())
		var size int64
		b.ResetTimer()
		for range b.N {
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			w := bufio.NewWriterSize(f, 1<<20)
			if err := pqarrow.WriteTable(tbl, w, sink.DefaultRowGroupRows, props, aprops); err != nil {
				b.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
			st, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			size = st.Size()
		}
		report(b, size)
	})
}
