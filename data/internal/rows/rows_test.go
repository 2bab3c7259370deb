package rows_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/rayo-dev/rayo/data/internal/block"
	"github.com/rayo-dev/rayo/data/internal/rows"
)

// aligned returns a copy of b starting at a multiple of 64 bytes, as the
// object store's allocations do, so that block.Decode reads it in place.
func aligned(b []byte) []byte {
	buf := make([]byte, len(b)+64)
	off := (64 - int(uintptr(unsafe.Pointer(&buf[0]))%64)) % 64
	out := buf[off : off+len(b) : off+len(b)]
	copy(out, b)
	return out
}

// roundTrip converts in to a record and back, directly and through a block
// encoded and decoded in place, and checks both give in back. It checks
// too that the allocator is left with nothing allocated.
func roundTrip[T any](t *testing.T, in []T) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec, err := rows.ToRecord(mem, in)
	if err != nil {
		t.Fatalf("ToRecord: %v", err)
	}
	defer rec.Release()
	if err := array.ValidateRecordFull(rec); err != nil {
		t.Fatalf("invalid column: %v", err)
	}
	want, err := rows.SchemaOf(reflect.TypeFor[T]())
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Schema().Equal(want) || rec.NumRows() != int64(len(in)) {
		t.Fatalf("record %s with %d rows, want %s with %d", rec.Schema(), rec.NumRows(), want, len(in))
	}
	got, err := rows.FromRecord[T](rec)
	if err != nil {
		t.Fatalf("FromRecord: %v", err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, in)
	}

	// A slice of the record (a batch cut from a block) reads its own rows:
	// every column kind honours the array offset.
	if len(in) >= 2 {
		sl := rec.NewSlice(1, int64(len(in)))
		got, err := rows.FromRecord[T](sl)
		sl.Release()
		if err != nil || !reflect.DeepEqual(got, in[1:]) {
			t.Fatalf("sliced record: %v\n got %+v\nwant %+v", err, got, in[1:])
		}
	}

	enc, err := block.Encode(rec)
	if err != nil {
		t.Fatalf("block.Encode: %v", err)
	}
	blk := aligned(enc)
	dec, err := block.Decode(blk)
	if err != nil {
		t.Fatalf("block.Decode: %v", err)
	}
	got, err = rows.FromRecord[T](dec)
	dec.Release()
	if err != nil {
		t.Fatalf("FromRecord of a decoded block: %v", err)
	}
	// The rows must not point into the block: wipe it and compare again.
	for i := range blk {
		blk[i] = 0xff
	}
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("round trip through a block:\n got %+v\nwant %+v", got, in)
	}
}

func ptr[T any](v T) *T { return &v }

type scalars struct {
	B   bool
	I8  int8
	I16 int16
	I32 int32
	I64 int64
	I   int
	U8  uint8
	U16 uint16
	U32 uint32
	U64 uint64
	U   uint
	F32 float32
	F64 float64
	S   string
	Bin []byte
	T   time.Time
	D   time.Duration
}

type pointers struct {
	B   *bool
	I8  *int8
	I64 *int64
	U32 *uint32
	F64 *float64
	S   *string
	Bin *[]byte
	T   *time.Time
	D   *time.Duration
}

type Celsius float64

type Inner struct {
	X int32
	Y *string
	Z []float64
}

type nested struct {
	In    Inner
	InP   *Inner
	List  []Inner
	Deep  struct{ A struct{ B []string } }
	Named Celsius
}

type lists struct {
	Ints    []int64
	NulInts []*int64
	Strs    []string
	Nested  [][]string
	Bins    [][]byte
	Times   []time.Time
	Opt     *[]int32
}

type arrays struct {
	Vec  [4]float32
	Mat  [2][3]float64
	Opt  *[3]int8
	Nul  [2]*int32
	Recs [2]Inner
}

type maps struct {
	M    map[string]int
	Nul  map[string]*string
	Deep map[string][]Inner
	Opt  *map[string]bool
	Tms  map[string]time.Time
}

type tagged struct {
	ID      int64  `arrow:"id"`
	Skipped string `arrow:"-"`
	hidden  int
	Name    string `arrow:"name,omitempty"`
	Plain   float32
}

func TestRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 5, 30, 0, 123456000, time.UTC)
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"scalars", func(t *testing.T) {
			roundTrip(t, []scalars{
				{true, -8, -16, -32, -64, -1, 8, 16, 32, 64, 1, 1.5, 2.5, "héllo", []byte{0, 1, 2}, t0, 90 * time.Second},
				{false, 127, 32767, 1 << 30, 1 << 62, 1 << 40, 255, 65535, 1 << 31, 1 << 63, 7, -0.25, 1e300, "", nil, time.Unix(0, 0).UTC(), -time.Nanosecond},
			})
		}},
		{"pointers with nulls", func(t *testing.T) {
			roundTrip(t, []pointers{
				{ptr(true), ptr[int8](-1), ptr[int64](1 << 50), ptr[uint32](9), ptr(3.5), ptr("s"), ptr([]byte("b")), ptr(t0), ptr(time.Hour)},
				{},
				{B: ptr(false), S: ptr(""), T: ptr(t0.Add(time.Microsecond))},
			})
		}},
		{"nested structs", func(t *testing.T) {
			var r nested
			r.In = Inner{X: 1, Y: ptr("y"), Z: []float64{1, 2}}
			r.InP = &Inner{X: 2}
			r.List = []Inner{{X: 3}, {X: 4, Y: ptr("four")}}
			r.Deep.A.B = []string{"a", "b"}
			r.Named = 36.6
			roundTrip(t, []nested{r, {}})
		}},
		{"lists", func(t *testing.T) {
			roundTrip(t, []lists{
				{[]int64{1, 2, 3}, []*int64{ptr[int64](1), nil, ptr[int64](3)}, []string{"a", ""}, [][]string{{"x"}, nil, {"y", "z"}}, [][]byte{[]byte("p"), nil}, []time.Time{t0}, ptr([]int32{5})},
				{},
			})
		}},
		{"fixed arrays", func(t *testing.T) {
			roundTrip(t, []arrays{
				{[4]float32{1, 2, 3, 4}, [2][3]float64{{1, 2, 3}, {4, 5, 6}}, &[3]int8{-1, 0, 1}, [2]*int32{nil, ptr[int32](7)}, [2]Inner{{X: 1}, {Y: ptr("q")}}},
				{},
				{Vec: [4]float32{5, 6, 7, 8}, Opt: &[3]int8{9, 9, 9}, Nul: [2]*int32{ptr[int32](1), nil}},
			})
		}},
		{"maps", func(t *testing.T) {
			roundTrip(t, []maps{
				{map[string]int{"b": 2, "a": 1, "c": 3}, map[string]*string{"n": nil, "v": ptr("v")}, map[string][]Inner{"k": {{X: 1}}}, ptr(map[string]bool{"t": true}), map[string]time.Time{"t0": t0}},
				{},
				{M: map[string]int{"only": 1}},
			})
		}},
		{"tags", func(t *testing.T) {
			roundTrip(t, []tagged{{ID: 1, Name: "n", Plain: 2}, {ID: 2}})
		}},
		{"no rows", func(t *testing.T) { roundTrip(t, []scalars{}) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

func TestSchemaOf(t *testing.T) {
	s, err := rows.SchemaOf(reflect.TypeFor[tagged]())
	if err != nil {
		t.Fatal(err)
	}
	want := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String},
		{Name: "Plain", Type: arrow.PrimitiveTypes.Float32},
	}, nil)
	if !s.Equal(want) {
		t.Fatalf("schema %s, want %s", s, want)
	}
	s2, _ := rows.SchemaOf(reflect.TypeFor[tagged]())
	if s2 != s {
		t.Fatal("SchemaOf did not return the cached schema")
	}

	s, err = rows.SchemaOf(reflect.TypeFor[struct {
		T   time.Time
		D   *time.Duration
		Bin []byte
		Vec [3]float32
		L   []*int16
		M   map[string]float64
	}]())
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := []string{
		"timestamp[us, tz=UTC]", "duration[ns]", "binary",
		"fixed_size_list<item: float32>[3]", "list<item: int16, nullable>",
		"map<utf8, float64, items_non_nullable>",
	}
	for i, f := range s.Fields() {
		if f.Type.String() != wantTypes[i] {
			t.Errorf("field %s: %s, want %s", f.Name, f.Type, wantTypes[i])
		}
		if f.Nullable != (f.Name == "D") {
			t.Errorf("field %s: nullable %v", f.Name, f.Nullable)
		}
	}
}

type Bad struct{ F chan int }
type Row struct {
	A     int
	Inner Bad
}
type Node struct {
	V    int
	Next *Node
}
type onlyHidden struct{ a, b int }
type dupNames struct {
	A int `arrow:"x"`
	B int `arrow:"x"`
}

