package compute_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/rayo-dev/rayo/data/internal/compute"
)

var sortCases = [][]compute.SortKey{
	{{Column: "ki"}},
	{{Column: "ki", Descending: true}},
	{{Column: "vf"}},
	{{Column: "vf", Descending: true}},
	{{Column: "ks"}},
	{{Column: "ks", Descending: true}},
	{{Column: "k32"}},
	{{Column: "kb", Descending: true}},
	{{Column: "kb"}, {Column: "ks", Descending: true}},
	{{Column: "k32", Descending: true}, {Column: "ki"}, {Column: "vf"}},
}

func TestSortMatchesReference(t *testing.T) {
	a, b := randRecord(t, 700, 3, 30), randRecord(t, 300, 4, 30)
	whole, _ := compute.Concat([]arrow.Record{a, b})
	for _, keys := range sortCases {
		got, err := compute.Sort([]arrow.Record{a, b}, keys)
		if err != nil {
			t.Fatal(err)
		}
		want := rowsOf(whole)
		var cols []int
		var desc []bool
		for _, k := range keys {
			cols = append(cols, colIndex(whole, k.Column))
			desc = append(desc, k.Descending)
		}
		// id is unique per record, so ties show stability too
		refSort(want, cols, desc)
		sameRows(t, fmt.Sprint(keys), rowsOf(got), want)
	}
}

func TestSortFloatsAndUnsigned(t *testing.T) {
	mem := memory.DefaultAllocator
	fb := array.NewFloat64Builder(mem)
	fb.AppendValues([]float64{3, -1, 0, -0.5, 2}, nil)
	fb.AppendNull()
	fb.AppendValues([]float64{-7, 1e300, -1e300}, nil)
	ub := array.NewUint64Builder(mem)
	ub.AppendValues([]uint64{5, 1 << 63, 0, 7, 1<<64 - 1, 3, 2, 9, 1}, nil)
	f, u := fb.NewArray(), ub.NewArray()
	rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "f", Type: f.DataType(), Nullable: true}, {Name: "u", Type: u.DataType()}}, nil), []arrow.Array{f, u}, 9)
	got, err := compute.Sort([]arrow.Record{rec}, []compute.SortKey{{Column: "f"}})
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprint(got.Column(0)); s != "[-1e+300 -7 -1 -0.5 0 2 3 1e+300 (null)]" {
		t.Errorf("floats: %s", s)
	}
	got, _ = compute.Sort([]arrow.Record{rec}, []compute.SortKey{{Column: "u", Descending: true}})
	if s := fmt.Sprint(got.Column(1)); s != "[18446744073709551615 9223372036854775808 9 7 5 3 2 1 0]" {
		t.Errorf("uint64 descending: %s", s)
	}
	if s := fmt.Sprint(rec.Column(1)); s != "[5 9223372036854775808 0 7 18446744073709551615 3 2 1 9 1]" && s != "[5 9223372036854775808 0 7 18446744073709551615 3 2 9 1]" {
		t.Errorf("the input changed: %s", s)
	}
}

