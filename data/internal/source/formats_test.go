package source

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

func TestCSV(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "k=a", "1.csv"), []byte("id,name,score,ok\n1,x,1.5,true\n2,y,,false\n3,\"z,z\",2,true\n"))
	writeFile(t, filepath.Join(dir, "k=b", "2.csv"), []byte("\ufeffid,name,score,ok\n4,w,3.5,false\n")) // with a BOM
	units, sc := mustPlan(t, CSV, []string{dir}, DefaultOptions())
	if len(units) != 2 || sc != nil || units[0].Rows != -1 || units[0].Bytes == 0 {
		t.Fatalf("Plan: %+v %v", units, sc)
	}
	tb := mustRead(t, CSV, units, DefaultOptions())
	if tb.names() != "id,name,score,ok,k" {
		t.Fatalf("columns %s", tb.names())
	}
	want := []string{"int64", "utf8", "float64", "bool", "utf8"}
	for i, f := range tb.schema.Fields() {
		if f.Type.String() != want[i] {
			t.Errorf("column %s is %s, want %s", f.Name, f.Type, want[i])
		}
	}
	if !slices.Equal(tb.col("score"), []string{"1.5", "(null)", "2", "3.5"}) || tb.col("name")[2] != "z,z" {
		t.Errorf("rows %v", tb.rows)
	}

	opts := DefaultOptions()
	opts.Columns = []string{"name", "k"}
	opts.Filter = []Predicate{{"score", ">=", int64(2)}}
	tb = mustRead(t, CSV, units, opts)
	if tb.names() != "name,k" || !slices.Equal(tb.col("name"), []string{"z,z", "w"}) || !slices.Equal(tb.col("k"), []string{"a", "b"}) {
		t.Errorf("projected and filtered: %s %v", tb.names(), tb.rows)
	}

	// A partition filter prunes at Plan.
	opts = DefaultOptions()
	opts.Filter = []Predicate{{"k", "==", "b"}, {"id", ">", int64(0)}}
	units2, _ := mustPlan(t, CSV, []string{dir}, opts)
	if len(units2) != 1 || !strings.Contains(units2[0].Path, "k=b") {
		t.Errorf("partition pruning: %+v", units2)
	}
	opts.Filter = []Predicate{{"k", "==", int64(1)}}
	if _, _, err := Plan(context.Background(), CSV, []string{dir}, opts); !errors.Is(err, ErrUnsupported) {
		t.Errorf("an int64 value against a string partition: %v", err)
	}

	// No header, another delimiter; the inferred type widens past the
	// first row.
	p := filepath.Join(t.TempDir(), "raw.txt")
	writeFile(t, p, []byte("1;a\n2.5;b\n"))
	opts = DefaultOptions()
	opts.Header = false
	opts.Delimiter = ';'
	units, _ = mustPlan(t, CSV, []string{p}, opts)
	tb = mustRead(t, CSV, units, opts)
	if tb.names() != "f0,f1" || tb.schema.Field(0).Type.ID() != arrow.FLOAT64 || !slices.Equal(tb.col("f0"), []string{"1", "2.5"}) {
		t.Errorf("headerless: %s %v", tb.schema, tb.rows)
	}

	// Only a partition column: rows counted.
	opts = DefaultOptions()
	opts.Columns = []string{"k"}
	units, _ = mustPlan(t, CSV, []string{dir}, opts)
	tb = mustRead(t, CSV, units, opts)
	if !slices.Equal(tb.col("k"), []string{"a", "a", "a", "b"}) {
		t.Errorf("partition only: %v", tb.rows)
	}
}

