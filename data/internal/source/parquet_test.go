package source

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/vmihailenco/msgpack/v5"
)

// hiveDataset writes two files under year=2024/month=1 and month=2, ids
// 0..29 and 30..59, in row groups of 10, plus a _SUCCESS file and a
// hidden file that the walk must leave out.
func hiveDataset(t testing.TB) string {
	dir := t.TempDir()
	writeParquet(t, filepath.Join(dir, "year=2024", "month=1", "a.parquet"), 0, 30, 10)
	writeParquet(t, filepath.Join(dir, "year=2024", "month=2", "b.parquet"), 30, 30, 10)
	writeFile(t, filepath.Join(dir, "_SUCCESS"), nil)
	writeFile(t, filepath.Join(dir, "year=2024", ".hidden.parquet"), []byte("junk"))
	return dir
}

func TestParquetDirectoryWithHivePartitions(t *testing.T) {
	dir := hiveDataset(t)
	units, sc := mustPlan(t, Parquet, []string{dir}, DefaultOptions())
	if len(units) != 6 {
		t.Fatalf("Plan gave %d units, want 6 (one per row group)", len(units))
	}
	for i, u := range units {
		if u.Rows != 10 || len(u.RowGroups) != 1 || u.RowGroups[0] != i%3 || u.Bytes <= 0 {
			t.Errorf("unit %d = %+v, want 10 rows of row group %d", i, u, i%3)
		}
	}
	if got := arrowNames(sc); got != "id,name,score,year,month" {
		t.Fatalf("schema %s", sc)
	}
	if sc.Field(3).Type.ID() != arrow.INT64 || sc.Field(4).Type.ID() != arrow.INT64 {
		t.Errorf("partition columns %s, want int64 (every value parses)", sc)
	}
	tb := mustRead(t, Parquet, units, DefaultOptions())
	if !tb.schema.Equal(sc) {
		t.Errorf("Read's schema %s, Plan's %s", tb.schema, sc)
	}
	if !slices.Equal(tb.col("id"), seq(0, 60)) {
		t.Fatalf("ids %v", tb.col("id"))
	}
	for i, r := range tb.rows {
		month := "1"
		if i >= 30 {
			month = "2"
		}
		if r[3] != "2024" || r[4] != month {
			t.Fatalf("row %d = %v, want year 2024 month %s", i, r, month)
		}
	}
	if tb.col("score")[7] != "(null)" || tb.col("score")[8] != "4" {
		t.Errorf("scores %v", tb.col("score")[:10])
	}
}

func arrowNames(sc *arrow.Schema) string {
	var ns []string
	for _, f := range sc.Fields() {
		ns = append(ns, f.Name)
	}
	return strings.Join(ns, ",")
}

func TestParquetPartitionValuesNotAllIntAreStrings(t *testing.T) {
	dir := t.TempDir()
	writeParquet(t, filepath.Join(dir, "k=1", "a.parquet"), 0, 5, 5)
	writeParquet(t, filepath.Join(dir, "k=x%20y", "b.parquet"), 5, 5, 5)
	units, sc := mustPlan(t, Parquet, []string{dir}, DefaultOptions())
	if f := sc.Field(3); f.Name != "k" || f.Type.ID() != arrow.STRING {
		t.Fatalf("partition column %v, want string k", f)
	}
	tb := mustRead(t, Parquet, units, DefaultOptions())
	if got := tb.col("k"); got[0] != "1" || got[9] != "x y" {
		t.Errorf("k = %v", got)
	}
	// Off, the directories are only directories.
	opts := DefaultOptions()
	opts.Partitioning = false
	_, sc = mustPlan(t, Parquet, []string{dir}, opts)
	if arrowNames(sc) != "id,name,score" {
		t.Errorf("without partitioning: %s", sc)
	}
}

