package compute_test

import (
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/rayo-dev/rayo/data/internal/compute"
)

// keyColumn makes the column [hi, lo, hi, null, lo, hi] of type t.
func keyColumn(t *testing.T, dt arrow.DataType) arrow.Array {
	t.Helper()
	b := array.NewBuilder(memory.DefaultAllocator, dt)
	defer b.Release()
	for _, v := range []string{"hi", "lo", "hi", "", "lo", "hi"} {
		if v == "" {
			b.AppendNull()
			continue
		}
		var s string
		switch dt.ID() {
		case arrow.STRING, arrow.LARGE_STRING:
			s = map[string]string{"hi": "b", "lo": "a"}[v]
		case arrow.BINARY, arrow.LARGE_BINARY: // base64 of "b" and "a"
			s = map[string]string{"hi": "Yg==", "lo": "YQ=="}[v]
		case arrow.BOOL:
			s = map[string]string{"hi": "true", "lo": "false"}[v]
		case arrow.FLOAT32, arrow.FLOAT64:
			s = map[string]string{"hi": "2.5", "lo": "-1.5"}[v]
		case arrow.TIMESTAMP:
			s = map[string]string{"hi": "2024-01-02T00:00:00Z", "lo": "2023-01-01T00:00:00Z"}[v]
		case arrow.DATE32, arrow.DATE64:
			s = map[string]string{"hi": "2024-01-02", "lo": "2023-01-01"}[v]
		default:
			s = map[string]string{"hi": "7", "lo": "3"}[v]
		}
		if err := b.AppendValueFromString(s); err != nil {
			t.Fatalf("%s %q: %v", dt, s, err)
		}
	}
	return b.NewArray()
}

func TestKeyTypes(t *testing.T) {
	types := []arrow.DataType{
		arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int16, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64,
		arrow.PrimitiveTypes.Uint8, arrow.PrimitiveTypes.Uint16, arrow.PrimitiveTypes.Uint32, arrow.PrimitiveTypes.Uint64,
		arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64, arrow.FixedWidthTypes.Boolean,
		arrow.FixedWidthTypes.Date32, arrow.FixedWidthTypes.Date64, arrow.FixedWidthTypes.Timestamp_us,
		arrow.BinaryTypes.String, arrow.BinaryTypes.LargeString, arrow.BinaryTypes.Binary, arrow.BinaryTypes.LargeBinary,
	}
	for _, dt := range types {
		col := keyColumn(t, dt)
		rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "k", Type: dt, Nullable: true}}, nil), []arrow.Array{col}, 6)
		got, err := compute.Aggregate([]arrow.Record{rec}, []string{"k"}, []compute.Agg{{Kind: compute.AggCount}})
		if err != nil {
			t.Fatalf("%s: %v", dt, err)
		}
		// groups sorted lo, hi, null: counts 2, 3, 1
		if s := fmt.Sprint(got.Column(1)); s != "[2 3 1]" || !got.Column(0).IsNull(2) {
			t.Errorf("%s: keys %v counts %s", dt, got.Column(0), s)
		}
		// min and max keep the column's type: lo and hi
		mm, err := compute.Aggregate([]arrow.Record{rec}, nil, []compute.Agg{{Kind: compute.AggMin, Column: "k"}, {Kind: compute.AggMax, Column: "k"}})
		if err != nil {
			t.Fatalf("%s: %v", dt, err)
		}
		if !arrow.TypeEqual(mm.Column(0).DataType(), dt) && numeric(dt) == "" {
			t.Errorf("%s: min is %s", dt, mm.Column(0).DataType())
		}
		lo, hi := fmt.Sprint(col.GetOneForMarshal(1)), fmt.Sprint(col.GetOneForMarshal(0))
		if n := numeric(dt); n != "" {
			lo, hi = map[string]string{"i": "3", "f": "-1.5"}[n], map[string]string{"i": "7", "f": "2.5"}[n]
		}
		if g, h := fmt.Sprint(mm.Column(0).GetOneForMarshal(0)), fmt.Sprint(mm.Column(1).GetOneForMarshal(0)); g != lo || h != hi {
			t.Errorf("%s: min %s max %s, want %s %s", dt, g, h, lo, hi)
		}
		u, err := compute.Unique([]arrow.Record{rec}, "k")
		if err != nil || u.Len() != 3 {
			t.Errorf("%s: unique %v %v", dt, u, err)
		}
		s, err := compute.Sort([]arrow.Record{rec}, []compute.SortKey{{Column: "k", Descending: true}})
		if err != nil {
			t.Fatalf("%s: %v", dt, err)
		}
		// descending: hi, hi, hi, lo, lo, null
		want := []int{0, 2, 5, 1, 4, 3}
		for i, w := range want {
			if fmt.Sprint(s.Column(0).GetOneForMarshal(i)) != fmt.Sprint(col.GetOneForMarshal(w)) {
				t.Errorf("%s: sorted %v", dt, s.Column(0))
				break
			}
		}
		parts, err := compute.HashPartition(rec, []string{"k"}, 3)
		if err != nil {
			t.Fatalf("%s: %v", dt, err)
		}
		var n int64
		for _, p := range parts {
			n += p.NumRows()
		}
		if n != 6 {
			t.Errorf("%s: %d rows in parts", dt, n)
		}
	}
}

// numeric says how Min and Max give a numeric column: "i" (int64 or
// uint64), "f" (float64), "" (the column's own type).
func numeric(dt arrow.DataType) string {
	switch dt.ID() {
	case arrow.FLOAT32, arrow.FLOAT64:
		return "f"
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return "i"
	}
	return ""
}
