package peers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/rayo-dev/rayo/bench/data/dataset"
	"github.com/rayo-dev/rayo/bench/data/internal/col"
)

// MapSchema is the output of row 1's map: the input's columns and
// x = a*2 + b, y = c - b. Rayo's MapBatches row must produce the same.
var MapSchema = arrow.NewSchema([]arrow.Field{
	{Name: "a", Type: arrow.PrimitiveTypes.Int64},
	{Name: "b", Type: arrow.PrimitiveTypes.Float64},
	{Name: "c", Type: arrow.PrimitiveTypes.Float64},
	{Name: "x", Type: arrow.PrimitiveTypes.Float64},
	{Name: "y", Type: arrow.PrimitiveTypes.Float64},
}, nil)

// Throughput is a timed pass over files.
type Throughput struct {
	Files    int     `json:"files"`
	Workers  int     `json:"workers"`
	Rows     int64   `json:"rows"`
	InBytes  int64   `json:"in_bytes"`  // Parquet read, on disk
	OutBytes int64   `json:"out_bytes"` // Parquet written, on disk
	Seconds  float64 `json:"seconds"`
}

// RowsPerSecond is Rows over Seconds.
func (t Throughput) RowsPerSecond() float64 { return float64(t.Rows) / t.Seconds }

// GBPerSecond is the input's size on disk, in 1e9 bytes, over Seconds.
func (t Throughput) GBPerSecond() float64 { return float64(t.InBytes) / 1e9 / t.Seconds }

// Floor is row 1's floor: each input file read with arrow-go's pqarrow
// (batches of rowGroup rows), x and y computed into new columns, and the
// result written to outDir under the input's base name with
// dataset.WriterProperties(rowGroup); a goroutine per file, workers at a
// time (the machine's cores). Its time includes opening and closing every
// file, not the removal of outDir's old files.
func Floor(ctx context.Context, inputs []string, outDir string, workers int, rowGroup int64) (Throughput, error) {
	if len(inputs) == 0 {
		return Throughput{}, ErrNoInput
	}
	if workers < 1 {
		workers = 1
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return Throughput{}, &FileError{Path: outDir, Err: err}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
		rows     int64
		wg       sync.WaitGroup
		next     = make(chan string)
	)
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for in := range next {
				n, err := mapFile(ctx, in, filepath.Join(outDir, filepath.Base(in)), rowGroup)
				mu.Lock()
				rows += n
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, in := range inputs {
		select {
		case next <- in:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	t := Throughput{Files: len(inputs), Workers: workers, Rows: rows, Seconds: time.Since(start).Seconds()}
	if firstErr != nil {
		return t, firstErr
	}
	if err := ctx.Err(); err != nil {
		return t, err
	}
	for _, in := range inputs {
		t.InBytes += fileSize(in)
		t.OutBytes += fileSize(filepath.Join(outDir, filepath.Base(in)))
	}
	return t, nil
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}

// mapFile reads in, maps every batch and writes out; it returns the rows.
func mapFile(ctx context.Context, in, out string, rowGroup int64) (rows int64, err error) {
	pf, err := file.OpenParquetFile(in, false)
	if err != nil {
		return 0, &FileError{Path: in, Err: err}
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: rowGroup}, memory.DefaultAllocator)
	if err != nil {
		return 0, &FileError{Path: in, Err: err}
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return 0, &FileError{Path: in, Err: err}
	}
	defer rr.Release()
	idx, err := mapColumns(rr.Schema())
	if err != nil {
		return 0, &FileError{Path: in, Err: err}
	}

	f, err := os.Create(out)
	if err != nil {
		return 0, &FileError{Path: out, Err: err}
	}
	w, err := pqarrow.NewFileWriter(MapSchema, f, dataset.WriterProperties(rowGroup), pqarrow.DefaultWriterProps())
	if err != nil {
		f.Close()
		return 0, &FileError{Path: out, Err: err}
	}
	defer func() {
		if cerr := w.Close(); cerr != nil && err == nil {
			err = &FileError{Path: out, Err: cerr}
		}
	}()
	for rr.Next() {
		rec := rr.RecordBatch()
		mapped, err := mapBatch(rec, idx)
		if err != nil {
			return rows, &FileError{Path: in, Err: fmt.Errorf("rows %d..%d: %w", rows, rows+rec.NumRows(), err)}
		}
		err = w.Write(mapped)
		mapped.Release()
		if err != nil {
			return rows, &FileError{Path: out, Err: err}
		}
		rows += rec.NumRows()
	}
	if err := rr.Err(); err != nil {
		return rows, &FileError{Path: in, Err: err}
	}
	return rows, nil
}

// mapColumns finds a, b and c in s.
func mapColumns(s *arrow.Schema) ([3]int, error) {
	var idx [3]int
	for i, want := range []struct {
		name string
		typ  arrow.DataType
	}{{"a", arrow.PrimitiveTypes.Int64}, {"b", arrow.PrimitiveTypes.Float64}, {"c", arrow.PrimitiveTypes.Float64}} {
		found := s.FieldIndices(want.name)
		if len(found) != 1 || !arrow.TypeEqual(s.Field(found[0]).Type, want.typ) {
			return idx, fmt.Errorf("%w: want column %q of type %s in %s", ErrSchema, want.name, want.typ, s)
		}
		idx[i] = found[0]
	}
	return idx, nil
}

// mapBatch is the map itself: x = a*2 + b, y = c - b, one pass each.
func mapBatch(rec arrow.RecordBatch, idx [3]int) (arrow.RecordBatch, error) {
	ac, bc, cc := rec.Column(idx[0]), rec.Column(idx[1]), rec.Column(idx[2])
	for i, c := range []arrow.Array{ac, bc, cc} {
		if c.NullN() > 0 {
			return nil, fmt.Errorf("%w: column %q", ErrNulls, rec.ColumnName(idx[i]))
		}
	}
	a := ac.(*array.Int64).Int64Values()
	b := bc.(*array.Float64).Float64Values()
	c := cc.(*array.Float64).Float64Values()
	x, y := make([]float64, len(a)), make([]float64, len(a))
	for i := range a {
		x[i] = float64(a[i])*2 + b[i]
		y[i] = c[i] - b[i]
	}
	xa, ya := col.Float64(x), col.Float64(y)
	defer xa.Release()
	defer ya.Release()
	return array.NewRecordBatch(MapSchema, []arrow.Array{ac, bc, cc, xa, ya}, rec.NumRows()), nil
}