func TestSortLarge(t *testing.T) {
	// Enough rows for every radix digit to be used, against slices.Sort.
	n := 50000
	b := array.NewInt64Builder(memory.DefaultAllocator)
	vals := make([]int64, n)
	x := uint64(12345)
	for i := range vals {
		x = x*6364136223846793005 + 1442695040888963407
		vals[i] = int64(x)
	}
	b.AppendValues(vals, nil)
	col := b.NewArray()
	rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "x", Type: col.DataType()}}, nil), []arrow.Array{col}, int64(n))
	got, err := compute.Sort([]arrow.Record{rec}, []compute.SortKey{{Column: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(vals)
	if !slices.Equal(got.Column(0).(*array.Int64).Int64Values(), vals) {
		t.Fatal("not sorted")
	}
}

func TestRangePartitionSortsWhole(t *testing.T) {
	blocks := []arrow.Record{randRecord(t, 400, 5, 50), randRecord(t, 250, 6, 50), randRecord(t, 0, 7, 50)}
	for _, keys := range sortCases {
		var samples []arrow.Record
		for i, b := range blocks {
			s, err := compute.Sample(b, keys, 20, uint64(i))
			if err != nil {
				t.Fatal(err)
			}
			samples = append(samples, s)
		}
		for _, n := range []int{1, 3, 7} {
			bounds, err := compute.SampleBoundaries(samples, keys, n)
			if err != nil {
				t.Fatal(err)
			}
			if bounds.NumRows() != int64(n-1) {
				t.Fatalf("%d boundaries for %d parts", bounds.NumRows(), n)
			}
			parts := make([][]arrow.Record, n)
			total := 0
			for _, b := range blocks {
				ps, err := compute.RangePartition(b, keys, bounds)
				if err != nil {
					t.Fatal(err)
				}
				if len(ps) != n {
					t.Fatalf("%d parts, want %d", len(ps), n)
				}
				for j, p := range ps {
					parts[j] = append(parts[j], p)
					total += int(p.NumRows())
				}
			}
			if total != 650 {
				t.Fatalf("%d rows in the parts", total)
			}
			var sorted []arrow.Record
			for _, p := range parts {
				s, err := compute.Sort(p, keys)
				if err != nil {
					t.Fatal(err)
				}
				sorted = append(sorted, s)
			}
			got, _ := compute.Concat(sorted)
			want, _ := compute.Sort(blocks, keys)
			sameRows(t, fmt.Sprint(keys, n), rowsOf(got), rowsOf(want))
		}
	}
}

func TestSampleSeeded(t *testing.T) {
	rec := randRecord(t, 1000, 8, 1000)
	keys := []compute.SortKey{{Column: "id"}}
	a, _ := compute.Sample(rec, keys, 50, 1)
	b, _ := compute.Sample(rec, keys, 50, 1)
	c, _ := compute.Sample(rec, keys, 50, 2)
	if a.NumRows() != 50 || a.NumCols() != 1 || fmt.Sprint(a.Column(0)) != fmt.Sprint(b.Column(0)) || fmt.Sprint(a.Column(0)) == fmt.Sprint(c.Column(0)) {
		t.Fatalf("samples: %v %v %v", a.Column(0), b.Column(0), c.Column(0))
	}
	all, _ := compute.Sample(rec, keys, 5000, 1)
	if all.NumRows() != 1000 {
		t.Fatalf("k over rows: %d", all.NumRows())
	}
}

func TestSortErrors(t *testing.T) {
	rec := randRecord(t, 10, 1, 3)
	lb := array.NewListBuilder(memory.DefaultAllocator, arrow.PrimitiveTypes.Int64)
	lb.Append(true)
	l := lb.NewArray()
	lrec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "l", Type: l.DataType()}}, nil), []arrow.Array{l}, 1)
	other := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.BinaryTypes.String}}, nil), []arrow.Array{func() arrow.Array {
		b := array.NewStringBuilder(memory.DefaultAllocator)
		b.Append("x")
		return b.NewArray()
	}()}, 1)
	for _, tc := range []struct {
		err  error
		want error
		msg  string
	}{
		{errOf(compute.Sort([]arrow.Record{rec}, []compute.SortKey{{Column: "zz"}})), compute.ErrNoColumn, `sort key column "zz" (columns: id, ki`},
		{errOf(compute.Sort([]arrow.Record{lrec}, []compute.SortKey{{Column: "l"}})), compute.ErrUnsupported, `cannot sort on a list<item: int64, nullable>`},
		{errOf(compute.Sort([]arrow.Record{rec}, nil)), compute.ErrBadArgument, "no keys"},
		{errOf(compute.Sort(nil, []compute.SortKey{{Column: "id"}})), compute.ErrBadArgument, "no records"},
		{errOf(compute.Sort([]arrow.Record{rec, other}, []compute.SortKey{{Column: "id"}})), compute.ErrSchemaMismatch, `column "ki": 8 columns against 1`},
		{errOf(compute.SampleBoundaries([]arrow.Record{rec}, []compute.SortKey{{Column: "id"}}, 0)), compute.ErrBadArgument, "0 parts"},
		{errOf(compute.RangePartition(rec, []compute.SortKey{{Column: "id"}}, other)), compute.ErrSchemaMismatch, "int64 against utf8"},
		{errOf(compute.Sample(rec, []compute.SortKey{{Column: "id"}}, -1, 0)), compute.ErrBadArgument, "-1"},
	} {
		if !errors.Is(tc.err, tc.want) || !strings.Contains(tc.err.Error(), tc.msg) {
			t.Errorf("%v: want %v with %q", tc.err, tc.want, tc.msg)
		}
	}
}

func errOf[T any](_ T, err error) error { return err }
