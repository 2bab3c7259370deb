package cols_test

import (
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/rayo-dev/rayo/data/internal/cols"
	"github.com/rayo-dev/rayo/data/internal/rows"
)

type (
	celsius float64
	label   string
	point   struct {
		X, Y float32
	}
)

// all has a field of every conversion path: aliased numbers, numbers
// through pointers, bool, string, binary, and package rows' types.
type all struct {
	I     []int `arrow:"i"`
	I8    []int8
	I16   []int16
	I32   []int32
	I64   []int64
	U     []uint
	U8    []uint8
	U16   []uint16
	U32   []uint32
	U64   []uint64
	F32   []float32
	F64   []float64 `arrow:"f64,omitempty"`
	Temp  []celsius
	B     []bool
	S     []string
	Label []label
	Img   [][]uint8
	PF    []*float64
	PI    []*int32
	PS    []*string
	T     []time.Time
	D     []time.Duration
	L     [][]int64
	V     [][3]float32
	P     []point
	M     []map[string]int
	Skip  []int `arrow:"-"`
	priv  []int
}

func ptr[T any](v T) *T { return &v }

func sample() all {
	t0 := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	return all{
		I: []int{1, -2, 3}, I8: []int8{-8, 0, 8}, I16: []int16{-16, 0, 16}, I32: []int32{-32, 0, 32},
		I64: []int64{-64, 0, 1 << 40}, U: []uint{1, 2, 3}, U8: []uint8{0, 8, 255}, U16: []uint16{0, 16, 65535},
		U32: []uint32{0, 32, 1 << 31}, U64: []uint64{0, 64, 1 << 63}, F32: []float32{0.5, -1, 3},
		F64: []float64{1.5, -2.5, 1e300}, Temp: []celsius{-40, 0, 100},
		B: []bool{true, false, true}, S: []string{"a", "", "héllo"}, Label: []label{"cat", "dog", "ox"},
		Img: [][]uint8{{1, 2, 3}, nil, {255}},
		PF:  []*float64{ptr(1.0), nil, ptr(3.0)}, PI: []*int32{nil, ptr(int32(7)), nil},
		PS: []*string{ptr("x"), nil, ptr("")},
		T:  []time.Time{t0, t0.Add(time.Hour), t0.Add(-time.Microsecond)},
		D:  []time.Duration{time.Second, 0, -time.Millisecond},
		L:  [][]int64{{1, 2}, nil, {3}},
		V:  [][3]float32{{1, 2, 3}, {4, 5, 6}, {7, 8, 9}},
		P:  []point{{1, 2}, {3, 4}, {5, 6}},
		M:  []map[string]int{{"a": 1}, nil, {"b": 2, "c": 3}},
	}
}

func TestRoundTrip(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	in := sample()
	rec, err := cols.ToRecord(mem, &in)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	schema, err := cols.SchemaOf(reflect.TypeFor[all]())
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Schema().Equal(schema) {
		t.Fatalf("record schema\n%v\nSchemaOf\n%v", rec.Schema(), schema)
	}
	if rec.NumRows() != 3 || rec.NumCols() != 26 {
		t.Fatalf("%d rows, %d columns", rec.NumRows(), rec.NumCols())
	}
	for _, c := range []struct {
		name     string
		dt       arrow.DataType
		nullable bool
	}{
		{"i", arrow.PrimitiveTypes.Int64, false},
		{"f64", arrow.PrimitiveTypes.Float64, false},
		{"Temp", arrow.PrimitiveTypes.Float64, false},
		{"Label", arrow.BinaryTypes.String, false},
		{"Img", arrow.BinaryTypes.Binary, false},
		{"U8", arrow.PrimitiveTypes.Uint8, false},
		{"PF", arrow.PrimitiveTypes.Float64, true},
		{"D", arrow.FixedWidthTypes.Duration_ns, false},
	} {
		idx := schema.FieldIndices(c.name)
		if len(idx) != 1 {
			t.Fatalf("column %q: %v", c.name, idx)
		}
		if f := schema.Field(idx[0]); !arrow.TypeEqual(f.Type, c.dt) || f.Nullable != c.nullable {
			t.Errorf("column %q is %v nullable=%v, want %v nullable=%v", c.name, f.Type, f.Nullable, c.dt, c.nullable)
		}
	}
	if got := rec.Column(schema.FieldIndices("PF")[0]).NullN(); got != 1 {
		t.Errorf("PF has %d nulls, want 1", got)
	}
	out, err := cols.FromRecord[all](rec)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Fatalf("round trip\n got %+v\nwant %+v", out, in)
	}
	// By value too.
	rec2, err := cols.ToRecord(mem, in)
	if err != nil {
		t.Fatal(err)
	}
	defer rec2.Release()
	if !array.RecordEqual(rec, rec2) {
		t.Fatal("ToRecord of the value and of the pointer differ")
	}
}

