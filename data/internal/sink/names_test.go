package sink_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/rayo-dev/rayo/data/internal/sink"
)

func TestNames(t *testing.T) {
	cases := []struct{ got, want string }{
		{sink.FileName(sink.Parquet, 0), "part-000000.parquet"},
		{sink.FileName(sink.CSV, 42), "part-000042.csv"},
		{sink.FileName(sink.JSON, 1234567), "part-1234567.json"},
		{sink.PartitionFileName(sink.Parquet, []string{"year", "city"}, []string{"2024", "São Paulo/SP"}, 3, 12),
			"year=2024/city=São Paulo%2FSP/part-000003-0012.parquet"},
		{sink.PartitionFileName(sink.CSV, []string{"k"}, []string{""}, 0, 0), "k=__HIVE_DEFAULT_PARTITION__/part-000000-0000.csv"},
		{sink.PartitionDir([]string{"a=b"}, []string{"x"}), "a%3Db=x"},
		{sink.AppendName("part-000001.csv", "w7"), "part-w7-000001.csv"},
		{sink.AppendName("k=1/part-000001-0002.csv", "w7"), "k=1/part-w7-000001-0002.csv"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestHiveEscape(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain-value_1.5", "plain-value_1.5"},
		{"a/b", "a%2Fb"},
		{`"#%'*/:=?\{[]^`, "%22%23%25%27%2A%2F%3A%3D%3F%5C%7B%5B%5D%5E"},
		{"tab\there\x00\x1f\x7f", "tab%09here%00%1F%7F"},
		{"ü 日本 }|<>", "ü 日本 }|<>"}, // Hive leaves these
		{"..", ".."},
	}
	for _, c := range cases {
		if got := sink.HiveEscape(c.in); got != c.want {
			t.Errorf("HiveEscape(%q) = %q, want %q", c.in, got, c.want)
		}
		if back := sink.HiveUnescape(sink.HiveEscape(c.in)); back != c.in {
			t.Errorf("HiveUnescape(HiveEscape(%q)) = %q", c.in, back)
		}
	}
	if got := sink.HiveUnescape("100%"); got != "100%" {
		t.Errorf("HiveUnescape of a lone %% = %q", got)
	}
}

// partRec: k (string, nullable), n (int32), v (float64).
func partRec(t *testing.T, ks []string, valid []bool, ns []int32, vs []float64) arrow.RecordBatch {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "v", Type: arrow.PrimitiveTypes.Float64},
		{Name: "n", Type: arrow.PrimitiveTypes.Int32},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).AppendValues(ks, valid)
	b.Field(1).(*array.Float64Builder).AppendValues(vs, nil)
	b.Field(2).(*array.Int32Builder).AppendValues(ns, nil)
	return b.NewRecordBatch()
}

