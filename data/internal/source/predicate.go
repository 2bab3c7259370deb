package source

import (
	"fmt"
	"math"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// compare orders a and b (each an int64, float64, string or bool, as
// normValue gives) with IEEE semantics for floats: ok is false when they
// are not comparable (different kinds, or a NaN). An int64 meets a float64
// as float64 on both sides, in row filtering and in pushdown alike, so
// that pushdown never prunes a row the filter would keep.
func compare(a, b any) (c int, ok bool) {
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int64:
			return cmp3(x, y), true
		case float64:
			return cmpFloat(float64(x), y)
		}
	case float64:
		switch y := b.(type) {
		case int64:
			return cmpFloat(x, float64(y))
		case float64:
			return cmpFloat(x, y)
		}
	case string:
		if y, isStr := b.(string); isStr {
			return cmp3(x, y), true
		}
	case bool:
		if y, isBool := b.(bool); isBool {
			return cmp3(b2i(x), b2i(y)), true
		}
	}
	return 0, false
}

func cmp3[T int64 | string](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpFloat(a, b float64) (int, bool) {
	switch {
	case a < b:
		return -1, true
	case a > b:
		return 1, true
	case a == b:
		return 0, true
	}
	return 0, false // a NaN
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// holds says whether x Op v holds, x and v as for compare. Incomparable
// values (a NaN) satisfy only "!=", as in IEEE arithmetic.
func holds(op string, x, v any) bool {
	c, ok := compare(x, v)
	if !ok {
		return op == "!="
	}
	switch op {
	case "==":
		return c == 0
	case "!=":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	return false
}

// rgStats are what a Parquet row group's column chunk statistics say of
// it: the least and greatest non-null value (int64, float64, string or
// bool; nil when the chunk has none), the null count (-1 unknown) and the
// number of rows.
type rgStats struct {
	Min, Max any
	Nulls    int64
	Rows     int64
}

// mayMatch says whether a row group with statistics st can hold a row that
// passes p (p.Value normalised). It answers true whenever it cannot prove
// otherwise: pushdown only skips row groups that the row-exact filter
// would empty.
func mayMatch(p Predicate, st rgStats) bool {
	if st.Nulls >= 0 && st.Nulls == st.Rows {
		return false // all null: no null passes a predicate
	}
	if st.Min == nil || st.Max == nil {
		return true
	}
	lo, ok1 := compare(st.Min, p.Value)
	hi, ok2 := compare(st.Max, p.Value)
	if !ok1 || !ok2 {
		return true
	}
	switch p.Op {
	case "==":
		return lo <= 0 && hi >= 0
	case "!=":
		// Parquet's float statistics leave NaNs out, and a NaN passes
		// "!=": only a non-float chunk of one value can be pruned.
		_, f1 := st.Min.(float64)
		_, f2 := st.Max.(float64)
		if f1 || f2 {
			return true
		}
		return !(lo == 0 && hi == 0)
	case "<":
		return lo < 0
	case "<=":
		return lo <= 0
	case ">":
		return hi > 0
	case ">=":
		return hi >= 0
	}
	return true
}

// comparable reports whether a column of type dt can be compared with v,
// and if not, says why.
func checkComparable(dt arrow.DataType, v any) error {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT32, arrow.FLOAT64:
		switch v.(type) {
		case int64, float64:
			return nil
		}
	case arrow.STRING, arrow.LARGE_STRING:
		if _, ok := v.(string); ok {
			return nil
		}
	case arrow.BOOL:
		if _, ok := v.(bool); ok {
			return nil
		}
	default:
		return fmt.Errorf("cannot filter a %s column", dt)
	}
	return fmt.Errorf("cannot compare a %s column with %T %v", dt, v, v)
}

// andMask narrows keep (one entry per row of arr) to the rows where
// arr Op v holds; a null never does.
func andMask(arr arrow.Array, p Predicate, keep []bool) {
	v := p.Value
	switch a := arr.(type) {
	case *array.Int8:
		maskNum(a, a.Int8Values(), p.Op, v, keep)
	case *array.Int16:
		maskNum(a, a.Int16Values(), p.Op, v, keep)
	case *array.Int32:
		maskNum(a, a.Int32Values(), p.Op, v, keep)
	case *array.Int64:
		maskNum(a, a.Int64Values(), p.Op, v, keep)
	case *array.Uint8:
		maskNum(a, a.Uint8Values(), p.Op, v, keep)
	case *array.Uint16:
		maskNum(a, a.Uint16Values(), p.Op, v, keep)
	case *array.Uint32:
		maskNum(a, a.Uint32Values(), p.Op, v, keep)
	case *array.Uint64:
		vals := a.Uint64Values()
		for i, x := range vals {
			if keep[i] {
				var xv any = float64(x)
				if x <= math.MaxInt64 {
					xv = int64(x)
				}
				keep[i] = a.IsValid(i) && holds(p.Op, xv, v)
			}
		}
	case *array.Float32:
		maskNum(a, a.Float32Values(), p.Op, v, keep)
	case *array.Float64:
		maskNum(a, a.Float64Values(), p.Op, v, keep)
	case *array.String:
		for i := range keep {
			if keep[i] {
				keep[i] = a.IsValid(i) && holds(p.Op, a.Value(i), v)
			}
		}
	case *array.LargeString:
		for i := range keep {
			if keep[i] {
				keep[i] = a.IsValid(i) && holds(p.Op, a.Value(i), v)
			}
		}
	case *array.Boolean:
		for i := range keep {
			if keep[i] {
				keep[i] = a.IsValid(i) && holds(p.Op, a.Value(i), v)
			}
		}
	default:
		// checkComparable refused these before any read.
		clear(keep)
	}
}

type number interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~float32 | ~float64
}

// maskNum is andMask for one numeric column: an int64 value against an
// integer column compares as int64, anything else as float64 (compare's
// rule), with the operator's loop chosen once.
func maskNum[T number](a arrow.Array, vals []T, op string, v any, keep []bool) {
	var zero T
	switch x := v.(type) {
	case int64:
		if isFloat(zero) {
			cmpLoop(vals, op, float64(x), keep)
		} else {
			cmpLoop(vals, op, x, keep)
		}
	case float64:
		cmpLoop(vals, op, x, keep)
	default:
		clear(keep)
		return
	}
	if a.NullN() > 0 {
		for i := range keep {
			if keep[i] && a.IsNull(i) {
				keep[i] = false
			}
		}
	}
}

func cmpLoop[T number, V int64 | float64](vals []T, op string, x V, keep []bool) {
	switch op {
	case "==":
		for i, e := range vals {
			keep[i] = keep[i] && V(e) == x
		}
	case "!=":
		for i, e := range vals {
			keep[i] = keep[i] && V(e) != x
		}
	case "<":
		for i, e := range vals {
			keep[i] = keep[i] && V(e) < x
		}
	case "<=":
		for i, e := range vals {
			keep[i] = keep[i] && V(e) <= x
		}
	case ">":
		for i, e := range vals {
			keep[i] = keep[i] && V(e) > x
		}
	case ">=":
		for i, e := range vals {
			keep[i] = keep[i] && V(e) >= x
		}
	default:
		clear(keep)
	}
}

func isFloat(v any) bool {
	switch v.(type) {
	case float32, float64:
		return true
	}
	return false
}

// partValue is a partition directory's value as its column types it.
func partValue(kv KV) any {
	if kv.Int {
		if n, err := strconv.ParseInt(kv.Value, 10, 64); err == nil {
			return n
		}
	}
	return kv.Value
}