func TestEmpty(t *testing.T) {
	rec, err := cols.ToRecord(nil, all{})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	if rec.NumRows() != 0 {
		t.Fatalf("%d rows", rec.NumRows())
	}
	out, err := cols.FromRecord[all](rec)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, all{}) {
		t.Fatalf("%+v", out)
	}
}

type xy struct {
	X []float64 `arrow:"x"`
	Y []int     `arrow:"y"`
	S []string  `arrow:"s"`
}

func TestAliasing(t *testing.T) {
	in := xy{X: []float64{1, 2, 3, 4, 5, 6}, Y: []int{10, 20, 30, 40, 50, 60}, S: []string{"a", "b", "c", "d", "e", "f"}}
	rec, err := cols.ToRecord(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	if &in.X[0] == &rec.Column(0).(*array.Float64).Float64Values()[0] {
		t.Fatal("ToRecord aliased the batch: the record must own its memory")
	}
	for _, r := range []arrow.Record{rec, rec.NewSlice(2, 5)} {
		b, err := cols.FromRecord[xy](r)
		if err != nil {
			t.Fatal(err)
		}
		xs := r.Column(0).(*array.Float64).Float64Values()
		ys := r.Column(1).(*array.Int64).Int64Values()
		if &b.X[0] != &xs[0] || len(b.X) != len(xs) {
			t.Errorf("X is not the column's buffer: %p/%d vs %p/%d", &b.X[0], len(b.X), &xs[0], len(xs))
		}
		if unsafe.Pointer(&b.Y[0]) != unsafe.Pointer(&ys[0]) {
			t.Errorf("Y ([]int over int64) is not the column's buffer")
		}
		if b.X[0] != xs[0] || b.Y[len(b.Y)-1] != int(ys[len(ys)-1]) {
			t.Errorf("values differ: %v %v", b.X, b.Y)
		}
		// Strings are copied: their bytes are not in the column's buffer.
		data := r.Column(2).(*array.String).ValueBytes()
		lo, hi := uintptr(unsafe.Pointer(&data[0])), uintptr(unsafe.Pointer(&data[len(data)-1]))
		if p := uintptr(unsafe.Pointer(unsafe.StringData(b.S[0]))); p >= lo && p <= hi {
			t.Error("a string aliases the column's buffer")
		}
		if r != rec {
			r.Release()
		}
	}
}

// A buffer not aligned for float64 (a foreign producer's) is copied, not
// aliased (an unaligned *float64 trips -race's checkptr).
func TestUnalignedCopied(t *testing.T) {
	raw := make([]byte, 1+3*8)
	for i, v := range []float64{1.5, 2.5, 3.5} {
		binary.NativeEndian.PutUint64(raw[1+i*8:], math.Float64bits(v))
	}
	data := array.NewData(arrow.PrimitiveTypes.Float64, 3, []*memory.Buffer{nil, memory.NewBufferBytes(raw[1:])}, nil, 0, 0)
	defer data.Release()
	col := array.MakeFromData(data)
	defer col.Release()
	rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Float64}}, nil), []arrow.Array{col}, 3)
	defer rec.Release()
	type onlyX struct {
		X []float64 `arrow:"x"`
	}
	b, err := cols.FromRecord[onlyX](rec)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(b.X, []float64{1.5, 2.5, 3.5}) {
		t.Fatalf("%v", b.X)
	}
	if uintptr(unsafe.Pointer(&b.X[0])) == uintptr(unsafe.Pointer(&raw[1])) {
		t.Fatal("an unaligned buffer was aliased")
	}
}