func TestParquetFilterPushdownSkipsRowGroupsAndIsRowExact(t *testing.T) {
	dir := hiveDataset(t)
	opts := DefaultOptions()
	opts.Filter = []Predicate{{"id", ">=", int64(25)}, {"id", "<", 35.0}}
	units, _ := mustPlan(t, Parquet, []string{dir}, opts)
	// Row groups [20,30) and [30,40) only: four of six skipped.
	if len(units) != 2 || units[0].RowGroups[0] != 2 || units[1].RowGroups[0] != 0 {
		t.Fatalf("Plan with a filter gave %+v, want row group 2 of a and 0 of b", units)
	}
	tb := mustRead(t, Parquet, units, opts)
	if !slices.Equal(tb.col("id"), seq(25, 35)) {
		t.Fatalf("ids %v, want 25..34", tb.col("id"))
	}

	// Row-exactness against filtering after a plain read, for a spread of
	// predicates, including ones on a column with nulls and on strings.
	all, _ := mustPlan(t, Parquet, []string{dir}, DefaultOptions())
	full := mustRead(t, Parquet, all, DefaultOptions())
	preds := []Predicate{
		{"score", ">", int64(20)}, {"score", "<=", 3.5}, {"score", "!=", 4.0}, {"score", "==", 10.5},
		{"name", ">=", "n050"}, {"name", "==", "n007"}, {"id", "!=", int64(3)}, {"id", "==", int64(1000)},
		{"month", "==", int64(2)}, {"year", "<", int64(2024)},
	}
	for _, p := range preds {
		opts := DefaultOptions()
		opts.Filter = []Predicate{p}
		units, _ := mustPlan(t, Parquet, []string{dir}, opts)
		got := mustRead(t, Parquet, units, opts)
		var want [][]string
		ci := full.schema.FieldIndices(p.Column)[0]
		for _, r := range full.rows {
			if rowHolds(t, r[ci], p) {
				want = append(want, r)
			}
		}
		if !slices.EqualFunc(got.rows, want, slices.Equal) {
			t.Errorf("%v: %d rows, want %d (the rows a plain read then a filter give)", p, len(got.rows), len(want))
		}
	}
}

// rowHolds evaluates p on a cell printed by ValueStr.
func rowHolds(t *testing.T, cell string, p Predicate) bool {
	if cell == "(null)" {
		return false
	}
	var x any = cell
	switch p.Value.(type) {
	case int64, float64:
		f, err := strconv.ParseFloat(cell, 64)
		if err != nil {
			t.Fatal(err)
		}
		x = f
	}
	return holds(p.Op, x, p.Value)
}

func TestParquetPartitionFilterPrunesFiles(t *testing.T) {
	dir := hiveDataset(t)
	opts := DefaultOptions()
	opts.Filter = []Predicate{{"month", "==", int64(2)}}
	units, _ := mustPlan(t, Parquet, []string{dir}, opts)
	if len(units) != 3 {
		t.Fatalf("%d units, want the 3 row groups of month=2", len(units))
	}
	for _, u := range units {
		if !strings.Contains(u.Path, "month=2") {
			t.Errorf("unit %s", u.Path)
		}
	}
	// Read is exact even when handed a unit Plan would have pruned.
	all, _ := mustPlan(t, Parquet, []string{dir}, DefaultOptions())
	tb := mustRead(t, Parquet, all[:1], opts)
	if len(tb.rows) != 0 || len(tb.records) != 1 {
		t.Errorf("a month=1 unit under month == 2: %d rows in %d records, want one empty record", len(tb.rows), len(tb.records))
	}
}

func TestParquetProjection(t *testing.T) {
	dir := hiveDataset(t)
	opts := DefaultOptions()
	opts.Columns = []string{"score", "month", "id"}
	opts.Filter = []Predicate{{"name", "<", "n003"}}
	units, sc := mustPlan(t, Parquet, []string{dir}, opts)
	if arrowNames(sc) != "score,month,id" {
		t.Fatalf("schema %s", sc)
	}
	tb := mustRead(t, Parquet, units, opts)
	if tb.names() != "score,month,id" || len(tb.rows) != 3 || tb.rows[2][0] != "1" || tb.rows[2][2] != "2" {
		t.Fatalf("%s %v", tb.names(), tb.rows)
	}

	// Only a partition column and the path: no Parquet column is read, the
	// footer gives the row count.
	opts = DefaultOptions()
	opts.Columns = []string{"month", "path"}
	opts.IncludePaths = true
	opts.TargetRows = 4
	units, _ = mustPlan(t, Parquet, []string{dir}, opts)
	tb = mustRead(t, Parquet, units, opts)
	if len(tb.rows) != 60 || tb.rows[59][0] != "2" || !strings.HasSuffix(tb.rows[59][1], "b.parquet") {
		t.Fatalf("%d rows, last %v", len(tb.rows), tb.rows[len(tb.rows)-1])
	}
	for _, n := range tb.records {
		if n > 4 {
			t.Fatalf("records of %v rows, want at most 4", tb.records)
		}
	}
}

