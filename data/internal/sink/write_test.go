package sink_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/rayo-dev/rayo/data/internal/sink"
)

func TestWriteFileRoundTrip(t *testing.T) {
	cases := []struct {
		f    sink.Format
		opts sink.Options
	}{
		{sink.Parquet, sink.Options{}},
		{sink.Parquet, sink.Options{Compression: "zstd", RowGroupRows: 10}},
		{sink.Parquet, sink.Options{Compression: "none"}},
		{sink.Parquet, sink.Options{Compression: "gzip"}},
		{sink.CSV, sink.Options{}},
		{sink.CSV, sink.Options{Delimiter: ';', NoHeader: true}},
		{sink.CSV, sink.Options{Delimiter: '\t'}},
		{sink.JSON, sink.Options{}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%+v", c.f, c.opts), func(t *testing.T) {
			// Three blocks, handed over as a slice of rows [5, 95) of them.
			blocks := []arrow.RecordBatch{makeRec(t, 0, 40), makeRec(t, 40, 1), makeRec(t, 41, 59)}
			defer func() {
				for _, b := range blocks {
					b.Release()
				}
			}()
			part, err := sink.SliceRows(blocks, 5, 90)
			if err != nil {
				t.Fatal(err)
			}
			dir := begin(t, "w1")
			rel := sink.FileName(c.f, 3)
			path := sink.StagingPath(dir, "w1", rel)
			rows, size, err := sink.WriteFile(context.Background(), c.f, path, testSchema, sink.Records(part), c.opts)
			for _, p := range part {
				p.Release()
			}
			if err != nil {
				t.Fatalf("WriteFile: %v", err)
			}
			if rows != 90 {
				t.Fatalf("rows = %d, want 90", rows)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() != size {
				t.Fatalf("size = %d, file has %d", size, st.Size())
			}
			if st.Mode().Perm() != 0o644 {
				t.Fatalf("mode %v, want 0644", st.Mode().Perm())
			}
			if got := tree(t, sink.StagingDir(dir, "w1")); len(got) != 1 || got[0] != rel {
				t.Fatalf("staging holds %v, want only %s (no temporary file)", got, rel)
			}
			got := readBack(t, c.f, path, testSchema, c.opts)
			defer got.Release()
			want := makeRec(t, 5, 90)
			defer want.Release()
			if !array.RecordApproxEqual(got, want) {
				t.Fatalf("read back\n%v\nwant\n%v", got, want)
			}
		})
	}
}

// TestExactRowsPerFile does what the driver does for a write with
// rowsPerFile: file k gets the rows [k*rowsPerFile, (k+1)*rowsPerFile)
// of blocks of unrelated sizes; every file but the last holds exactly
// rowsPerFile rows and together they hold the dataset in order.
func TestExactRowsPerFile(t *testing.T) {
	sizes := []int{7, 5, 11, 1, 9}
	var blocks []arrow.RecordBatch
	total := 0
	for _, n := range sizes {
		blocks = append(blocks, makeRec(t, total, n))
		total += n
	}
	defer func() {
		for _, b := range blocks {
			b.Release()
		}
	}()
	const perFile = 4
	for _, f := range []sink.Format{sink.Parquet, sink.CSV, sink.JSON} {
		t.Run(f.String(), func(t *testing.T) {
			dir := begin(t, "exact")
			var files []string
			for k := 0; k*perFile < total; k++ {
				n := int64(min(perFile, total-k*perFile))
				part, err := sink.SliceRows(blocks, int64(k*perFile), n)
				if err != nil {
					t.Fatal(err)
				}
				rel := sink.FileName(f, k)
				rows, _, err := sink.WriteFile(context.Background(), f, sink.StagingPath(dir, "exact", rel), testSchema, sink.Records(part), sink.Options{})
				for _, p := range part {
					p.Release()
				}
				if err != nil || rows != n {
					t.Fatalf("file %d: rows %d, err %v; want %d", k, rows, err, n)
				}
				files = append(files, rel)
			}
			finals, err := sink.Commit(dir, "exact", files, sink.ModeError)
			if err != nil {
				t.Fatal(err)
			}
			var all []arrow.RecordBatch
			for k, p := range finals {
				if filepath.Base(p) != fmt.Sprintf("part-%06d.%s", k, f.Ext()) {
					t.Fatalf("file %d is %s", k, p)
				}
				r := readBack(t, f, p, testSchema, sink.Options{})
				want := int64(perFile)
				if k == len(finals)-1 {
					want = int64(total - k*perFile)
				}
				if r.NumRows() != want {
					t.Fatalf("file %d has %d rows, want %d", k, r.NumRows(), want)
				}
				all = append(all, r)
			}
			got := concat(t, testSchema, all)
			defer got.Release()
			want := makeRec(t, 0, total)
			defer want.Release()
			if !array.RecordApproxEqual(got, want) {
				t.Fatalf("files hold\n%v\nwant\n%v", got, want)
			}
			if _, err := os.Stat(sink.StagingDir(dir, "exact")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("staging left after commit: %v", err)
			}
		})
	}
}