func TestCSVErrors(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	read := func(p string, opts Options) error {
		return Read(ctx, CSV, Unit{Path: p, Rows: -1}, opts, func(arrow.RecordBatch) error { return nil })
	}
	ragged := filepath.Join(dir, "ragged.csv")
	writeFile(t, ragged, []byte("a,b\n1,2\n3\n"))
	if err := read(ragged, DefaultOptions()); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), ragged) {
		t.Errorf("a short row: %v", err)
	}
	// Past the inference window, the short row is named by the rows
	// around it.
	short := filepath.Join(dir, "short.csv")
	writeFile(t, short, []byte("a,b\n"+strings.Repeat("1,2\n", inferRows+10)+"3\n"))
	opts0 := DefaultOptions()
	opts0.TargetRows = 8
	var es *Error
	if err := read(short, opts0); !errors.As(err, &es) || !errors.Is(err, ErrCorrupt) || es.FirstRow > inferRows+10 || es.LastRow < inferRows+10 {
		t.Errorf("a late short row: %v, want ErrCorrupt with rows around %d", err, inferRows+10)
	}
	// A value past the inference window that does not fit its type.
	var b strings.Builder
	b.WriteString("n\n")
	for range inferRows + 5 {
		b.WriteString("1\n")
	}
	b.WriteString("oops\n")
	late := filepath.Join(dir, "late.csv")
	writeFile(t, late, []byte(b.String()))
	opts := DefaultOptions()
	opts.TargetRows = 100
	err := read(late, opts)
	var e *Error
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &e) || e.FirstRow != 1000 || e.LastRow != 1005 {
		t.Errorf("a late bad value: %v, want ErrCorrupt for rows 1000-1005", err)
	}
	good := filepath.Join(dir, "good.csv")
	writeFile(t, good, []byte("a,b\n1,2\n"))
	opts = DefaultOptions()
	opts.Columns = []string{"c"}
	if err := read(good, opts); !errors.Is(err, ErrNoColumn) || !strings.Contains(err.Error(), "a, b") {
		t.Errorf("missing column: %v", err)
	}
	opts = DefaultOptions()
	opts.Filter = []Predicate{{"a", "==", "x"}}
	if err := read(good, opts); !errors.Is(err, ErrUnsupported) {
		t.Errorf("string value against an int64 column: %v", err)
	}
	if err := read(filepath.Join(dir, "gone.csv"), DefaultOptions()); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing file: %v", err)
	}
	// An empty file is no rows, not an error.
	empty := filepath.Join(dir, "empty.csv")
	writeFile(t, empty, nil)
	tb := mustRead(t, CSV, []Unit{{Path: empty}}, DefaultOptions())
	if len(tb.rows) != 0 || len(tb.records) != 1 {
		t.Errorf("empty file: %v", tb)
	}
}

func TestJSONLines(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.jsonl")
	writeFile(t, p, []byte(`{"id": 1, "tags": ["a"], "pt": {"x": 1}, "v": 1}
{"id": 2, "tags": [], "pt": {"x": 2, "y": "q"}, "v": 2.5, "extra": true}

{"id": 3, "tags": null, "v": null}
`))
	units, _ := mustPlan(t, JSON, []string{p}, DefaultOptions())
	tb := mustRead(t, JSON, units, DefaultOptions())
	if tb.names() != "id,tags,pt,v,extra" {
		t.Fatalf("columns %s", tb.schema)
	}
	wantTypes := []string{"int64", "list<item: utf8, nullable>", "struct<x: int64 nullable, y: utf8 nullable>", "float64", "bool"}
	for i, f := range tb.schema.Fields() {
		if f.Type.String() != wantTypes[i] {
			t.Errorf("column %s: %s, want %s", f.Name, f.Type, wantTypes[i])
		}
	}
	if !slices.Equal(tb.col("id"), []string{"1", "2", "3"}) || tb.col("v")[1] != "2.5" || tb.col("extra")[0] != "(null)" {
		t.Errorf("rows %v", tb.rows)
	}
	opts := DefaultOptions()
	opts.Columns = []string{"v"}
	opts.Filter = []Predicate{{"id", ">", int64(1)}}
	tb = mustRead(t, JSON, units, opts)
	if tb.names() != "v" || !slices.Equal(tb.col("v"), []string{"2.5", "(null)"}) {
		t.Errorf("projected: %s %v", tb.names(), tb.rows)
	}

	ctx := context.Background()
	for name, body := range map[string]string{
		"not json":       "{\"a\": 1}\n{oops\n",
		"not an object":  "{\"a\": 1}\n[1, 2]\n",
		"two values":     "{\"a\": 1} {\"a\": 2}\n",
		"late bad value": "{\"a\": 1}\n" + strings.Repeat("{\"a\": 2}\n", inferRows) + "{\"a\": \"x\"}\n",
	} {
		q := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".jsonl")
		writeFile(t, q, []byte(body))
		err := Read(ctx, JSON, Unit{Path: q}, DefaultOptions(), func(arrow.RecordBatch) error { return nil })
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), q) {
			t.Errorf("%s: %v, want ErrCorrupt naming the file", name, err)
		}
	}
	mixed := filepath.Join(dir, "mixed.jsonl")
	writeFile(t, mixed, []byte("{\"a\": 1}\n{\"a\": \"x\"}\n"))
	err := Read(ctx, JSON, Unit{Path: mixed}, DefaultOptions(), func(arrow.RecordBatch) error { return nil })
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("mixed types: %v", err)
	}
}

