package source

import (
	"math"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestMayMatchAgainstStats: the pushdown decision table. mayMatch false
// means the row group is skipped, so every false must be provable.
func TestMayMatchAgainstStats(t *testing.T) {
	i := func(lo, hi int64) rgStats { return rgStats{Min: lo, Max: hi, Nulls: 0, Rows: 10} }
	cases := []struct {
		name string
		p    Predicate
		st   rgStats
		want bool
	}{
		{"== inside", Predicate{"c", "==", int64(5)}, i(1, 9), true},
		{"== at min", Predicate{"c", "==", int64(1)}, i(1, 9), true},
		{"== at max", Predicate{"c", "==", int64(9)}, i(1, 9), true},
		{"== below", Predicate{"c", "==", int64(0)}, i(1, 9), false},
		{"== above", Predicate{"c", "==", int64(10)}, i(1, 9), false},
		{"!= min=max=value", Predicate{"c", "!=", int64(4)}, i(4, 4), false},
		{"!= min=max other", Predicate{"c", "!=", int64(5)}, i(4, 4), true},
		{"!= range", Predicate{"c", "!=", int64(4)}, i(4, 5), true},
		{"!= float min=max (a NaN may hide)", Predicate{"c", "!=", 4.0}, rgStats{Min: 4.0, Max: 4.0, Rows: 10}, true},
		{"< min", Predicate{"c", "<", int64(1)}, i(1, 9), false},
		{"< above min", Predicate{"c", "<", int64(2)}, i(1, 9), true},
		{"<= min", Predicate{"c", "<=", int64(1)}, i(1, 9), true},
		{"<= below min", Predicate{"c", "<=", int64(0)}, i(1, 9), false},
		{"> max", Predicate{"c", ">", int64(9)}, i(1, 9), false},
		{"> below max", Predicate{"c", ">", int64(8)}, i(1, 9), true},
		{">= max", Predicate{"c", ">=", int64(9)}, i(1, 9), true},
		{">= above max", Predicate{"c", ">=", int64(10)}, i(1, 9), false},
		{"int stats, float value", Predicate{"c", ">", 8.5}, i(1, 9), true},
		{"int stats, float value above", Predicate{"c", ">", 9.5}, i(1, 9), false},
		{"float stats, int value", Predicate{"c", "<", int64(1)}, rgStats{Min: 1.5, Max: 2.0, Rows: 3}, false},
		{"all null", Predicate{"c", "!=", int64(0)}, rgStats{Nulls: 10, Rows: 10}, false},
		{"all null with min/max", Predicate{"c", "==", int64(1)}, rgStats{Min: int64(1), Max: int64(1), Nulls: 10, Rows: 10}, false},
		{"some null, outside", Predicate{"c", "==", int64(0)}, rgStats{Min: int64(1), Max: int64(2), Nulls: 5, Rows: 10}, false},
		{"null count unknown, no min/max", Predicate{"c", "==", int64(0)}, rgStats{Nulls: -1, Rows: 10}, true},
		{"no min/max", Predicate{"c", "==", int64(0)}, rgStats{Nulls: 0, Rows: 10}, true},
		{"NaN value", Predicate{"c", "==", math.NaN()}, rgStats{Min: 1.0, Max: 2.0, Rows: 2}, true},
		{"string inside", Predicate{"c", "==", "m"}, rgStats{Min: "a", Max: "z", Rows: 2}, true},
		{"string below", Predicate{"c", "<", "a"}, rgStats{Min: "a", Max: "z", Rows: 2}, false},
		{"string prefix", Predicate{"c", ">", "z"}, rgStats{Min: "a", Max: "zz", Rows: 2}, true},
		{"bool all false", Predicate{"c", "==", true}, rgStats{Min: false, Max: false, Rows: 2}, false},
		{"bool mixed", Predicate{"c", "==", true}, rgStats{Min: false, Max: true, Rows: 2}, true},
		{"kinds differ", Predicate{"c", "==", "x"}, i(1, 9), true},
	}
	for _, c := range cases {
		if got := mayMatch(c.p, c.st); got != c.want {
			t.Errorf("%s: mayMatch(%v, %+v) = %v, want %v", c.name, c.p, c.st, got, c.want)
		}
	}
}

// TestAndMask: row filtering on each column type, nulls never passing.
func TestAndMask(t *testing.T) {
	mem := memory.DefaultAllocator
	ib := array.NewInt32Builder(mem)
	ib.AppendValues([]int32{1, 2, 3, 0}, []bool{true, true, true, false})
	ints := ib.NewArray()
	ib.Release()
	defer ints.Release()
	fb := array.NewFloat64Builder(mem)
	fb.AppendValues([]float64{1.5, math.NaN(), 3}, nil)
	floats := fb.NewArray()
	fb.Release()
	defer floats.Release()
	ub := array.NewUint64Builder(mem)
	ub.AppendValues([]uint64{1, math.MaxUint64}, nil)
	uints := ub.NewArray()
	ub.Release()
	defer uints.Release()
	sb := array.NewStringBuilder(mem)
	sb.AppendValues([]string{"a", "b", ""}, []bool{true, true, false})
	strs := sb.NewArray()
	sb.Release()
	defer strs.Release()

	cases := []struct {
		name string
		arr  interface{ Len() int }
		p    Predicate
		want []bool
	}{
		{"int ==", ints, Predicate{"c", "==", int64(2)}, []bool{false, true, false, false}},
		{"int != skips null", ints, Predicate{"c", "!=", int64(2)}, []bool{true, false, true, false}},
		{"int > float", ints, Predicate{"c", ">", 1.5}, []bool{false, true, true, false}},
		{"float <", floats, Predicate{"c", "<", int64(3)}, []bool{true, false, false}},
		{"float != NaN row", floats, Predicate{"c", "!=", 1.5}, []bool{false, true, true}},
		{"uint64 beyond int64", uints, Predicate{"c", ">", int64(math.MaxInt64)}, []bool{false, true}},
		{"string >=", strs, Predicate{"c", ">=", "a"}, []bool{true, true, false}},
	}
	for _, c := range cases {
		keep := make([]bool, c.arr.Len())
		for i := range keep {
			keep[i] = true
		}
		switch a := c.arr.(type) {
		case *array.Int32:
			andMask(a, c.p, keep)
		case *array.Float64:
			andMask(a, c.p, keep)
		case *array.Uint64:
			andMask(a, c.p, keep)
		case *array.String:
			andMask(a, c.p, keep)
		}
		for i := range keep {
			if keep[i] != c.want[i] {
				t.Errorf("%s: %v, want %v", c.name, keep, c.want)
				break
			}
		}
	}
}