func TestJSONLines(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "z", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "a", Type: arrow.BinaryTypes.String},
		{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32)},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	b.Field(0).(*array.Float64Builder).AppendValues([]float64{1.5, math.NaN(), math.Inf(1)}, nil)
	b.Field(1).(*array.StringBuilder).AppendValues([]string{"q\"\\\n\x01", "\xff", "é"}, nil)
	lb := b.Field(2).(*array.ListBuilder)
	for _, n := range []int{2, 0, 1} {
		lb.Append(true)
		for i := 0; i < n; i++ {
			lb.ValueBuilder().(*array.Int32Builder).Append(int32(i + 7))
		}
	}
	b.Field(3).(*array.BooleanBuilder).AppendValues([]bool{true, false, true}, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()

	dir := begin(t, "j")
	path := sink.StagingPath(dir, "j", "part-000000.json")
	if _, _, err := sink.WriteFile(context.Background(), sink.JSON, path, schema, sink.Records([]arrow.RecordBatch{rec}), sink.Options{}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := `{"z":1.5,"a":"q\"\\\n\u0001","l":[7,8],"b":true}
{"z":null,"a":"\ufffd","l":[],"b":false}
{"z":null,"a":"é","l":[7],"b":true}
`
	if string(got) != want {
		t.Fatalf("JSON lines\n%s\nwant (keys in column order, NaN and Inf as null)\n%s", got, want)
	}
	if rows := jsonLines(t, path); len(rows) != 3 || rows[0]["a"] != "q\"\\\n\x01" {
		t.Fatalf("encoding/json reads back %v", rows)
	}
}

func TestCSVEmptyFileHasHeader(t *testing.T) {
	dir := begin(t, "e")
	path := sink.StagingPath(dir, "e", "part-000000.csv")
	rows, _, err := sink.WriteFile(context.Background(), sink.CSV, path, testSchema, sink.Records(nil), sink.Options{})
	if err != nil || rows != 0 {
		t.Fatalf("rows %d, err %v", rows, err)
	}
	if got, _ := os.ReadFile(path); string(got) != "id,name,score\n" {
		t.Fatalf("empty CSV file holds %q", got)
	}
	// An empty Parquet file is a valid file with the schema.
	path = sink.StagingPath(dir, "e", "part-000000.parquet")
	if _, _, err := sink.WriteFile(context.Background(), sink.Parquet, path, testSchema, sink.Records(nil), sink.Options{}); err != nil {
		t.Fatal(err)
	}
	r := readBack(t, sink.Parquet, path, testSchema, sink.Options{})
	defer r.Release()
	if r.NumRows() != 0 {
		t.Fatalf("%d rows", r.NumRows())
	}
}

// noFiles checks that nothing but the listed names is in the staging
// directory: a failed write leaves neither its file nor a temporary one.
func noFiles(t *testing.T, dir, id string, want ...string) {
	t.Helper()
	got := tree(t, sink.StagingDir(dir, id))
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("staging holds %v, want %v", got, want)
	}
}

