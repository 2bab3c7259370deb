package compute_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// randRecord makes n rows: id (row number), ki (int64 key, nulls), ks
// (string key, nulls), k32 (int32), kb (bool), vf (float64, nulls), vi
// (int64, nulls), vs (string). Keys take few distinct values so that
// groups repeat.
func randRecord(t testing.TB, n int, seed uint64, groups int) arrow.Record {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	mem := memory.DefaultAllocator
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "ki", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "ks", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "k32", Type: arrow.PrimitiveTypes.Int32},
		{Name: "kb", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "vf", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "vi", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "vs", Type: arrow.BinaryTypes.String},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for i := range n {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if r.IntN(10) == 0 {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.Int64Builder).Append(int64(r.IntN(groups)) - int64(groups/2))
		}
		if r.IntN(10) == 0 {
			b.Field(2).AppendNull()
		} else {
			b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("s%d", r.IntN(groups)))
		}
		b.Field(3).(*array.Int32Builder).Append(int32(r.IntN(3)))
		b.Field(4).(*array.BooleanBuilder).Append(r.IntN(2) == 0)
		if r.IntN(8) == 0 {
			b.Field(5).AppendNull()
		} else {
			b.Field(5).(*array.Float64Builder).Append(math.Round(r.NormFloat64()*1000) / 8)
		}
		if r.IntN(8) == 0 {
			b.Field(6).AppendNull()
		} else {
			b.Field(6).(*array.Int64Builder).Append(int64(r.IntN(1000)) - 500)
		}
		b.Field(7).(*array.StringBuilder).Append(fmt.Sprintf("v%d", r.IntN(5)))
	}
	return b.NewRecordBatch()
}

// rowsOf returns rec's cells as Go values (nil for null).
func rowsOf(rec arrow.Record) [][]any {
	out := make([][]any, rec.NumRows())
	for i := range out {
		row := make([]any, rec.NumCols())
		for c := range row {
			col := rec.Column(c)
			if col.IsNull(i) {
				continue
			}
			switch a := col.(type) {
			case *array.List:
				s, e := a.ValueOffsets(i)
				var vals []any
				for j := s; j < e; j++ {
					vals = append(vals, a.ListValues().GetOneForMarshal(int(j)))
				}
				row[c] = vals
			default:
				row[c] = col.GetOneForMarshal(i)
			}
		}
		out[i] = row
	}
	return out
}

func colIndex(rec arrow.Record, name string) int { return rec.Schema().FieldIndices(name)[0] }

// cmpAny orders two cells of one column, nil last.
func cmpAny(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	switch x := a.(type) {
	case int64:
		return cmpOrd(x, b.(int64))
	case int32:
		return cmpOrd(x, b.(int32))
	case float64:
		return cmpOrd(x, b.(float64))
	case string:
		return strings.Compare(x, b.(string))
	case bool:
		y := b.(bool)
		if x == y {
			return 0
		}
		if !x {
			return -1
		}
		return 1
	}
	panic(fmt.Sprintf("cmpAny %T", a))
}

func cmpOrd[T int64 | int32 | float64](a, b T) int {
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}

func keyString(row []any, idx []int) string {
	var b strings.Builder
	for _, i := range idx {
		fmt.Fprintf(&b, "%T:%v|", row[i], row[i])
	}
	return b.String()
}

// sameCells compares two cells, floats to a relative 1e-9.
func sameCells(a, b any) bool {
	if fa, ok := a.(float64); ok {
		fb, ok := b.(float64)
		return ok && math.Abs(fa-fb) <= 1e-9*math.Max(1, math.Abs(fa))
	}
	if la, ok := a.([]any); ok {
		lb, ok := b.([]any)
		if !ok || len(la) != len(lb) {
			return false
		}
		for i := range la {
			if !sameCells(la[i], lb[i]) {
				return false
			}
		}
		return true
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func sameRows(t *testing.T, what string, got, want [][]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	for i := range got {
		for c := range want[i] {
			if !sameCells(got[i][c], want[i][c]) {
				t.Fatalf("%s: row %d col %d = %v, want %v\n got row %v\nwant row %v", what, i, c, got[i][c], want[i][c], got[i], want[i])
			}
		}
	}
}

// refSort is the reference sort: sort.SliceStable with nulls last.
func refSort(rows [][]any, cols []int, desc []bool) {
	sort.SliceStable(rows, func(i, j int) bool {
		for k, c := range cols {
			a, b := rows[i][c], rows[j][c]
			r := cmpAny(a, b)
			if desc[k] && a != nil && b != nil {
				r = -r
			}
			if r != 0 {
				return r < 0
			}
		}
		return false
	})
}
