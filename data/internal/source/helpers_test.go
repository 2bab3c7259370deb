package source

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// testSchema: id int64, name string, score float64 (null every 7th row).
var testSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "name", Type: arrow.BinaryTypes.String},
	{Name: "score", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
}, nil)

// writeParquet writes rows ids [from, from+n) in row groups of rg rows.
func writeParquet(t testing.TB, path string, from, n, rg int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	props := parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(int64(rg)), parquet.WithStats(true))
	w, err := pqarrow.NewFileWriter(testSchema, f, props, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, testSchema)
	defer b.Release()
	for i := from; i < from+n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("n%03d", i))
		if i%7 == 0 {
			b.Field(2).AppendNull()
		} else {
			b.Field(2).(*array.Float64Builder).Append(float64(i) / 2)
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// writeFile writes data at path, making its directories.
func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// table is what a read gave: its schema and its rows as strings.
type table struct {
	schema  *arrow.Schema
	rows    [][]string
	records []int64 // rows per emitted record
}

func (tb table) col(name string) []string {
	idx := tb.schema.FieldIndices(name)
	if len(idx) == 0 {
		return nil
	}
	out := make([]string, len(tb.rows))
	for i, r := range tb.rows {
		out[i] = r[idx[0]]
	}
	return out
}

func (tb table) names() string {
	var ns []string
	for _, f := range tb.schema.Fields() {
		ns = append(ns, f.Name)
	}
	return strings.Join(ns, ",")
}

// readAll reads every unit and gathers the rows.
func readAll(t testing.TB, format Format, units []Unit, opts Options) (table, error) {
	t.Helper()
	var tb table
	for _, u := range units {
		err := Read(context.Background(), format, u, opts, func(rec arrow.RecordBatch) error {
			if tb.schema == nil {
				tb.schema = rec.Schema()
			} else if !tb.schema.Equal(rec.Schema()) {
				return fmt.Errorf("schema changed: %s then %s", tb.schema, rec.Schema())
			}
			tb.records = append(tb.records, rec.NumRows())
			for i := 0; i < int(rec.NumRows()); i++ {
				row := make([]string, rec.NumCols())
				for c := range row {
					row[c] = rec.Column(c).ValueStr(i)
				}
				tb.rows = append(tb.rows, row)
			}
			return nil
		})
		if err != nil {
			return tb, err
		}
	}
	return tb, nil
}

// mustPlan is Plan that fails the test on an error.
func mustPlan(t testing.TB, format Format, paths []string, opts Options) ([]Unit, *arrow.Schema) {
	t.Helper()
	units, sc, err := Plan(context.Background(), format, paths, opts)
	if err != nil {
		t.Fatalf("Plan(%s, %v): %v", format, paths, err)
	}
	return units, sc
}

// mustRead is readAll that fails the test on an error.
func mustRead(t testing.TB, format Format, units []Unit, opts Options) table {
	t.Helper()
	tb, err := readAll(t, format, units, opts)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return tb
}

func seq(from, to int) []string {
	var s []string
	for i := from; i < to; i++ {
		s = append(s, fmt.Sprint(i))
	}
	return s
}
