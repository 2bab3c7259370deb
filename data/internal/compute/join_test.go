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

// table builds a record from columns given as Go slices ([]any with nil
// for null): int64, string or float64 by the first non-nil value.
func table(t testing.TB, names []string, cols ...[]any) arrow.Record {
	t.Helper()
	mem := memory.DefaultAllocator
	var fields []arrow.Field
	var arrs []arrow.Array
	for c, vals := range cols {
		var b array.Builder = array.NewStringBuilder(mem) // all null: a string column
		for _, v := range vals {
			if v != nil {
				switch v.(type) {
				case int:
					b = array.NewInt64Builder(mem)
				case string:
					b = array.NewStringBuilder(mem)
				case float64:
					b = array.NewFloat64Builder(mem)
				}
				break // the first non-nil value gives the type
			}
		}
		for _, v := range vals {
			switch x := v.(type) {
			case nil:
				b.AppendNull()
			case int:
				b.(*array.Int64Builder).Append(int64(x))
			case string:
				b.(*array.StringBuilder).Append(x)
			case float64:
				b.(*array.Float64Builder).Append(x)
			}
		}
		a := b.NewArray()
		arrs = append(arrs, a)
		fields = append(fields, arrow.Field{Name: names[c], Type: a.DataType(), Nullable: true})
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), arrs, int64(arrs[0].Len()))
}

// refJoin: nested loops, left order, then right-only rows.
func refJoin(l, r [][]any, lk, rk []int, keepLeft, keepRight bool, lw, rw int) [][]any {
	var out [][]any
	matched := make([]bool, len(r))
	row := func(a, b []any) []any {
		var o []any
		src := a
		if a == nil {
			src = make([]any, lw)
			for i, k := range lk {
				src[k] = b[rk[i]]
			}
		}
		for _, k := range lk {
			o = append(o, src[k])
		}
		for c := range lw {
			if !slices.Contains(lk, c) {
				if a == nil {
					o = append(o, nil)
				} else {
					o = append(o, a[c])
				}
			}
		}
		for c := range rw {
			if !slices.Contains(rk, c) {
				if b == nil {
					o = append(o, nil)
				} else {
					o = append(o, b[c])
				}
			}
		}
		return o
	}
	eq := func(a, b []any) bool {
		for i := range lk {
			if a[lk[i]] == nil || b[rk[i]] == nil || fmt.Sprint(a[lk[i]]) != fmt.Sprint(b[rk[i]]) {
				return false
			}
		}
		return true
	}
	for _, a := range l {
		any := false
		for j, b := range r {
			if eq(a, b) {
				out = append(out, row(a, b))
				matched[j], any = true, true
			}
		}
		if !any && keepLeft {
			out = append(out, row(a, nil))
		}
	}
	if keepRight {
		for j, b := range r {
			if !matched[j] {
				out = append(out, row(nil, b))
			}
		}
	}
	return out
}

func TestHashJoinMatchesReference(t *testing.T) {
	left := table(t, []string{"k", "k2", "a", "v"},
		[]any{1, 2, 2, 3, nil, 5, 1, 7},
		[]any{"x", "y", "y", "x", "x", "z", "x", "q"},
		[]any{10, 20, 21, 30, 40, 50, 11, 70},
		[]any{1.5, nil, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5})
	right := table(t, []string{"rk", "k2", "b", "v"},
		[]any{2, 1, 1, 4, nil, 2, 9},
		[]any{"y", "x", "x", "x", "x", "q", "z"},
		[]any{"p", "q", "r", "s", "t", "u", "w"},
		[]any{0.1, 0.2, nil, 0.4, 0.5, 0.6, 0.7})
	// a longer right side, so that the build side switches
	bigRight, _ := compute.Concat([]arrow.Record{right, right, right})
	for _, how := range []string{"inner", "left", "right", "outer", "full_outer"} {
		kl, kr := how == "left" || how == "outer" || how == "full_outer", how == "right" || how == "outer" || how == "full_outer"
		for _, keys := range [][2][]string{{{"k"}, {"rk"}}, {{"k", "k2"}, {"rk", "k2"}}, {{"k2"}, {"k2"}}} {
			for _, sides := range [][2]arrow.Record{{left, right}, {left, bigRight}, {right, left}} {
				l, r := sides[0], sides[1]
				lkeys, rkeys := keys[0], keys[1]
				if l == right {
					lkeys, rkeys = rkeys, lkeys
				}
				got, err := compute.HashJoin([]arrow.Record{l.NewSlice(0, 3), l.NewSlice(3, l.NumRows())}, []arrow.Record{r}, lkeys, rkeys, how, "_1")
				if err != nil {
					t.Fatalf("%s %v: %v", how, keys, err)
				}
				var lk, rk []int
				for i := range lkeys {
					lk = append(lk, colIndex(l, lkeys[i]))
					rk = append(rk, colIndex(r, rkeys[i]))
				}
				want := refJoin(rowsOf(l), rowsOf(r), lk, rk, kl, kr, int(l.NumCols()), int(r.NumCols()))
				sameRows(t, fmt.Sprint(how, keys, l.NumRows(), r.NumRows()), rowsOf(got), want)
			}
		}
	}
	got, _ := compute.HashJoin([]arrow.Record{left}, []arrow.Record{right}, []string{"k"}, []string{"rk"}, "inner", "_1")
	var names []string
	for _, f := range got.Schema().Fields() {
		names = append(names, f.Name)
	}
	if s := strings.Join(names, ","); s != "k,k2,a,v,k2_1,b,v_1" {
		t.Errorf("columns %s", s)
	}
}