func TestWriteFileUnsupported(t *testing.T) {
	listSchema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String)},
	}, nil)
	dictSchema := arrow.NewSchema([]arrow.Field{
		{Name: "d", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}},
	}, nil)
	unionSchema := arrow.NewSchema([]arrow.Field{
		{Name: "u", Type: arrow.DenseUnionOf([]arrow.Field{{Name: "i", Type: arrow.PrimitiveTypes.Int32}}, []arrow.UnionTypeCode{0})},
	}, nil)
	timeSchema := arrow.NewSchema([]arrow.Field{{Name: "t", Type: arrow.FixedWidthTypes.Time32s}}, nil)
	cases := []struct {
		f      sink.Format
		schema *arrow.Schema
		col    string
	}{
		{sink.CSV, listSchema, "tags"},
		{sink.CSV, dictSchema, "d"},
		{sink.CSV, timeSchema, "t"},
		{sink.JSON, dictSchema, "d"},
		{sink.Parquet, unionSchema, "u"},
	}
	for _, c := range cases {
		t.Run(c.f.String()+"/"+c.col, func(t *testing.T) {
			dir := begin(t, "u")
			path := sink.StagingPath(dir, "u", sink.FileName(c.f, 0))
			_, _, err := sink.WriteFile(context.Background(), c.f, path, c.schema, sink.Records(nil), sink.Options{})
			var se *sink.Error
			if !errors.Is(err, sink.ErrUnsupported) || !errors.As(err, &se) || se.Column != c.col || se.Path != path {
				t.Fatalf("err = %v, want ErrUnsupported naming column %q and the file", err, c.col)
			}
			noFiles(t, dir, "u")
		})
	}
}

type nilBatch struct{}

func TestWriteFileFailures(t *testing.T) {
	boom := errors.New("source broke")
	other := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int32}}, nil)
	ob := array.NewRecordBuilder(memory.DefaultAllocator, other)
	ob.Field(0).(*array.Int32Builder).Append(1)
	otherRec := ob.NewRecordBatch()
	ob.Release()
	defer otherRec.Release()
	good := makeRec(t, 0, 10)
	defer good.Release()

	renamedSchema := arrow.NewSchema([]arrow.Field{testSchema.Field(0), {Name: "other", Type: arrow.BinaryTypes.String, Nullable: true}, testSchema.Field(2)}, nil)
	renamed := array.NewRecordBatch(renamedSchema, good.Columns(), good.NumRows())
	defer renamed.Release()

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	seq := func(items ...any) iter.Seq2[arrow.RecordBatch, error] {
		return func(yield func(arrow.RecordBatch, error) bool) {
			for _, it := range items {
				switch v := it.(type) {
				case arrow.RecordBatch:
					if !yield(v, nil) {
						return
					}
				case error:
					if !yield(nil, v) {
						return
					}
				case string:
					panic(v)
				case nilBatch:
					if !yield(nil, nil) {
						return
					}
				}
			}
		}
	}
	cases := []struct {
		name string
		ctx  context.Context
		recs iter.Seq2[arrow.RecordBatch, error]
		want error
	}{
		{"source error", context.Background(), seq(good, boom), boom},
		{"source panics", context.Background(), seq(good, "kaboom"), sink.ErrWrite},
		{"schema mismatch", context.Background(), seq(good, otherRec), sink.ErrSchemaMismatch},
		{"nil batch", context.Background(), seq(good, nilBatch{}), sink.ErrInvalid},
		{"renamed column", context.Background(), seq(good, renamed), sink.ErrSchemaMismatch},
		{"cancelled", cancelled, seq(good), context.Canceled},
	}
	for _, f := range []sink.Format{sink.Parquet, sink.CSV, sink.JSON} {
		for _, c := range cases {
			t.Run(f.String()+"/"+c.name, func(t *testing.T) {
				dir := begin(t, "f")
				path := sink.StagingPath(dir, "f", sink.FileName(f, 0))
				rows, _, err := sink.WriteFile(c.ctx, f, path, testSchema, c.recs, sink.Options{})
				if !errors.Is(err, c.want) || rows != 0 || !strings.Contains(err.Error(), path) {
					t.Fatalf("rows %d, err = %v; want %v naming %s", rows, err, c.want, path)
				}
				noFiles(t, dir, "f")
				if err := sink.Abort(dir, "f"); err != nil {
					t.Fatal(err)
				}
				if got := tree(t, dir); len(got) != 0 {
					t.Fatalf("after Abort the directory holds %v", got)
				}
			})
		}
	}
}

