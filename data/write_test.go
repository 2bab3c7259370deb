package data_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/rayo-dev/rayo/data"
)

// parquetRows reads a Parquet file's ids.
func parquetRows(t *testing.T, path string) []int64 {
	t.Helper()
	r, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fr, err := pqarrow.NewFileReader(r, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	var out []int64
	col := tbl.Column(tbl.Schema().FieldIndices("id")[0])
	for _, c := range col.Data().Chunks() {
		out = append(out, c.(interface{ Int64Values() []int64 }).Int64Values()...)
	}
	return out
}

// TestWriteParquetExactRowsPerFile: files named in order, every one but
// the last with exactly MaxRowsPerFile rows, across block boundaries.
func TestWriteParquetExactRowsPerFile(t *testing.T) {
	ctx := testCtx(t)
	dir := filepath.Join(t.TempDir(), "out")
	files, err := quiet(data.Range(1000, data.Parallelism(7))).WriteParquet(ctx, dir, data.MaxRowsPerFile(300))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var all []int64
	for _, f := range files {
		names = append(names, filepath.Base(f))
		ids := parquetRows(t, f)
		all = append(all, ids...)
		if len(ids) != 300 && f != files[len(files)-1] {
			t.Fatalf("%s has %d rows", f, len(ids))
		}
	}
	if !slices.Equal(names, []string{"part-000000.parquet", "part-000001.parquet", "part-000002.parquet", "part-000003.parquet"}) {
		t.Fatalf("files %v", names)
	}
	for i, v := range all {
		if v != int64(i) {
			t.Fatalf("row %d is %d", i, v)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Fatalf("the output directory holds %d entries (staging left behind?)", len(entries))
	}
	// The default mode refuses a directory with files.
	if _, err := quiet(data.Range(10)).WriteParquet(ctx, dir); err == nil {
		t.Fatal("a second write into the same directory succeeded")
	}
	// Overwrite replaces them.
	files, err = quiet(data.Range(10)).WriteParquet(ctx, dir, data.SaveMode("overwrite"))
	if err != nil || len(files) != 1 {
		t.Fatalf("overwrite: %v %v", files, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("after overwrite %d entries", len(entries))
	}
}

func TestWriteCSVJSONAndPartitions(t *testing.T) {
	ctx := testCtx(t)
	base := t.TempDir()
	ds := quiet(data.Range(100)).Map(fSquare)
	files, err := ds.WriteCSV(ctx, filepath.Join(base, "csv"), data.MinRowsPerFile(60))
	if err != nil || len(files) == 0 {
		t.Fatalf("WriteCSV: %v %v", files, err)
	}
	b, _ := os.ReadFile(files[0])
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); lines[0] != "id,sq" || lines[3] != "2,4" || len(lines) < 61 {
		t.Fatalf("csv: %q...", lines[:4])
	}
	files, err = ds.WriteJSON(ctx, filepath.Join(base, "json"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(files[0])
	if !strings.HasPrefix(string(b), `{"id":0,"sq":0}`) {
		t.Fatalf("json: %.40q", b)
	}
	items := []struct {
		Year int64  `arrow:"year"`
		Name string `arrow:"name"`
	}{{2024, "a"}, {2025, "b"}, {2024, "c"}}
	pd, err := data.FromItems(ctx, items)
	if err != nil {
		t.Fatal(err)
	}
	files, err = quiet(pd).WriteParquet(ctx, filepath.Join(base, "hive"), data.PartitionBy("year"))
	if err != nil {
		t.Fatal(err)
	}
	var rel []string
	for _, f := range files {
		r, _ := filepath.Rel(filepath.Join(base, "hive"), f)
		rel = append(rel, r)
	}
	slices.Sort(rel)
	if !slices.Equal(rel, []string{"year=2024/part-000000-0000.parquet", "year=2025/part-000000-0000.parquet"}) {
		t.Fatalf("hive files %v", rel)
	}
}

// TestFailedWriteLeavesNothing: a write whose pipeline fails midway
// leaves the output directory without any file.
func TestFailedWriteLeavesNothing(t *testing.T) {
	ctx := testCtx(t)
	dir := filepath.Join(t.TempDir(), "out")
	_, err := quiet(data.Range(1000, data.Parallelism(10))).Map(fFailAt).WriteParquet(ctx, dir, data.MaxRowsPerFile(10))
	if !errors.Is(err, data.ErrUDF) {
		t.Fatalf("the write: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("a failed write left %v", entries)
	}
	if _, err := quiet(data.Range(10)).WriteParquet(ctx, dir, data.MaxRowsPerFile(0)); !errors.Is(err, data.ErrInvalidArgument) {
		t.Fatalf("MaxRowsPerFile(0): %v", err)
	}
}
