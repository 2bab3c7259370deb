package block_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/rayo-dev/rayo/data/internal/block"
)

// aligned returns a copy of b that starts at a multiple of 64 bytes, as
// the object store's allocations do (a []byte from a plain make is only
// guaranteed the allocator's size class alignment).
func aligned(b []byte) []byte {
	buf := make([]byte, len(b)+64)
	off := (64 - int(uintptr(unsafe.Pointer(&buf[0]))%64)) % 64
	out := buf[off : off+len(b) : off+len(b)]
	copy(out, b)
	return out
}

// mixedRecord builds a batch with one column of each kind blocks must
// carry: int64, float32, float64, string, binary, bool with nulls,
// list<float32> (a tensor per row) and a struct.
func mixedRecord(t testing.TB, mem memory.Allocator) arrow.Record {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32},
		{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "raw", Type: arrow.BinaryTypes.Binary},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "vec", Type: arrow.ListOf(arrow.PrimitiveTypes.Float32)},
		{Name: "pt", Type: arrow.StructOf(
			arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Int32},
			arrow.Field{Name: "label", Type: arrow.BinaryTypes.String, Nullable: true},
		), Nullable: true},
		{Name: "fixed", Type: arrow.FixedSizeListOf(3, arrow.PrimitiveTypes.Float32)},
		{Name: "big", Type: arrow.BinaryTypes.LargeString},
		{Name: "tags", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int32)},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	const n = 5
	for i := range n {
		b.Field(0).(*array.Int64Builder).Append(int64(i * 10))
		b.Field(1).(*array.Float32Builder).Append(float32(i) + 0.5)
		if i == 2 {
			b.Field(2).AppendNull()
			b.Field(3).AppendNull()
			b.Field(5).AppendNull()
			b.Field(7).AppendNull()
		} else {
			b.Field(2).(*array.Float64Builder).Append(float64(i) * 1.25)
			b.Field(3).(*array.StringBuilder).Append(string(rune('a'+i)) + "é")
			b.Field(5).(*array.BooleanBuilder).Append(i%2 == 0)
			sb := b.Field(7).(*array.StructBuilder)
			sb.Append(true)
			sb.FieldBuilder(0).(*array.Int32Builder).Append(int32(-i))
			if i == 3 {
				sb.FieldBuilder(1).AppendNull()
			} else {
				sb.FieldBuilder(1).(*array.StringBuilder).Append("p")
			}
		}
		b.Field(4).(*array.BinaryBuilder).Append([]byte{byte(i), 0, 0xff})
		fb := b.Field(8).(*array.FixedSizeListBuilder)
		fb.Append(true)
		fb.ValueBuilder().(*array.Float32Builder).AppendValues([]float32{float32(i), 1, -1}, nil)
		b.Field(9).(*array.LargeStringBuilder).Append(strings.Repeat("z", i))
		mb := b.Field(10).(*array.MapBuilder)
		mb.Append(true)
		for j := range i % 3 {
			mb.KeyBuilder().(*array.StringBuilder).Append(string(rune('k' + j)))
			mb.ItemBuilder().(*array.Int32Builder).Append(int32(j))
		}
		lb := b.Field(6).(*array.ListBuilder)
		lb.Append(true)
		for j := range i {
			lb.ValueBuilder().(*array.Float32Builder).Append(float32(j))
		}
	}
	return b.NewRecord()
}

func TestRoundTrip(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := mixedRecord(t, mem)
	defer rec.Release()
	enc, err := block.Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	b := aligned(enc)
	got, err := block.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	if !array.RecordEqual(rec, got) {
		t.Fatalf("round trip changed the batch:\n%v\nwant\n%v", got, rec)
	}
	if !got.Schema().Equal(rec.Schema()) {
		t.Fatalf("schema %v, want %v", got.Schema(), rec.Schema())
	}
	// Spot checks that do not rely on RecordEqual alone.
	if v := got.Column(3).(*array.String).Value(4); v != "eé" {
		t.Fatalf("name[4] = %q", v)
	}
	if !got.Column(5).IsNull(2) || got.Column(5).NullN() != 1 {
		t.Fatalf("bool nulls: %v", got.Column(5))
	}
	vec := got.Column(6).(*array.List)
	if s, e := vec.ValueOffsets(4); e-s != 4 {
		t.Fatalf("vec[4] has %d values, want 4", e-s)
	}
	m, err := block.Stat(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Rows != 5 || m.Bytes != int64(len(b)) || !m.Schema.Equal(rec.Schema()) {
		t.Fatalf("Stat = %+v", m)
	}
}

func TestRoundTripEmptyAndSliced(t *testing.T) {
	rec := mixedRecord(t, memory.DefaultAllocator)
	defer rec.Release()
	for _, tc := range []struct {
		name   string
		i, j   int64
		expect int64
	}{{"empty", 0, 0, 0}, {"middle", 1, 4, 3}, {"tail", 3, 5, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			s := rec.NewSlice(tc.i, tc.j)
			defer s.Release()
			enc, err := block.Encode(s)
			if err != nil {
				t.Fatal(err)
			}
			got, err := block.Decode(aligned(enc))
			if err != nil {
				t.Fatal(err)
			}
			defer got.Release()
			if got.NumRows() != tc.expect || !array.RecordEqual(s, got) {
				t.Fatalf("got %v, want %v", got, s)
			}
		})
	}
}