func TestNulls(t *testing.T) {
	mem := memory.NewGoAllocator()
	fb := array.NewFloat64Builder(mem)
	fb.AppendValues([]float64{1, 99, 3}, []bool{true, false, true})
	f := fb.NewArray()
	fb.Release()
	sb := array.NewStringBuilder(mem)
	sb.AppendValues([]string{"a", "zz", "c"}, []bool{true, false, true})
	s := sb.NewArray()
	sb.Release()
	bb := array.NewBooleanBuilder(mem)
	bb.AppendValues([]bool{true, true, true}, []bool{true, false, true})
	bo := bb.NewArray()
	bb.Release()
	lb := array.NewListBuilder(mem, arrow.PrimitiveTypes.Int64)
	lb.Append(true)
	lb.ValueBuilder().(*array.Int64Builder).Append(1)
	lb.AppendNull()
	lb.Append(true)
	lb.ValueBuilder().(*array.Int64Builder).AppendNull() // a null inside a list
	l := lb.NewArray()
	lb.Release()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "f", Type: f.DataType(), Nullable: true}, {Name: "s", Type: s.DataType(), Nullable: true},
		{Name: "b", Type: bo.DataType(), Nullable: true},
		{Name: "l", Type: l.DataType(), Nullable: true},
	}, nil)
	rec := array.NewRecordBatch(schema, []arrow.Array{f, s, bo, l}, 3)
	for _, a := range []arrow.Array{f, s, bo, l} {
		a.Release()
	}
	defer rec.Release()

	type zeros struct {
		F []float64 `arrow:"f"`
		S []string  `arrow:"s"`
		B []bool    `arrow:"b"`
	}
	z, err := cols.FromRecord[zeros](rec)
	if err != nil {
		t.Fatal(err)
	}
	if want := (zeros{F: []float64{1, 0, 3}, S: []string{"a", "", "c"}, B: []bool{true, false, true}}); !reflect.DeepEqual(z, want) {
		t.Fatalf("nulls as zeros: got %+v want %+v", z, want)
	}
	type ptrs struct {
		F []*float64 `arrow:"f"`
		S []*string  `arrow:"s"`
	}
	p, err := cols.FromRecord[ptrs](rec)
	if err != nil {
		t.Fatal(err)
	}
	if *p.F[0] != 1 || p.F[1] != nil || *p.F[2] != 3 || *p.S[0] != "a" || p.S[1] != nil {
		t.Fatalf("nulls as nil: %+v", p)
	}
	// A top-level null list is nil; a null inside a list has no []int64
	// value to become.
	type lists struct {
		L [][]int64 `arrow:"l"`
	}
	first2 := rec.NewSlice(0, 2)
	defer first2.Release()
	ls, err := cols.FromRecord[lists](first2)
	if err != nil || !reflect.DeepEqual(ls.L, [][]int64{{1}, nil}) {
		t.Fatalf("%v %v", ls.L, err)
	}
	_, err = cols.FromRecord[lists](rec)
	var ce *cols.ColumnError
	if !errors.Is(err, cols.ErrNull) || !errors.Is(err, rows.ErrNull) || !errors.As(err, &ce) || ce.Column != "l" {
		t.Fatalf("a null inside a list: %v", err)
	}
	type ptrLists struct {
		L []*[]*int64 `arrow:"l"`
	}
	pl, err := cols.FromRecord[ptrLists](rec)
	if err != nil || len(pl.L) != 3 || pl.L[1] != nil || (*pl.L[2])[0] != nil || *(*pl.L[0])[0] != 1 {
		t.Fatalf("%v %v", pl, err)
	}
	// And back: a []*float64 with nils is a nullable column with nulls.
	back, err := cols.ToRecord(mem, p)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Release()
	if back.Column(0).NullN() != 1 || !back.Column(0).IsNull(1) || back.Column(0).(*array.Float64).Value(2) != 3 {
		t.Fatalf("%v", back.Column(0))
	}
}