func TestTextAndBinary(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.txt")
	writeFile(t, a, []byte("one\r\n\ntwo\nthree"))
	opts := DefaultOptions()
	opts.TargetRows = 2
	opts.IncludePaths = true
	units, sc := mustPlan(t, Text, []string{a}, opts)
	if arrowNames(sc) != "text,path" {
		t.Errorf("text schema %s", sc)
	}
	tb := mustRead(t, Text, units, opts)
	if !slices.Equal(tb.col("text"), []string{"one", "two", "three"}) || !slices.Equal(tb.records, []int64{2, 1}) || tb.col("path")[0] != a {
		t.Errorf("text: %v in %v", tb.rows, tb.records)
	}
	opts.Filter = []Predicate{{"text", ">", "p"}}
	tb = mustRead(t, Text, units, opts)
	if !slices.Equal(tb.col("text"), []string{"two", "three"}) {
		t.Errorf("text filtered: %v", tb.rows)
	}

	blob := []byte{0, 1, 2, 255}
	writeFile(t, filepath.Join(dir, "bin", "x.bin"), blob)
	opts = DefaultOptions()
	opts.IncludePaths = true
	units, sc = mustPlan(t, Binary, []string{filepath.Join(dir, "bin")}, opts)
	if arrowNames(sc) != "bytes,path" || len(units) != 1 || units[0].Rows != 1 || units[0].Bytes != 4 {
		t.Fatalf("binary plan %+v %s", units, sc)
	}
	var got []byte
	err := Read(context.Background(), Binary, units[0], opts, func(rec arrow.RecordBatch) error {
		got = slices.Clone(rec.Column(0).(*array.Binary).Value(0))
		return nil
	})
	if err != nil || !bytes.Equal(got, blob) {
		t.Errorf("binary: %v %v", got, err)
	}
	// A path filter prunes at Plan.
	opts.Filter = []Predicate{{"path", "==", "elsewhere"}}
	if units, _ = mustPlan(t, Binary, []string{filepath.Join(dir, "bin")}, opts); len(units) != 0 {
		t.Errorf("path filter left %v", units)
	}
}