func TestParquetTargetRows(t *testing.T) {
	dir := t.TempDir()
	writeParquet(t, filepath.Join(dir, "a.parquet"), 0, 100, 50)
	opts := DefaultOptions()
	opts.TargetRows = 16
	units, _ := mustPlan(t, Parquet, []string{dir}, opts)
	tb := mustRead(t, Parquet, units, opts)
	if len(tb.rows) != 100 {
		t.Fatalf("%d rows", len(tb.rows))
	}
	for _, n := range tb.records {
		if n > 16 || n == 0 {
			t.Fatalf("records %v, want 1..16 rows each", tb.records)
		}
	}
	opts.TargetRows = 0
	tb = mustRead(t, Parquet, units, opts)
	if !slices.Equal(tb.records, []int64{50, 50}) {
		t.Errorf("TargetRows 0: records %v, want one per unit", tb.records)
	}
	// No row group at all (not nil, which means every one): no rows.
	for _, opts.TargetRows = range []int{0, 7} {
		tb = mustRead(t, Parquet, []Unit{{Path: units[0].Path, RowGroups: []int{}}}, opts)
		if len(tb.rows) != 0 || tb.names() != "id,name,score" {
			t.Errorf("no row groups: %v %s", tb.rows, tb.names())
		}
	}
}

func TestParquetGlob(t *testing.T) {
	dir := hiveDataset(t)
	units, _ := mustPlan(t, Parquet, []string{filepath.Join(dir, "year=2024", "month=*", "*.parquet")}, DefaultOptions())
	if len(units) != 6 {
		t.Errorf("glob: %d units", len(units))
	}
	units, _ = mustPlan(t, Parquet, []string{filepath.Join(dir, "year=2024", "month=2")}, DefaultOptions())
	if len(units) != 3 {
		t.Errorf("one partition directory: %d units", len(units))
	}
	_, _, err := Plan(context.Background(), Parquet, []string{filepath.Join(dir, "*.csv")}, DefaultOptions())
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "*.csv") {
		t.Errorf("a glob that matches nothing: %v", err)
	}
	_, _, err = Plan(context.Background(), Parquet, []string{filepath.Join(dir, "[")}, DefaultOptions())
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, filepath.ErrBadPattern) {
		t.Errorf("a bad glob: %v", err)
	}
}

func TestParquetErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.parquet")
	writeParquet(t, good, 0, 40, 10)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	t.Run("missing", func(t *testing.T) {
		missing := filepath.Join(dir, "nope.parquet")
		_, _, err := Plan(ctx, Parquet, []string{missing}, DefaultOptions())
		var e *Error
		if !errors.Is(err, ErrNotFound) || !errors.As(err, &e) || e.Path != missing {
			t.Errorf("Plan of a missing file: %v", err)
		}
		err = Read(ctx, Parquet, Unit{Path: missing}, DefaultOptions(), func(arrow.RecordBatch) error { return nil })
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("Read of a missing file: %v", err)
		}
		_, _, err = Plan(ctx, Parquet, nil, DefaultOptions())
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("Plan of no paths: %v", err)
		}
		empty := filepath.Join(dir, "emptydir")
		if err := os.Mkdir(empty, 0o755); err != nil {
			t.Fatal(err)
		}
		_, _, err = Plan(ctx, Parquet, []string{empty}, DefaultOptions())
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("Plan of an empty directory: %v", err)
		}
	})

	t.Run("truncated", func(t *testing.T) {
		for _, n := range []int{0, 3, 8, len(data) / 2, len(data) - 1} {
			p := filepath.Join(dir, "trunc", strconv.Itoa(n)+".parquet")
			writeFile(t, p, data[:n])
			_, _, err := Plan(ctx, Parquet, []string{p}, DefaultOptions())
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), p) {
				t.Errorf("Plan of %d of %d bytes: %v, want ErrCorrupt naming the file", n, len(data), err)
			}
		}
	})

	t.Run("damaged pages", func(t *testing.T) {
		// The footer is intact, the data pages are garbage: Plan works
		// from the footer, Read must fail cleanly (no panic escapes).
		bad := slices.Clone(data)
		for i := 4; i < len(bad)/2; i++ {
			bad[i] = byte(i * 31)
		}
		p := filepath.Join(dir, "damaged.parquet")
		writeFile(t, p, bad)
		units, _, err := Plan(ctx, Parquet, []string{p}, DefaultOptions())
		if err != nil {
			t.Fatalf("Plan: %v", err)
		}
		for _, target := range []int{0, 5} { // whole row groups; batches
			opts := DefaultOptions()
			opts.TargetRows = target
			_, err = readAll(t, Parquet, units, opts)
			var e *Error
			if !errors.Is(err, ErrCorrupt) || !errors.As(err, &e) || e.Path != p {
				t.Fatalf("TargetRows %d: Read of damaged pages: %v, want ErrCorrupt naming the file", target, err)
			}
			if e.FirstRow != 0 || e.LastRow != 9 {
				t.Errorf("TargetRows %d: row range %d-%d, want the first row group's 0-9", target, e.FirstRow, e.LastRow)
			}
		}
		// Projected to the path alone, no page is read: the footer's row
		// counts are enough, so the damage does not matter.
		opts := DefaultOptions()
		opts.IncludePaths = true
		opts.Columns = []string{"path"}
		tb := mustRead(t, Parquet, units, opts)
		if len(tb.rows) != 40 || tb.rows[0][0] != p {
			t.Errorf("path only: %d rows, first %v", len(tb.rows), tb.rows[0])
		}
	})

	t.Run("schema mismatch", func(t *testing.T) {
		other := filepath.Join(dir, "mm", "z.parquet")
		sc := arrow.NewSchema([]arrow.Field{
			{Name: "id", Type: arrow.PrimitiveTypes.Int64},
			{Name: "name", Type: arrow.BinaryTypes.String},
			{Name: "score", Type: arrow.BinaryTypes.String},
		}, nil)
		writeRecord(t, other, sc, `[{"id": 1, "name": "a", "score": "high"}]`)
		_, _, err := Plan(ctx, Parquet, []string{good, other}, DefaultOptions())
		var e *Error
		if !errors.Is(err, ErrSchemaMismatch) || !errors.As(err, &e) || e.Path != good || e.Other != other || e.Column != "score" {
			t.Fatalf("Plan of disagreeing files: %v", err)
		}
		// A projection that leaves the differing column out reads both.
		opts := DefaultOptions()
		opts.Columns = []string{"id"}
		if _, _, err := Plan(ctx, Parquet, []string{good, other}, opts); err != nil {
			t.Errorf("projected past the difference: %v", err)
		}
		// Different hive keys disagree too.
		p1 := filepath.Join(dir, "hv", "a=1", "x.parquet")
		p2 := filepath.Join(dir, "hv", "b=1", "x.parquet")
		writeParquet(t, p1, 0, 1, 1)
		writeParquet(t, p2, 0, 1, 1)
		_, _, err = Plan(ctx, Parquet, []string{filepath.Join(dir, "hv")}, DefaultOptions())
		if !errors.Is(err, ErrSchemaMismatch) || !strings.Contains(err.Error(), "partition keys") {
			t.Errorf("different partition keys: %v", err)
		}
	})

	t.Run("no column", func(t *testing.T) {
		for _, opts := range []Options{
			{Columns: []string{"id", "nosuch"}},
			{Filter: []Predicate{{"nosuch", "==", int64(1)}}},
			{Columns: []string{"path"}}, // no IncludePaths
		} {
			_, _, err := Plan(ctx, Parquet, []string{good}, opts)
			var e *Error
			if !errors.Is(err, ErrNoColumn) || !errors.As(err, &e) || !strings.Contains(err.Error(), "id, name, score") {
				t.Errorf("%+v: Plan: %v, want ErrNoColumn listing the columns", opts, err)
				continue
			}
			err = Read(ctx, Parquet, Unit{Path: good}, opts, func(arrow.RecordBatch) error { return nil })
			if !errors.Is(err, ErrNoColumn) {
				t.Errorf("%+v: Read: %v", opts, err)
			}
		}
	})

	t.Run("bad filter", func(t *testing.T) {
		for _, p := range []Predicate{
			{"name", "==", int64(1)}, {"id", "==", "x"}, {"id", "~=", int64(1)},
			{"id", "==", []int{1}}, {"id", "==", nil},
		} {
			opts := DefaultOptions()
			opts.Filter = []Predicate{p}
			if _, _, err := Plan(ctx, Parquet, []string{good}, opts); !errors.Is(err, ErrUnsupported) {
				t.Errorf("%v: %v, want ErrUnsupported", p, err)
			}
		}
	})

	t.Run("bad options", func(t *testing.T) {
		for _, opts := range []Options{{TargetRows: -1}, {Mode: "CMYK"}, {Width: -2}, {Delimiter: '\n'}} {
			if _, _, err := Plan(ctx, Parquet, []string{good}, opts); !errors.Is(err, ErrUnsupported) {
				t.Errorf("%+v: %v", opts, err)
			}
		}
		if _, _, err := Plan(ctx, Format(99), []string{good}, Options{}); !errors.Is(err, ErrUnsupported) {
			t.Errorf("format 99: %v", err)
		}
		if err := Read(ctx, Format(99), Unit{Path: good}, Options{}, nil); !errors.Is(err, ErrUnsupported) {
			t.Errorf("Read format 99: %v", err)
		}
		if err := Read(ctx, Parquet, Unit{Path: good, RowGroups: []int{9}}, Options{}, nil); !errors.Is(err, ErrCorrupt) {
			t.Errorf("row group 9 of 4: %v", err)
		}
	})
}

