package sink_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/rayo-dev/rayo/data/internal/sink"
)

// TestRoundTripTypes: the types each format holds come back as written
// (Parquet keeps Arrow types such as uint32 through the stored schema).
func TestRoundTripTypes(t *testing.T) {
	flat := []arrow.Field{
		{Name: "u", Type: arrow.PrimitiveTypes.Uint32},
		{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "d", Type: arrow.FixedWidthTypes.Date32},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "bin", Type: arrow.BinaryTypes.Binary},
	}
	nested := append(slices.Clone(flat),
		arrow.Field{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64)},
		arrow.Field{Name: "s", Type: arrow.StructOf(arrow.Field{Name: "a", Type: arrow.BinaryTypes.String})},
	)
	build := func(fields []arrow.Field) arrow.RecordBatch {
		schema := arrow.NewSchema(fields, nil)
		b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		defer b.Release()
		base := time.Date(2024, 2, 29, 12, 30, 0, 0, time.UTC)
		for i := range 5 {
			b.Field(0).(*array.Uint32Builder).Append(uint32(4e9) + uint32(i))
			if i == 2 {
				b.Field(1).AppendNull()
			} else {
				b.Field(1).(*array.Int8Builder).Append(int8(-i))
			}
			b.Field(2).(*array.Float32Builder).Append(float32(i) / 3)
			b.Field(3).(*array.BooleanBuilder).Append(i%2 == 0)
			b.Field(4).(*array.Date32Builder).Append(arrow.Date32FromTime(base.AddDate(0, 0, i)))
			ts, _ := arrow.TimestampFromTime(base.Add(time.Duration(i)*time.Hour), arrow.Microsecond)
			b.Field(5).(*array.TimestampBuilder).Append(ts)
			b.Field(6).(*array.BinaryBuilder).Append([]byte{0, byte(i), 0xff})
			if len(fields) > len(flat) {
				lb := b.Field(7).(*array.ListBuilder)
				lb.Append(true)
				for j := range i {
					lb.ValueBuilder().(*array.Int64Builder).Append(int64(j))
				}
				sb := b.Field(8).(*array.StructBuilder)
				sb.Append(true)
				sb.FieldBuilder(0).(*array.StringBuilder).Append("s" + string(rune('a'+i)))
			}
		}
		return b.NewRecordBatch()
	}
	for _, c := range []struct {
		f      sink.Format
		fields []arrow.Field
	}{{sink.Parquet, nested}, {sink.JSON, nested}, {sink.CSV, flat}} {
		t.Run(c.f.String(), func(t *testing.T) {
			rec := build(c.fields)
			defer rec.Release()
			dir := begin(t, "t")
			path := sink.StagingPath(dir, "t", sink.FileName(c.f, 0))
			if _, _, err := sink.WriteFile(context.Background(), c.f, path, rec.Schema(), sink.Records([]arrow.RecordBatch{rec}), sink.Options{}); err != nil {
				t.Fatal(err)
			}
			got := readBack(t, c.f, path, rec.Schema(), sink.Options{})
			defer got.Release()
			if !array.RecordApproxEqual(got, rec) {
				t.Fatalf("read back\n%v\nwant\n%v", got, rec)
			}
		})
	}
}

func TestOptionsMsgpack(t *testing.T) {
	o := sink.Options{Compression: "zstd", RowGroupRows: 1000, Delimiter: '|', NoHeader: true}
	b, err := msgpack.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var back sink.Options
	if err := msgpack.Unmarshal(b, &back); err != nil || back != o {
		t.Fatalf("msgpack round trip: %+v, %v; want %+v", back, err, o)
	}
}

func TestPartitionValues(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "d", Type: arrow.FixedWidthTypes.Date32},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64},
		{Name: "u", Type: arrow.PrimitiveTypes.Uint8},
		{Name: "x", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	b.Field(0).(*array.Date32Builder).Append(arrow.Date32FromTime(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)))
	b.Field(1).(*array.BooleanBuilder).Append(true)
	b.Field(2).(*array.Float64Builder).Append(0.5)
	b.Field(3).(*array.Uint8Builder).Append(200)
	b.Field(4).(*array.Int64Builder).Append(1)
	rec := b.NewRecordBatch()
	defer rec.Release()
	parts, err := sink.SplitByPartition(rec, []string{"d", "b", "f", "u"})
	if err != nil {
		t.Fatal(err)
	}
	defer parts[0].Rec.Release()
	if got := sink.PartitionDir([]string{"d", "b", "f", "u"}, parts[0].Values); got != "d=2024-02-29/b=true/f=0.5/u=200" {
		t.Fatalf("partition dir %q", got)
	}
}