func TestImages(t *testing.T) {
	dir := t.TempDir()
	img := image.NewNRGBA(image.Rect(0, 0, 4, 3))
	for y := range 3 {
		for x := range 4 {
			img.Set(x, y, color.NRGBA{uint8(10 * x), uint8(20 * y), 7, 255})
		}
	}
	var pb, jb bytes.Buffer
	if err := png.Encode(&pb, img); err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(&jb, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "a.png"), pb.Bytes())
	writeFile(t, filepath.Join(dir, "b.jpg"), jb.Bytes())
	writeFile(t, filepath.Join(dir, "notes.txt"), []byte("not an image"))

	units, sc := mustPlan(t, Images, []string{dir}, DefaultOptions())
	if len(units) != 2 || sc != nil {
		t.Fatalf("Plan: %+v %v (the .txt is not an image)", units, sc)
	}
	var recs []arrow.RecordBatch
	for _, u := range units {
		err := Read(context.Background(), Images, u, DefaultOptions(), func(rec arrow.RecordBatch) error {
			rec.Retain()
			recs = append(recs, rec)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	png0 := recs[0]
	if arrowNames(png0.Schema()) != "image,height,width,channels" || png0.Schema().Field(0).Type.String() != "fixed_size_list<item: uint8, nullable>[36]" {
		t.Fatalf("schema %s", png0.Schema())
	}
	pix := png0.Column(0).(*array.FixedSizeList).ListValues().(*array.Uint8).Uint8Values()
	// pixel (x=2, y=1): offset (1*4+2)*3
	if o := (1*4 + 2) * 3; pix[o] != 20 || pix[o+1] != 20 || pix[o+2] != 7 {
		t.Errorf("pixel (2,1) = %v, want [20 20 7]", pix[o:o+3])
	}
	if png0.Column(1).ValueStr(0) != "3" || png0.Column(2).ValueStr(0) != "4" || png0.Column(3).ValueStr(0) != "3" {
		t.Errorf("shape %s %s %s", png0.Column(1).ValueStr(0), png0.Column(2).ValueStr(0), png0.Column(3).ValueStr(0))
	}
	if recs[1].Column(0).(*array.FixedSizeList).Len() != 1 || recs[1].Column(2).ValueStr(0) != "4" {
		t.Errorf("jpeg: %v", recs[1])
	}

	// Resized to 2x2 grey: every unit has the same tensor type, known at Plan.
	opts := DefaultOptions()
	opts.Width, opts.Height, opts.Mode = 2, 2, "L"
	units, sc = mustPlan(t, Images, []string{dir}, opts)
	if sc == nil || sc.Field(0).Type.String() != "fixed_size_list<item: uint8, nullable>[4]" {
		t.Fatalf("resized schema %v", sc)
	}
	tb := mustRead(t, Images, units, opts)
	if len(tb.rows) != 2 || tb.col("height")[0] != "2" || tb.col("channels")[1] != "1" {
		t.Errorf("resized rows %v", tb.rows)
	}

	bad := filepath.Join(dir, "bad.png")
	writeFile(t, bad, append(slices.Clone(pb.Bytes()[:len(pb.Bytes())/2]), 1, 2, 3))
	trunc := filepath.Join(dir, "junk.jpg")
	writeFile(t, trunc, []byte("GIF89a not really"))
	for _, p := range []string{bad, trunc} {
		err := Read(context.Background(), Images, Unit{Path: p}, DefaultOptions(), func(arrow.RecordBatch) error { return nil })
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want ErrCorrupt naming it", p, err)
		}
	}
}

// TestPartitionKeyThatIsAlsoAColumn: the two would make a filter on the
// name ambiguous, so the read refuses it.
func TestPartitionKeyThatIsAlsoAColumn(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "id=1", "a.parquet")
	writeParquet(t, p, 0, 3, 3)
	_, _, err := Plan(context.Background(), Parquet, []string{dir}, DefaultOptions())
	var e *Error
	if !errors.Is(err, ErrSchemaMismatch) || !errors.As(err, &e) || e.Column != "id" || e.Path != p {
		t.Errorf("%v, want ErrSchemaMismatch on column id", err)
	}
	// Read refuses it too, even projected to the partition column alone.
	o := DefaultOptions()
	o.Columns = []string{"id"}
	u := Unit{Path: p, Partition: []KV{{Key: "id", Value: "1", Int: true}}}
	if err := Read(context.Background(), Parquet, u, o, func(arrow.RecordBatch) error { return nil }); !errors.Is(err, ErrSchemaMismatch) {
		t.Errorf("Read: %v", err)
	}
	opts := DefaultOptions()
	opts.Partitioning = false
	units, _ := mustPlan(t, Parquet, []string{dir}, opts)
	if tb := mustRead(t, Parquet, units, opts); !slices.Equal(tb.col("id"), seq(0, 3)) {
		t.Errorf("without partitioning: %v", tb.rows)
	}
}