// writeRecord writes one record, given as JSON rows, to a Parquet file.
func writeRecord(t testing.TB, path string, sc *arrow.Schema, rows string) {
	t.Helper()
	rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, sc, strings.NewReader(rows))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(sc, f, nil, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestEmitErrorAndCancel(t *testing.T) {
	dir := t.TempDir()
	writeParquet(t, filepath.Join(dir, "a.parquet"), 0, 100, 100)
	units, _ := mustPlan(t, Parquet, []string{dir}, DefaultOptions())
	stop := errors.New("consumer stopped")
	opts := DefaultOptions()
	opts.TargetRows = 10
	calls := 0
	err := Read(context.Background(), Parquet, units[0], opts, func(arrow.RecordBatch) error {
		calls++
		return stop
	})
	if err != stop || calls != 1 {
		t.Errorf("emit's error: %v after %d calls, want it returned as it is after 1", err, calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = Read(ctx, Parquet, units[0], opts, func(arrow.RecordBatch) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled read: %v", err)
	}
}

// TestOptionsAndUnitsTravelAsMsgpack: a task spec carries them; a filter
// value comes back as whatever integer width msgpack picked.
func TestOptionsAndUnitsTravelAsMsgpack(t *testing.T) {
	dir := hiveDataset(t)
	opts := DefaultOptions()
	opts.Columns = []string{"id", "month"}
	opts.Filter = []Predicate{{"id", ">=", int64(55)}, {"month", "==", int64(2)}}
	units, _ := mustPlan(t, Parquet, []string{dir}, opts)
	b, err := msgpack.Marshal(struct {
		U []Unit
		O Options
	}{units, opts})
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		U []Unit
		O Options
	}
	if err := msgpack.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	tb := mustRead(t, Parquet, back.U, back.O)
	if !slices.Equal(tb.col("id"), seq(55, 60)) {
		t.Errorf("after msgpack: ids %v (filter values %T)", tb.col("id"), back.O.Filter[0].Value)
	}
}

// TestParquetNestedColumns: projecting a struct or list column reads all
// of its Parquet leaves; filtering on one is refused.
func TestParquetNestedColumns(t *testing.T) {
	p := filepath.Join(t.TempDir(), "n.parquet")
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "pt", Type: arrow.StructOf(arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Int64}, arrow.Field{Name: "y", Type: arrow.BinaryTypes.String})},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String)},
		{Name: "z", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	writeRecord(t, p, sc, `[{"id": 1, "pt": {"x": 5, "y": "a"}, "tags": ["u", "v"], "z": 0.5},
		{"id": 2, "pt": {"x": 6, "y": "b"}, "tags": [], "z": 1.5}]`)
	opts := DefaultOptions()
	opts.Columns = []string{"tags", "pt"}
	opts.Filter = []Predicate{{"z", ">", 1.0}}
	units, osc := mustPlan(t, Parquet, []string{p}, opts)
	if arrowNames(osc) != "tags,pt" {
		t.Fatalf("schema %s", osc)
	}
	tb := mustRead(t, Parquet, units, opts)
	if len(tb.rows) != 1 || tb.rows[0][0] != "[]" || tb.rows[0][1] != `{"x":6,"y":"b"}` {
		t.Errorf("rows %v", tb.rows)
	}
	opts.Filter = []Predicate{{"pt", "==", int64(1)}}
	if _, _, err := Plan(context.Background(), Parquet, []string{p}, opts); !errors.Is(err, ErrUnsupported) {
		t.Errorf("a filter on a struct column: %v", err)
	}
}
