package sink_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	arrowcsv "github.com/apache/arrow-go/v18/arrow/csv"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/rayo-dev/rayo/data/internal/sink"
)

// testSchema: an int64 key, a nullable string and a float64.
var testSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "score", Type: arrow.PrimitiveTypes.Float64},
}, nil)

// makeRec builds rows [from, from+n) of the test data: name is null on
// every 7th row and holds characters CSV and JSON must quote.
func makeRec(t testing.TB, from, n int) arrow.RecordBatch {
	t.Helper()
	b := array.NewRecordBuilder(memory.DefaultAllocator, testSchema)
	defer b.Release()
	for i := from; i < from+n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if i%7 == 3 {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.StringBuilder).Append("n," + strings.Repeat("\"é", i%3) + "\n" + string(rune('a'+i%26)))
		}
		b.Field(2).(*array.Float64Builder).Append(float64(i) * 0.25)
	}
	return b.NewRecordBatch()
}

// begin starts a write in a fresh directory.
func begin(t *testing.T, id string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "out")
	if err := sink.Begin(dir, id, sink.ModeError); err != nil {
		t.Fatalf("Begin: %v", err)
	}
	return dir
}

// readBack reads a file written by WriteFile with arrow-go's readers and
// returns its rows as one record batch.
func readBack(t *testing.T, f sink.Format, path string, schema *arrow.Schema, opts sink.Options) arrow.RecordBatch {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var recs []arrow.RecordBatch
	switch f {
	case sink.Parquet:
		tbl, err := pqarrow.ReadTable(context.Background(), fh, nil, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		if err != nil {
			t.Fatalf("read parquet %s: %v", path, err)
		}
		defer tbl.Release()
		if !sameFields(tbl.Schema(), schema) {
			t.Fatalf("parquet schema %s, want %s", tbl.Schema(), schema)
		}
		tr := array.NewTableReader(tbl, -1)
		defer tr.Release()
		for tr.Next() {
			r := tr.RecordBatch()
			r.Retain()
			recs = append(recs, r)
		}
	case sink.CSV:
		d := opts.Delimiter
		if d == 0 {
			d = ','
		}
		r := arrowcsv.NewReader(fh, schema, arrowcsv.WithHeader(!opts.NoHeader), arrowcsv.WithComma(d),
			arrowcsv.WithNullReader(true, ""), arrowcsv.WithChunk(-1))
		defer r.Release()
		for r.Next() {
			rec := r.RecordBatch()
			rec.Retain()
			recs = append(recs, rec)
		}
		if r.Err() != nil {
			t.Fatalf("read csv %s: %v", path, r.Err())
		}
	case sink.JSON:
		r := array.NewJSONReader(fh, schema, array.WithChunk(-1))
		defer r.Release()
		for r.Next() {
			rec := r.RecordBatch()
			rec.Retain()
			recs = append(recs, rec)
		}
		if r.Err() != nil {
			t.Fatalf("read json %s: %v", path, r.Err())
		}
	}
	return concat(t, schema, stripMeta(schema, recs))
}

// stripMeta gives recs the schema schema (same columns, no metadata).
func stripMeta(schema *arrow.Schema, recs []arrow.RecordBatch) []arrow.RecordBatch {
	out := make([]arrow.RecordBatch, len(recs))
	for i, r := range recs {
		out[i] = array.NewRecordBatch(schema, r.Columns(), r.NumRows())
		r.Release()
	}
	return out
}

// sameFields compares names, types and nullability, not the field
// metadata (the Parquet reader adds PARQUET:field_id).
func sameFields(a, b *arrow.Schema) bool {
	if a.NumFields() != b.NumFields() {
		return false
	}
	for i := range a.Fields() {
		x, y := a.Field(i), b.Field(i)
		if x.Name != y.Name || x.Nullable != y.Nullable || !arrow.TypeEqual(x.Type, y.Type) {
			return false
		}
	}
	return true
}

// concat joins record batches into one (the inputs are released).
func concat(t testing.TB, schema *arrow.Schema, recs []arrow.RecordBatch) arrow.RecordBatch {
	t.Helper()
	tbl := array.NewTableFromRecords(schema, recs)
	for _, r := range recs {
		r.Release()
	}
	defer tbl.Release()
	cols := make([]arrow.Array, tbl.NumCols())
	for i := range cols {
		chunks := tbl.Column(i).Data().Chunks()
		if len(chunks) == 0 {
			b := array.NewBuilder(memory.DefaultAllocator, schema.Field(i).Type)
			cols[i] = b.NewArray()
			b.Release()
			continue
		}
		a, err := array.Concatenate(chunks, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		cols[i] = a
	}
	rec := array.NewRecordBatch(schema, cols, tbl.NumRows())
	for _, c := range cols {
		c.Release()
	}
	return rec
}

// tree lists the files under dir, relative and in slash form, sorted.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// jsonLines parses a JSON lines file into one map per row.
func jsonLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

var _ = math.NaN