func TestSchemaErrors(t *testing.T) {
	type notSlice struct {
		A []int
		B int
	}
	type dup struct {
		A []int `arrow:"x"`
		B []int `arrow:"x"`
	}
	type unsupported struct {
		A []chan int
	}
	type none struct {
		a []int
		B []int `arrow:"-"`
	}
	for _, c := range []struct {
		t     reflect.Type
		is    error
		field string
	}{
		{reflect.TypeFor[int](), cols.ErrNotBatch, ""},
		{reflect.TypeFor[*xy](), cols.ErrNotBatch, ""},
		{nil, cols.ErrNotBatch, ""},
		{reflect.TypeFor[notSlice](), cols.ErrNotBatch, "notSlice.B"},
		{reflect.TypeFor[dup](), cols.ErrNotBatch, "dup.B"},
		{reflect.TypeFor[unsupported](), cols.ErrUnsupported, "unsupported.A"},
		{reflect.TypeFor[none](), cols.ErrNotBatch, ""},
	} {
		_, err := cols.SchemaOf(c.t)
		if !errors.Is(err, c.is) {
			t.Errorf("%v: %v, want %v", c.t, err, c.is)
			continue
		}
		var ce *cols.ColumnError
		if c.field != "" && (!errors.As(err, &ce) || ce.Field != c.field) {
			t.Errorf("%v: %v does not name %s", c.t, err, c.field)
		}
	}
	_, err := cols.SchemaOf(reflect.TypeFor[unsupported]())
	if !errors.Is(err, rows.ErrUnsupportedType) {
		t.Errorf("%v does not wrap rows.ErrUnsupportedType", err)
	}
	// The same errors from FromRecord and ToRecord.
	rec, _ := cols.ToRecord(nil, xy{})
	defer rec.Release()
	if _, err := cols.FromRecord[notSlice](rec); !errors.Is(err, cols.ErrNotBatch) {
		t.Errorf("FromRecord: %v", err)
	}
	if _, err := cols.ToRecord(nil, unsupported{}); !errors.Is(err, cols.ErrUnsupported) {
		t.Errorf("ToRecord: %v", err)
	}
}

func TestFromRecordErrors(t *testing.T) {
	if _, err := cols.FromRecord[xy](nil); !errors.Is(err, cols.ErrNilRecord) {
		t.Errorf("nil record: %v", err)
	}
	rec, err := cols.ToRecord(nil, xy{X: []float64{1}, Y: []int{2}, S: []string{"s"}})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	type missing struct {
		X []float64 `arrow:"x"`
		Z []float64 `arrow:"z"`
	}
	type wrongNum struct {
		X []float32 `arrow:"x"`
	}
	type wrongStr struct {
		S []int64 `arrow:"s"`
	}
	type wrongRows struct {
		X [][]float64 `arrow:"x"`
	}
	type wrongBin struct {
		S [][]byte `arrow:"s"`
	}
	check := func(err error, is error, field, column string) {
		t.Helper()
		var ce *cols.ColumnError
		if !errors.Is(err, is) || !errors.As(err, &ce) || ce.Field != field || ce.Column != column {
			t.Errorf("%v: want %v naming %s (%q)", err, is, field, column)
		}
	}
	_, err = cols.FromRecord[missing](rec)
	check(err, cols.ErrNoColumn, "missing.Z", "z")
	_, err = cols.FromRecord[wrongNum](rec)
	check(err, cols.ErrType, "wrongNum.X", "x")
	_, err = cols.FromRecord[wrongStr](rec)
	check(err, cols.ErrType, "wrongStr.S", "s")
	_, err = cols.FromRecord[wrongBin](rec)
	check(err, cols.ErrType, "wrongBin.S", "s")
	_, err = cols.FromRecord[wrongRows](rec)
	check(err, cols.ErrType, "wrongRows.X", "x")
	if !errors.Is(err, rows.ErrTypeMismatch) {
		t.Errorf("%v does not wrap rows.ErrTypeMismatch", err)
	}
	// A column no field names is ignored.
	type onlyS struct {
		S []string `arrow:"s"`
	}
	if b, err := cols.FromRecord[onlyS](rec); err != nil || b.S[0] != "s" {
		t.Errorf("%v %v", b, err)
	}
}

func TestToRecordErrors(t *testing.T) {
	_, err := cols.ToRecord(nil, xy{X: []float64{1, 2}, Y: []int{1, 2}, S: []string{"a"}})
	var le *cols.LengthError
	if !errors.Is(err, cols.ErrLength) || !errors.As(err, &le) ||
		le.Field != "xy.X" || le.Len != 2 || le.Other != "xy.S" || le.OtherLen != 1 {
		t.Errorf("lengths: %v", err)
	}
	for _, bad := range []any{nil, (*xy)(nil), 3, []xy{}} {
		if _, err := cols.ToRecord(nil, bad); !errors.Is(err, cols.ErrNotBatch) {
			t.Errorf("ToRecord(%#v): %v", bad, err)
		}
	}
}