// TestWriteFileOSError: a write the OS refuses is ErrWrite wrapping the OS
// error, and leaves nothing behind.
// TestWriteFileMetadataOnly: batches whose schemas differ from the
// file's in metadata only are written.
func TestWriteFileMetadataOnly(t *testing.T) {
	md := arrow.NewMetadata([]string{"origin"}, []string{"block 3"})
	rec := makeRec(t, 0, 4)
	defer rec.Release()
	withMD := array.NewRecordBatch(arrow.NewSchema(testSchema.Fields(), &md), rec.Columns(), rec.NumRows())
	defer withMD.Release()
	for _, f := range []sink.Format{sink.Parquet, sink.CSV, sink.JSON} {
		dir := begin(t, "m")
		rows, _, err := sink.WriteFile(context.Background(), f, sink.StagingPath(dir, "m", sink.FileName(f, 0)), testSchema,
			sink.Records([]arrow.RecordBatch{rec, withMD}), sink.Options{})
		if err != nil || rows != 8 {
			t.Fatalf("%s: rows %d, err %v", f, rows, err)
		}
	}
}

func TestWriteFileOSError(t *testing.T) {
	rec := makeRec(t, 0, 3)
	defer rec.Release()
	t.Run("blocked directory", func(t *testing.T) {
		dir := begin(t, "o")
		// A regular file where the hive directory should be.
		if err := os.WriteFile(filepath.Join(sink.StagingDir(dir, "o"), "k=1"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		path := sink.StagingPath(dir, "o", "k=1/part-000000-0000.csv")
		_, _, err := sink.WriteFile(context.Background(), sink.CSV, path, testSchema, sink.Records([]arrow.RecordBatch{rec}), sink.Options{})
		var pe *os.PathError
		if !errors.Is(err, sink.ErrWrite) || !errors.As(err, &pe) {
			t.Fatalf("err = %v, want ErrWrite wrapping an *os.PathError", err)
		}
		noFiles(t, dir, "o", "k=1")
	})
	t.Run("read-only staging", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root ignores directory permissions")
		}
		dir := begin(t, "ro")
		if err := os.Chmod(sink.StagingDir(dir, "ro"), 0o500); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(sink.StagingDir(dir, "ro"), 0o700)
		path := sink.StagingPath(dir, "ro", "part-000000.parquet")
		_, _, err := sink.WriteFile(context.Background(), sink.Parquet, path, testSchema, sink.Records([]arrow.RecordBatch{rec}), sink.Options{})
		if !errors.Is(err, sink.ErrWrite) || !errors.Is(err, os.ErrPermission) {
			t.Fatalf("err = %v, want ErrWrite and ErrPermission", err)
		}
		noFiles(t, dir, "ro")
	})
}

func TestWriteFileBadInput(t *testing.T) {
	dir := begin(t, "b")
	ok := sink.StagingPath(dir, "b", "part-000000.csv")
	cases := []struct {
		name   string
		f      sink.Format
		path   string
		schema *arrow.Schema
		opts   sink.Options
	}{
		{"zero format", 0, ok, testSchema, sink.Options{}},
		{"unknown compression", sink.Parquet, ok, testSchema, sink.Options{Compression: "lz5"}},
		{"negative row groups", sink.Parquet, ok, testSchema, sink.Options{RowGroupRows: -1}},
		{"quote delimiter", sink.CSV, ok, testSchema, sink.Options{Delimiter: '"'}},
		{"nil schema", sink.CSV, ok, nil, sink.Options{}},
		{"outside staging", sink.CSV, filepath.Join(dir, "part-000000.csv"), testSchema, sink.Options{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := sink.WriteFile(context.Background(), c.f, c.path, c.schema, sink.Records(nil), c.opts)
			if !errors.Is(err, sink.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	noFiles(t, dir, "b")
	if got := tree(t, dir); len(got) != 0 {
		t.Fatalf("dir holds %v", got)
	}
}