func TestHashJoinErrors(t *testing.T) {
	l := table(t, []string{"k", "v"}, []any{1, 2}, []any{1.0, 2.0})
	r := table(t, []string{"k", "v"}, []any{"1", "2"}, []any{1.0, 2.0})
	r2 := table(t, []string{"k", "v"}, []any{1, 2}, []any{1.0, 2.0})
	for _, tc := range []struct {
		err  error
		want error
		msg  string
	}{
		{errOf(compute.HashJoin([]arrow.Record{l}, []arrow.Record{r}, []string{"k"}, []string{"k"}, "inner", "_r")), compute.ErrSchemaMismatch, "int64 on the left, utf8 on the right"},
		{errOf(compute.HashJoin([]arrow.Record{l}, []arrow.Record{r2}, []string{"k"}, []string{"k"}, "cross", "_r")), compute.ErrBadArgument, `join kind "cross"`},
		{errOf(compute.HashJoin([]arrow.Record{l}, []arrow.Record{r2}, []string{"k"}, []string{"k"}, "inner", "")), compute.ErrBadArgument, `column "v" is on both sides`},
		{errOf(compute.HashJoin([]arrow.Record{l}, []arrow.Record{r2}, []string{"k"}, []string{"x"}, "inner", "_r")), compute.ErrNoColumn, `key column "x" (columns: k, v)`},
		{errOf(compute.HashJoin([]arrow.Record{l}, []arrow.Record{r2}, []string{"k"}, nil, "inner", "_r")), compute.ErrBadArgument, "1 left and 0 right keys"},
		{errOf(compute.HashJoin(nil, []arrow.Record{r2}, []string{"k"}, []string{"k"}, "inner", "_r")), compute.ErrBadArgument, "left side"},
	} {
		if !errors.Is(tc.err, tc.want) || !strings.Contains(tc.err.Error(), tc.msg) {
			t.Errorf("%v: want %v with %q", tc.err, tc.want, tc.msg)
		}
	}
}

func TestUnique(t *testing.T) {
	a := table(t, []string{"k", "s"}, []any{3, 1, nil, 3}, []any{"b", "a", "b", nil})
	b := table(t, []string{"k", "s"}, []any{2, 1, nil, 4}, []any{"c", nil, "a", "a"})
	got, err := compute.Unique([]arrow.Record{a, b}, "k")
	if err != nil || fmt.Sprint(got) != "[3 1 (null) 2 4]" {
		t.Fatalf("%v %v", got, err)
	}
	got, err = compute.Unique([]arrow.Record{a, b}, "s")
	if err != nil || fmt.Sprint(got) != `["b" "a" (null) "c"]` {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := compute.Unique([]arrow.Record{a}, "zz"); !errors.Is(err, compute.ErrNoColumn) {
		t.Fatal(err)
	}
	c := table(t, []string{"k"}, []any{"x"})
	if _, err := compute.Unique([]arrow.Record{a, c}, "k"); !errors.Is(err, compute.ErrSchemaMismatch) {
		t.Fatal(err)
	}
}

func TestConcat(t *testing.T) {
	a := table(t, []string{"k", "s"}, []any{3, 1}, []any{"b", "a"})
	b := table(t, []string{"k", "s"}, []any{2}, []any{nil})
	got, err := compute.Concat([]arrow.Record{a, b})
	if err != nil || got.NumRows() != 3 || fmt.Sprint(got.Column(1)) != `["b" "a" (null)]` {
		t.Fatalf("%v %v", got, err)
	}
	for _, tc := range []struct {
		r   arrow.Record
		msg string
	}{
		{table(t, []string{"k", "s"}, []any{2}, []any{1.0}), `column "s": utf8 against float64`},
		{table(t, []string{"k", "t"}, []any{2}, []any{"x"}), `column "s": column 1 is "t" in another record`},
		{table(t, []string{"k"}, []any{2}), `column "s": 2 columns against 1`},
	} {
		if _, err := compute.Concat([]arrow.Record{a, tc.r}); !errors.Is(err, compute.ErrSchemaMismatch) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%v, want %q", err, tc.msg)
		}
	}
	if _, err := compute.Concat(nil); !errors.Is(err, compute.ErrBadArgument) {
		t.Error(err)
	}
}