// within reports whether buffer p lies inside b.
func within(p []byte, b []byte) bool {
	if len(p) == 0 {
		return true
	}
	lo, hi := uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&b[len(b)-1]))
	s, e := uintptr(unsafe.Pointer(&p[0])), uintptr(unsafe.Pointer(&p[len(p)-1]))
	return s >= lo && e <= hi
}

// allBuffers lists every non-empty buffer of d and its children.
func allBuffers(d arrow.ArrayData) [][]byte {
	var out [][]byte
	for _, buf := range d.Buffers() {
		if buf != nil && buf.Len() > 0 {
			out = append(out, buf.Bytes())
		}
	}
	for _, c := range d.Children() {
		out = append(out, allBuffers(c)...)
	}
	return out
}

func TestDecodeSharesMemory(t *testing.T) {
	rec := mixedRecord(t, memory.DefaultAllocator)
	defer rec.Release()
	enc, err := block.Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	b := aligned(enc)
	got, err := block.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	n := 0
	for i, col := range got.Columns() {
		for _, p := range allBuffers(col.Data()) {
			n++
			if !within(p, b) {
				t.Fatalf("column %q: a buffer at %p is outside the block [%p, %p]: it was copied",
					got.ColumnName(i), &p[0], &b[0], &b[len(b)-1])
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d buffers checked", n)
	}
	// And writing through the block shows in the column: the same memory.
	ids := got.Column(0).(*array.Int64)
	data := got.Column(0).Data().Buffers()[1].Bytes()
	off := uintptr(unsafe.Pointer(&data[0])) - uintptr(unsafe.Pointer(&b[0]))
	b[off] = 0x7f
	if ids.Value(0) != 0x7f {
		t.Fatalf("id[0] = %d after writing the block's byte: not in place", ids.Value(0))
	}
}

// TestDecodeBadOffsets damages offsets inside the column data, which the
// header's checksum does not cover: validation must catch each.
func TestDecodeBadOffsets(t *testing.T) {
	rec := mixedRecord(t, memory.DefaultAllocator)
	defer rec.Release()
	enc, err := block.Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		col  int    // column whose buffer 1 (offsets) is damaged
		at   int    // which int32 offset
		v    int32  // its new value
		want string // in the error
	}{
		{3, 5, 1 << 20, "out of bounds"},  // string: past its bytes (arrow checks this one)
		{4, 2, -1, "offsets decrease"},    // binary: an offset going back
		{4, 0, -8, "negative offset"},     // binary: a negative first offset
		{6, 5, 1 << 20, "past the child"}, // list<float32>: past the values
		{10, 3, 0, "offsets decrease"},    // map: an offset going back
	} {
		b := aligned(enc)
		got, err := block.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		offs := got.Column(tc.col).Data().Buffers()[1].Bytes()
		pos := int(uintptr(unsafe.Pointer(&offs[0])) - uintptr(unsafe.Pointer(&b[0])))
		got.Release()
		arrow.Int32Traits.CastFromBytes(b[pos:])[tc.at] = tc.v
		if _, err := block.Decode(b); !errors.Is(err, block.ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("column %d offset %d = %d: %v, want ErrCorrupt saying %q", tc.col, tc.at, tc.v, err, tc.want)
		}
	}
}

func TestDecodeMisaligned(t *testing.T) {
	rec := mixedRecord(t, memory.DefaultAllocator)
	defer rec.Release()
	enc, err := block.Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	buf := aligned(append([]byte{0}, enc...))
	if _, err := block.Decode(buf[1:]); !errors.Is(err, block.ErrMisaligned) {
		t.Fatalf("Decode of a misaligned block: %v, want ErrMisaligned", err)
	}
}

func TestEncodeBadInput(t *testing.T) {
	if _, err := block.Encode(nil); !errors.Is(err, block.ErrNilRecord) {
		t.Fatalf("Encode(nil): %v", err)
	}
	// A dictionary column is refused, by Encode and by Decode.
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}
	schema := arrow.NewSchema([]arrow.Field{{Name: "d", Type: dt}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	if err := b.Field(0).(*array.BinaryDictionaryBuilder).AppendString("x"); err != nil {
		t.Fatal(err)
	}
	rec := b.NewRecord()
	defer rec.Release()
	if _, err := block.Encode(rec); !errors.Is(err, block.ErrUnsupportedType) {
		t.Fatalf("Encode of a dictionary column: %v, want ErrUnsupportedType", err)
	}
	var buf bytes.Buffer
	w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	sealed, err := block.Sealed(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	_, err = block.Decode(aligned(sealed))
	if !errors.Is(err, block.ErrUnsupportedType) || !errors.Is(err, block.ErrCorrupt) {
		t.Fatalf("Decode of a dictionary column: %v, want ErrUnsupportedType and ErrCorrupt", err)
	}
}

func TestDecodeNotABlock(t *testing.T) {
	rec := mixedRecord(t, memory.DefaultAllocator)
	defer rec.Release()
	// An IPC stream (not file) and a file of two batches are not blocks.
	var stream bytes.Buffer
	sw := ipc.NewWriter(&stream, ipc.WithSchema(rec.Schema()))
	if err := sw.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	var two bytes.Buffer
	fw, err := ipc.NewFileWriter(&two, ipc.WithSchema(rec.Schema()))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := fw.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	twoSealed, err := block.Sealed(two.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	enc, err := block.Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"empty": {}, "text": []byte("hello, world, not arrow, not a block at all"),
		"zeros": make([]byte, 4096), "stream": stream.Bytes(), "bare IPC file": enc[block.HeaderSize:],
		"two batches": twoSealed,
	} {
		if len(b) > 0 {
			b = aligned(b)
		}
		if _, err := block.Decode(b); !errors.Is(err, block.ErrCorrupt) {
			t.Errorf("%s: Decode: %v, want ErrCorrupt", name, err)
		}
	}
}

// readAll touches every value of every column, so that a block Decode
// accepted but whose buffers do not match its lengths would fault here.
func readAll(rec arrow.Record) int {
	n := 0
	for _, col := range rec.Columns() {
		for i := range col.Len() {
			n += len(col.ValueStr(i))
		}
	}
	return n
}

// TestDecodeDamaged cuts and flips bytes of a valid block everywhere:
// every damaged block either decodes into a batch whose every value can be
// read, or fails with ErrCorrupt. There is no recover here: a panic fails
// the test binary.
func TestDecodeDamaged(t *testing.T) {
	rec := mixedRecord(t, memory.DefaultAllocator)
	defer rec.Release()
	enc, err := block.Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, b []byte) {
		t.Helper()
		got, err := block.Decode(b)
		if err != nil {
			if !errors.Is(err, block.ErrCorrupt) {
				t.Fatalf("%s: %v, want ErrCorrupt", what, err)
			}
			return
		}
		readAll(got)
		got.Release()
	}
	for n := 1; n < len(enc); n++ {
		check("truncated", aligned(enc[:n]))
	}
	rejected := 0
	for i := range enc {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			b := aligned(enc)
			b[i] ^= x
			if _, err := block.Decode(b); err != nil {
				rejected++
			}
			check("flipped", b)
		}
	}
	if rejected == 0 {
		t.Fatal("no damaged block was rejected")
	}
	t.Logf("%d bytes; %d of %d flips rejected", len(enc), rejected, 3*len(enc))
}

// FuzzDecode: Decode never panics, and what it accepts can be read.
func FuzzDecode(f *testing.F) {
	rec := mixedRecord(f, memory.DefaultAllocator)
	enc, err := block.Encode(rec)
	rec.Release()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		got, err := block.Decode(aligned(b))
		if err != nil {
			if !errors.Is(err, block.ErrCorrupt) {
				t.Fatalf("%v, want ErrCorrupt", err)
			}
			return
		}
		readAll(got)
		got.Release()
	})
}
