package data_test

import (
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/rayo-dev/rayo/data"
)

// TestReadParquet: files written by the dataset read back with a
// projection, a pushed-down filter and hive partition columns; bad input
// gets typed errors naming the file.
func TestReadParquet(t *testing.T) {
	ctx := testCtx(t)
	base := t.TempDir()
	for _, y := range []string{"2024", "2025"} {
		if _, err := quiet(data.Range(1000, data.Parallelism(3))).Map(fSquare).WriteParquet(ctx, filepath.Join(base, "year="+y), data.MaxRowsPerFile(400)); err != nil {
			t.Fatal(err)
		}
	}
	ds := quiet(data.ReadParquet([]string{base}))
	if n, err := ds.Count(ctx); err != nil || n != 2000 {
		t.Fatalf("Count from metadata: %d %v", n, err)
	}
	type row struct {
		Sq   int64 `arrow:"sq"`
		Year int64 `arrow:"year"`
	}
	got, err := data.TakeAll[row](ctx, quiet(data.ReadParquet([]string{base}, data.Where("sq", ">=", int64(998*998)), data.Columns("sq", "year"))))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[0] != (row{998 * 998, 2024}) || got[3] != (row{999 * 999, 2025}) {
		t.Fatalf("filtered rows %+v", got)
	}
	// Projection pushdown: a select right after the read.
	schema, err := quiet(data.ReadParquet([]string{base})).SelectColumns("year").Schema(ctx)
	if err != nil || schema.NumFields() != 1 {
		t.Fatalf("schema %v %v", schema, err)
	}

	_, err = quiet(data.ReadParquet([]string{filepath.Join(base, "nope")})).Count(ctx)
	if !errors.Is(err, data.ErrNotFound) || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("a missing path: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.parquet")
	if err := os.WriteFile(bad, []byte("PAR1 this is not parquet PAR1"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = quiet(data.ReadParquet([]string{bad})).Count(ctx)
	if !errors.Is(err, data.ErrCorrupt) || !strings.Contains(err.Error(), "bad.parquet") {
		t.Fatalf("a corrupt file: %v", err)
	}
	_, err = quiet(data.ReadParquet([]string{base}, data.Columns("nope"))).Count(ctx)
	if !errors.Is(err, data.ErrNoColumn) && !strings.Contains(err.Error(), "nope") {
		t.Fatalf("a missing column: %v", err)
	}
}

func TestReadCSVJSONText(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	if _, err := quiet(data.Range(50)).Map(fSquare).WriteCSV(ctx, filepath.Join(dir, "csv")); err != nil {
		t.Fatal(err)
	}
	got, err := data.TakeAll[squareRow](ctx, quiet(data.ReadCSV([]string{filepath.Join(dir, "csv")})))
	if err != nil || len(got) != 50 || got[7] != (squareRow{7, 49}) {
		t.Fatalf("csv: %d rows %v", len(got), err)
	}
	if _, err := quiet(data.Range(50)).Map(fSquare).WriteJSON(ctx, filepath.Join(dir, "json")); err != nil {
		t.Fatal(err)
	}
	got, err = data.TakeAll[squareRow](ctx, quiet(data.ReadJSON([]string{filepath.Join(dir, "json", "*.json")})))
	if err != nil || len(got) != 50 || got[9] != (squareRow{9, 81}) {
		t.Fatalf("json: %d rows %v", len(got), err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("one\ntwo\n\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	type line struct {
		Text string `arrow:"text"`
	}
	lines, err := data.TakeAll[line](ctx, quiet(data.ReadText([]string{filepath.Join(dir, "a.txt")})))
	if err != nil || len(lines) != 3 || lines[2].Text != "three" {
		t.Fatalf("text: %+v %v", lines, err)
	}
}

func TestReadImagesAndBinaryFiles(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	for i, size := range []int{4, 6} {
		img := image.NewRGBA(image.Rect(0, 0, size, size))
		for p := range img.Pix {
			img.Pix[p] = uint8(i*50 + p%7)
		}
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("img%d.png", i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	rec, err := quiet(data.ReadImages([]string{dir}, data.ImageSize(8, 5))).TakeBatch(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if rec.NumRows() != 2 {
		t.Fatalf("%d images", rec.NumRows())
	}
	h := rec.Column(rec.Schema().FieldIndices("height")[0]).(*array.Int32)
	w := rec.Column(rec.Schema().FieldIndices("width")[0]).(*array.Int32)
	col := rec.Column(rec.Schema().FieldIndices("image")[0])
	if h.Value(0) != 5 || w.Value(1) != 8 || col.DataType().ID() != arrow.FIXED_SIZE_LIST {
		t.Fatalf("images: %v %v %v", h, w, col.DataType())
	}
	type fileRow struct {
		Bytes []byte `arrow:"bytes"`
		Path  string `arrow:"path"`
	}
	files, err := data.TakeAll[fileRow](ctx, quiet(data.ReadBinaryFiles([]string{filepath.Join(dir, "*.png")}, data.IncludePaths())))
	if err != nil || len(files) != 2 || !strings.HasSuffix(files[1].Path, "img1.png") || len(files[0].Bytes) == 0 {
		t.Fatalf("binary files: %d %v", len(files), err)
	}
	bad := filepath.Join(t.TempDir(), "bad.png")
	os.WriteFile(bad, []byte("\x89PNG\r\n\x1a\nnot really"), 0o644)
	if _, err := quiet(data.ReadImages([]string{bad})).Count(ctx); !errors.Is(err, data.ErrCorrupt) {
		t.Fatalf("a corrupt image: %v", err)
	}
}