func TestSplitByPartition(t *testing.T) {
	rec := partRec(t,
		[]string{"x", "y", "x", "", "", "y/z", "x"},
		[]bool{true, true, true, false, true, true, true},
		[]int32{1, 1, 2, 1, 1, 1, 1},
		[]float64{0, 1, 2, 3, 4, 5, 6})
	defer rec.Release()
	parts, err := sink.SplitByPartition(rec, []string{"k", "n"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, p := range parts {
			p.Rec.Release()
		}
	}()
	type want struct {
		values []string
		v      []float64
	}
	wants := []want{
		{[]string{"x", "1"}, []float64{0, 6}},
		{[]string{"y", "1"}, []float64{1}},
		{[]string{"x", "2"}, []float64{2}},
		{[]string{"", "1"}, []float64{3, 4}}, // null and "" share Hive's default partition
		{[]string{"y/z", "1"}, []float64{5}},
	}
	if len(parts) != len(wants) {
		t.Fatalf("%d parts, want %d", len(parts), len(wants))
	}
	for i, w := range wants {
		p := parts[i]
		if !slices.Equal(p.Values, w.values) {
			t.Errorf("part %d values %q, want %q", i, p.Values, w.values)
		}
		if p.Rec.NumCols() != 1 || p.Rec.ColumnName(0) != "v" {
			t.Fatalf("part %d columns %v: partition columns must be dropped", i, p.Rec.Schema())
		}
		if got := p.Rec.Column(0).(*array.Float64).Float64Values(); !slices.Equal(got, w.v) {
			t.Errorf("part %d rows %v, want %v", i, got, w.v)
		}
	}
	// One partition: no copy, the columns are rec's.
	one, err := sink.SplitByPartition(rec, []string{"n"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range one {
		defer p.Rec.Release()
	}
	if len(one) != 2 {
		t.Fatalf("%d parts by n", len(one))
	}
}

func TestSplitByPartitionErrors(t *testing.T) {
	rec := partRec(t, []string{"a"}, nil, []int32{1}, []float64{1})
	defer rec.Release()
	listSchema := arrow.NewSchema([]arrow.Field{
		{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int8)},
		{Name: "x", Type: arrow.PrimitiveTypes.Int8},
	}, nil)
	lb := array.NewRecordBuilder(memory.DefaultAllocator, listSchema)
	lrec := lb.NewRecordBatch()
	lb.Release()
	defer lrec.Release()
	cases := []struct {
		name string
		rec  arrow.RecordBatch
		cols []string
		want error
		col  string
	}{
		{"missing", rec, []string{"k", "nope"}, sink.ErrNoColumn, "nope"},
		{"list column", lrec, []string{"l"}, sink.ErrUnsupported, "l"},
		{"twice", rec, []string{"k", "k"}, sink.ErrInvalid, "k"},
		{"none", rec, nil, sink.ErrInvalid, ""},
		{"all columns", rec, []string{"k", "n", "v"}, sink.ErrInvalid, ""},
		{"nil record", nil, []string{"k"}, sink.ErrInvalid, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parts, err := sink.SplitByPartition(c.rec, c.cols)
			var se *sink.Error
			if !errors.Is(err, c.want) || parts != nil || !errors.As(err, &se) || se.Column != c.col {
				t.Fatalf("err = %v, want %v naming column %q", err, c.want, c.col)
			}
		})
	}
}

// TestPartitionedWrite writes a partitioned dataset as the driver would
// (split each block, one file per task and partition), commits it and
// checks the hive layout and the rows in each file.
func TestPartitionedWrite(t *testing.T) {
	blocks := []arrow.RecordBatch{
		partRec(t, []string{"a", "b/c", "a"}, []bool{true, true, false}, []int32{1, 1, 1}, []float64{0, 1, 2}),
		partRec(t, []string{"b/c", "a"}, nil, []int32{1, 2}, []float64{3, 4}),
	}
	defer func() {
		for _, b := range blocks {
			b.Release()
		}
	}()
	cols := []string{"k", "n"}
	run := func(t *testing.T) ([]string, map[string][]float64) {
		dir := begin(t, "p")
		var files []string
		for task, b := range blocks {
			parts, err := sink.SplitByPartition(b, cols)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range parts {
				rel := sink.PartitionFileName(sink.Parquet, cols, p.Values, task, 0)
				if _, _, err := sink.WriteFile(context.Background(), sink.Parquet, sink.StagingPath(dir, "p", rel),
					p.Rec.Schema(), sink.Records([]arrow.RecordBatch{p.Rec}), sink.Options{}); err != nil {
					t.Fatal(err)
				}
				p.Rec.Release()
				files = append(files, rel)
			}
		}
		if _, err := sink.Commit(dir, "p", files, sink.ModeError); err != nil {
			t.Fatal(err)
		}
		got := tree(t, dir)
		rows := map[string][]float64{}
		schema := arrow.NewSchema([]arrow.Field{{Name: "v", Type: arrow.PrimitiveTypes.Float64}}, nil)
		for _, f := range got {
			r := readBack(t, sink.Parquet, dir+"/"+f, schema, sink.Options{})
			rows[f] = slices.Clone(r.Column(0).(*array.Float64).Float64Values())
			r.Release()
		}
		return got, rows
	}
	got, rows := run(t)
	want := map[string][]float64{
		"k=a/n=1/part-000000-0000.parquet":                          {0},
		"k=b%2Fc/n=1/part-000000-0000.parquet":                      {1},
		"k=__HIVE_DEFAULT_PARTITION__/n=1/part-000000-0000.parquet": {2},
		"k=b%2Fc/n=1/part-000001-0000.parquet":                      {3},
		"k=a/n=2/part-000001-0000.parquet":                          {4},
	}
	if len(rows) != len(want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	for f, v := range want {
		if !slices.Equal(rows[f], v) {
			t.Errorf("%s holds %v, want %v", f, rows[f], v)
		}
	}
	// The same write again gives the same names.
	again, _ := run(t)
	if strings.Join(again, ",") != strings.Join(got, ",") {
		t.Fatalf("names differ across runs:\n%v\n%v", got, again)
	}
}

func TestSliceRows(t *testing.T) {
	blocks := []arrow.RecordBatch{makeRec(t, 0, 3), makeRec(t, 3, 0), makeRec(t, 3, 5), makeRec(t, 8, 2)}
	defer func() {
		for _, b := range blocks {
			b.Release()
		}
	}()
	for off := int64(0); off <= 10; off++ {
		for n := int64(0); off+n <= 10; n++ {
			s, err := sink.SliceRows(blocks, off, n)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, r := range s {
				if r.NumRows() == 0 {
					t.Fatalf("[%d,+%d): an empty slice", off, n)
				}
				ids = append(ids, r.Column(0).(*array.Int64).Int64Values()...)
				r.Release()
			}
			want := []int64{}
			for i := off; i < off+n; i++ {
				want = append(want, i)
			}
			if fmt.Sprint(ids) != fmt.Sprint(want) {
				t.Fatalf("[%d,+%d) = %v, want %v", off, n, ids, want)
			}
		}
	}
	// Zero-copy: a slice's buffers are the block's.
	s, _ := sink.SliceRows(blocks, 4, 2)
	if s[0].Column(0).Data().Buffers()[1] != blocks[2].Column(0).Data().Buffers()[1] {
		t.Fatal("SliceRows copied the data")
	}
	s[0].Release()
	for _, c := range [][2]int64{{-1, 1}, {0, -1}, {11, 0}, {5, 6}, {0, 11}} {
		if _, err := sink.SliceRows(blocks, c[0], c[1]); !errors.Is(err, sink.ErrInvalid) {
			t.Fatalf("SliceRows(%d, %d): %v, want ErrInvalid", c[0], c[1], err)
		}
	}
	if _, err := sink.SliceRows([]arrow.RecordBatch{nil}, 0, 0); !errors.Is(err, sink.ErrInvalid) {
		t.Fatalf("nil block: %v", err)
	}
}