func TestSchemaOfErrors(t *testing.T) {
	tests := []struct {
		typ  reflect.Type
		want error
		msg  string
	}{
		{reflect.TypeFor[Row](), rows.ErrUnsupportedType, "Row.Inner.F: chan int is not supported"},
		{reflect.TypeFor[struct{ F func() }](), rows.ErrUnsupportedType, ".F: func() is not supported"},
		{reflect.TypeFor[struct{ F any }](), rows.ErrUnsupportedType, ".F: interface {} is not supported"},
		{reflect.TypeFor[struct{ M map[int]string }](), rows.ErrUnsupportedType, ".M: map[int]string is not supported (map keys must be strings)"},
		{reflect.TypeFor[struct{ L []complex64 }](), rows.ErrUnsupportedType, ".L[]: complex64 is not supported"},
		{reflect.TypeFor[struct{ P **int }](), rows.ErrUnsupportedType, "pointer to pointer"},
		{reflect.TypeFor[Node](), rows.ErrUnsupportedType, "Node.Next: rows_test.Node is not supported (recursive type)"},
		{reflect.TypeFor[onlyHidden](), rows.ErrUnsupportedType, "no exported fields"},
		{reflect.TypeFor[struct{ H onlyHidden }](), rows.ErrUnsupportedType, ".H: rows_test.onlyHidden is not supported (no exported fields)"},
		{reflect.TypeFor[dupNames](), rows.ErrUnsupportedType, `dupNames.B: int has column name "x", as dupNames.A has`},
		{reflect.TypeFor[int](), rows.ErrNotStruct, "int"},
		{reflect.TypeFor[time.Time](), rows.ErrNotStruct, "time.Time"},
		{nil, rows.ErrNotStruct, "nil"},
	}
	for _, tc := range tests {
		_, err := rows.SchemaOf(tc.typ)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("SchemaOf(%v): %v, want %v containing %q", tc.typ, err, tc.want, tc.msg)
		}
		// Twice: the cached answer is the same error.
		if _, err2 := rows.SchemaOf(tc.typ); tc.typ != nil && (err2 == nil || err2.Error() != err.Error()) {
			t.Errorf("SchemaOf(%v) again: %v", tc.typ, err2)
		}
	}
	var fe *rows.FieldError
	if _, err := rows.SchemaOf(reflect.TypeFor[Row]()); !errors.As(err, &fe) || fe.Path != "Row.Inner.F" || fe.Type != reflect.TypeFor[chan int]() {
		t.Errorf("FieldError: %#v", fe)
	}
}

func TestToRecordErrors(t *testing.T) {
	for _, in := range []any{nil, 3, []int{1}, scalars{}, []*scalars{}, []Row{{}}} {
		rec, err := rows.ToRecord(nil, in)
		want := rows.ErrNotStruct
		if _, ok := in.([]Row); ok {
			want = rows.ErrUnsupportedType
		}
		if !errors.Is(err, want) || rec != nil {
			t.Errorf("ToRecord(%T): %v, want %v", in, err, want)
		}
	}
}

type pair struct {
	A *int64 `arrow:"a"`
	B *string
}
type pairStrict struct {
	A int64 `arrow:"a"`
	B string
}
type listOpt struct{ L []*int64 }
type listStrict struct{ L []int64 }

func TestFromRecordErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec, err := rows.ToRecord(mem, []pair{{ptr[int64](1), ptr("x")}, {nil, ptr("y")}, {ptr[int64](3), nil}})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()

	if _, err := rows.FromRecord[pair](nil); !errors.Is(err, rows.ErrNilRecord) {
		t.Errorf("nil record: %v", err)
	}
	_, err = rows.FromRecord[pairStrict](rec)
	if !errors.Is(err, rows.ErrNull) || !strings.Contains(err.Error(), `column "a", row 1`) {
		t.Errorf("null into int64: %v", err)
	}
	_, err = rows.FromRecord[struct{ C int }](rec)
	if !errors.Is(err, rows.ErrMissingColumn) || !strings.Contains(err.Error(), `"C"`) {
		t.Errorf("missing column: %v", err)
	}
	_, err = rows.FromRecord[struct {
		A int32 `arrow:"a"`
	}](rec)
	if !errors.Is(err, rows.ErrTypeMismatch) || !strings.Contains(err.Error(), `column "a" is int64, field wants int32`) {
		t.Errorf("type mismatch: %v", err)
	}
	if _, err := rows.FromRecord[int](rec); !errors.Is(err, rows.ErrNotStruct) {
		t.Errorf("FromRecord[int]: %v", err)
	}
	if _, err := rows.FromRecord[Row](rec); !errors.Is(err, rows.ErrUnsupportedType) {
		t.Errorf("FromRecord[Row]: %v", err)
	}

	// Extra columns are ignored; a subset of fields reads fine.
	got, err := rows.FromRecord[struct{ B *string }](rec)
	if err != nil || len(got) != 3 || *got[0].B != "x" || got[2].B != nil {
		t.Errorf("subset: %+v, %v", got, err)
	}

	// A null inside a list, into a list of non-pointers.
	lrec, err := rows.ToRecord(mem, []listOpt{{[]*int64{ptr[int64](1)}}, {[]*int64{nil}}})
	if err != nil {
		t.Fatal(err)
	}
	defer lrec.Release()
	// Nullability aside the types agree: the null itself is the error.
	_, err = rows.FromRecord[listStrict](lrec)
	if !errors.Is(err, rows.ErrNull) || !strings.Contains(err.Error(), `column "L", row 1: L[]`) {
		t.Errorf("null in a list of nullable into []int64: %v", err)
	}
	// A list of a non-nullable type into a list of pointers reads.
	srec, err := rows.ToRecord(mem, []listStrict{{[]int64{4, 5}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srec.Release()
	if got, err := rows.FromRecord[listOpt](srec); err != nil || *got[0].L[1] != 5 {
		t.Errorf("[]int64 into []*int64: %+v, %v", got, err)
	}
	// A different element type is a mismatch.
	if _, err := rows.FromRecord[struct{ L []int32 }](srec); !errors.Is(err, rows.ErrTypeMismatch) {
		t.Errorf("[]int64 into []int32: %v", err)
	}
	if _, err := rows.FromRecord[struct{ L [2]int64 }](srec); !errors.Is(err, rows.ErrTypeMismatch) {
		t.Errorf("list into fixed array: %v", err)
	}
}

// A nullable column (as another producer may write one) holding a null,
// read into a non-pointer nested field: ErrNull naming the column, field
// path and row.
func TestFromRecordNestedNull(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	inner := arrow.StructOf(arrow.Field{Name: "X", Type: arrow.PrimitiveTypes.Int32, Nullable: false})
	schema := arrow.NewSchema([]arrow.Field{{Name: "S", Type: inner, Nullable: true}}, nil)
	rb := array.NewRecordBuilder(mem, schema)
	defer rb.Release()
	sb := rb.Field(0).(*array.StructBuilder)
	sb.Append(true)
	sb.FieldBuilder(0).(*array.Int32Builder).Append(1)
	sb.Append(true)
	sb.FieldBuilder(0).(*array.Int32Builder).AppendNull()
	sb.AppendNull()
	rec := rb.NewRecord()
	defer rec.Release()
	type S struct{ X int32 }
	_, err := rows.FromRecord[struct{ S S }](rec)
	if !errors.Is(err, rows.ErrNull) || !strings.Contains(err.Error(), `column "S", row 1: S.X`) {
		t.Errorf("nested null: %v", err)
	}
	// Into pointers, the same record reads: nulls become nil pointers.
	type SP struct{ X *int32 }
	got, err := rows.FromRecord[struct{ S *SP }](rec)
	if err != nil || len(got) != 3 || *got[0].S.X != 1 || got[1].S == nil || got[1].S.X != nil || got[2].S != nil {
		t.Errorf("nested nulls into pointers: %+v, %v", got, err)
	}
}

// A time in another zone comes back as the same instant in UTC, to the µs.
func TestTimeZoneAndPrecision(t *testing.T) {
	type ts struct{ T time.Time }
	loc := time.FixedZone("X", 3*3600)
	in := time.Date(2026, 1, 2, 3, 4, 5, 6_789_123, loc)
	rec, err := rows.ToRecord(nil, []ts{{in}})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	got, err := rows.FromRecord[ts](rec)
	if err != nil {
		t.Fatal(err)
	}
	if !got[0].T.Equal(in.Truncate(time.Microsecond)) || got[0].T.Location() != time.UTC {
		t.Fatalf("got %v, want %v in UTC", got[0].T, in.Truncate(time.Microsecond))
	}
}