// TestTypesOption: files inferred alone can disagree (3 against 3.5);
// Types makes every file give one schema.
func TestTypesOption(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "c", "a.csv"), []byte("x,y\n1,a\n"))
	writeFile(t, filepath.Join(dir, "c", "b.csv"), []byte("x,y\n1.5,b\n"))
	writeFile(t, filepath.Join(dir, "j", "a.jsonl"), []byte("{\"x\": 1}\n"))
	units, _ := mustPlan(t, CSV, []string{filepath.Join(dir, "c")}, DefaultOptions())
	if _, err := readAll(t, CSV, units, DefaultOptions()); err == nil || !strings.Contains(err.Error(), "schema changed") {
		t.Fatalf("inferred per file: %v, want the two files' schemas to differ", err)
	}
	opts := DefaultOptions()
	opts.Types = map[string]string{"x": "float64", "absent": "int64"}
	tb := mustRead(t, CSV, units, opts)
	if !slices.Equal(tb.col("x"), []string{"1", "1.5"}) || tb.schema.Field(0).Type.ID() != arrow.FLOAT64 {
		t.Errorf("with Types: %s %v", tb.schema, tb.rows)
	}
	units, _ = mustPlan(t, JSON, []string{filepath.Join(dir, "j")}, opts)
	if tb := mustRead(t, JSON, units, opts); tb.schema.Field(0).Type.ID() != arrow.FLOAT64 {
		t.Errorf("JSON with Types: %s", tb.schema)
	}
	opts.Types = map[string]string{"x": "decimal"}
	if _, _, err := Plan(context.Background(), CSV, []string{dir}, opts); !errors.Is(err, ErrUnsupported) {
		t.Errorf("an unknown type name: %v", err)
	}
}

// TestEmitPanicIsNotCorruption: a panic in the caller's emit is reported
// as such, not blamed on the file.
func TestEmitPanicIsNotCorruption(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.txt")
	writeFile(t, p, []byte("x\n"))
	err := Read(context.Background(), Text, Unit{Path: p}, DefaultOptions(), func(arrow.RecordBatch) error { panic("boom") })
	if !errors.Is(err, ErrEmitPanicked) || errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "boom") {
		t.Errorf("%v", err)
	}
}

// TestReaderPanicBecomesCorrupt: recovered, which every reader defers,
// turns a panic (arrow-go on damaged input) into ErrCorrupt naming the file.
func TestReaderPanicBecomesCorrupt(t *testing.T) {
	err := func() (err error) {
		defer recovered("/x/f.parquet", &err)
		var a []int
		_ = a[3]
		return nil
	}()
	var e *Error
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &e) || e.Path != "/x/f.parquet" {
		t.Errorf("%v", err)
	}
}

// TestImageTooLarge: a PNG whose header claims 100000x100000 pixels is
// refused before any pixel is allocated.
func TestImageTooLarge(t *testing.T) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	// IHDR: 8-byte signature, 4-byte length, "IHDR", width, height, ...
	binary.BigEndian.PutUint32(b[16:], 100000)
	binary.BigEndian.PutUint32(b[20:], 100000)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	p := filepath.Join(t.TempDir(), "bomb.png")
	writeFile(t, p, b)
	err := Read(context.Background(), Images, Unit{Path: p}, DefaultOptions(), func(arrow.RecordBatch) error { return nil })
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "100000x100000") {
		t.Errorf("%v, want ErrUnsupported for the size", err)
	}
}
