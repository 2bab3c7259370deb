package main

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/rayo-dev/rayo/examples/batchinference/mlp"
)

// The pipeline's functions run in workers (tests/integration's
// TestBatchInference runs the whole program); these tests check them
// alone, without a cluster.

// tensorBatch makes a record of n rows: id, label and x, a
// fixed_size_list<float32>[pixels] column holding xs.
func tensorBatch(t *testing.T, xs []float32, labels []int) arrow.RecordBatch {
	t.Helper()
	mem := memory.DefaultAllocator
	n := len(labels)
	ids, lab := array.NewInt64Builder(mem), array.NewInt64Builder(mem)
	x := array.NewFixedSizeListBuilder(mem, pixels, arrow.PrimitiveTypes.Float32)
	vals := x.ValueBuilder().(*array.Float32Builder)
	for i := range n {
		ids.Append(int64(i))
		lab.Append(int64(labels[i]))
		x.Append(true)
		vals.AppendValues(xs[i*pixels:(i+1)*pixels], nil)
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "label", Type: arrow.PrimitiveTypes.Int64},
		{Name: "x", Type: arrow.FixedSizeListOf(pixels, arrow.PrimitiveTypes.Float32)},
	}, nil)
	return array.NewRecordBatch(schema, []arrow.Array{ids.NewArray(), lab.NewArray(), x.NewArray()}, int64(n))
}

// classify gives the model's own predictions, row by row, also on a
// slice of a batch (columns with an offset, as a batch cut from a block).
func TestClassify(t *testing.T) {
	ctx := context.Background()
	m, err := newClassifier(ctx, modelArgs{})
	if err != nil {
		t.Fatal(err)
	}
	xs, labels := mlp.Digits(300, 11)
	b := tensorBatch(t, xs, labels)
	probs, err := m.Predict(xs, len(labels))
	if err != nil {
		t.Fatal(err)
	}
	want := m.Argmax(probs)
	for _, cut := range [][2]int64{{0, 300}, {37, 250}} {
		part := b.NewSlice(cut[0], cut[1])
		out, err := classify(ctx, m, part)
		if err != nil {
			t.Fatal(err)
		}
		if !out.Schema().Equal(predSchema) || out.NumRows() != cut[1]-cut[0] {
			t.Fatalf("rows %v: %d rows of %v", cut, out.NumRows(), out.Schema())
		}
		id, label := out.Column(0).(*array.Int64), out.Column(1).(*array.Int64)
		pred, conf := out.Column(2).(*array.Int64), out.Column(3).(*array.Float32)
		for i := range int(out.NumRows()) {
			r := int(cut[0]) + i
			if id.Value(i) != int64(r) || label.Value(i) != int64(labels[r]) || pred.Value(i) != int64(want[r]) ||
				conf.Value(i) != probs[r*m.Out+want[r]] {
				t.Fatalf("rows %v, row %d: id %d label %d pred %d conf %v; want %d %d %d %v", cut, i,
					id.Value(i), label.Value(i), pred.Value(i), conf.Value(i), r, labels[r], want[r], probs[r*m.Out+want[r]])
			}
		}
	}
}

// A batch without the model's columns, or with them mistyped, fails with
// ErrBadBatch naming the column.
func TestClassifyBadBatch(t *testing.T) {
	ctx := context.Background()
	m, err := newClassifier(ctx, modelArgs{})
	if err != nil {
		t.Fatal(err)
	}
	xs, labels := mlp.Digits(4, 1)
	good := tensorBatch(t, xs, labels)
	mem := memory.DefaultAllocator
	f64 := array.NewFloat64Builder(mem)
	f64.AppendValues([]float64{1, 2, 3, 4}, nil)
	short := array.NewFixedSizeListBuilder(mem, 3, arrow.PrimitiveTypes.Float32)
	for range 4 {
		short.Append(true)
		short.ValueBuilder().(*array.Float32Builder).AppendValues([]float32{1, 2, 3}, nil)
	}
	for name, b := range map[string]arrow.RecordBatch{
		"no x":            replace(good, 2, "y", good.Column(2)),
		"x of 3 values":   replace(good, 2, "x", short.NewArray()),
		"label float64":   replace(good, 1, "label", f64.NewArray()),
		"no id (renamed)": replace(good, 0, "ident", good.Column(0)),
	} {
		if _, err := classify(ctx, m, b); !errors.Is(err, ErrBadBatch) {
			t.Errorf("%s: classify = %v, want ErrBadBatch", name, err)
		}
	}
}

// replace returns b with column i renamed to name and holding a.
func replace(b arrow.RecordBatch, i int, name string, a arrow.Array) arrow.RecordBatch {
	fields := append([]arrow.Field(nil), b.Schema().Fields()...)
	cols := append([]arrow.Array(nil), b.Columns()...)
	fields[i], cols[i] = arrow.Field{Name: name, Type: a.DataType()}, a
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, b.NumRows())
}

// The 8-bit input keeps the model's accuracy: quantizing to 0..255 and
// preprocessing back loses at most half a step.
func TestQuantizeRoundTrip(t *testing.T) {
	xs, _ := mlp.Digits(500, 3)
	step := (pixelHi - pixelLo) / 255
	for _, v := range xs {
		if v < pixelLo || v > pixelHi {
			continue // clipped: rare, 4 standard deviations of noise away
		}
		q := quantize(v)
		back := dequantize(q)
		if d := math.Abs(float64(back - v)); d > step/2+1e-5 {
			t.Fatalf("%v -> %d -> %v: off by %v, more than half a step %v", v, q, back, d, step/2)
		}
	}
}

// A model file that is not one fails the constructor with mlp's typed
// errors, naming the file.
func TestNewClassifierBadFile(t *testing.T) {
	ctx := context.Background()
	bad := filepath.Join(t.TempDir(), "model.bin")
	if err := os.WriteFile(bad, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	var fe *mlp.FileError
	if _, err := newClassifier(ctx, modelArgs{Path: bad}); !errors.Is(err, mlp.ErrFormat) || !errors.As(err, &fe) || fe.Path != bad {
		t.Errorf("newClassifier(%s) = %v, want an mlp.FileError of ErrFormat", bad, err)
	}
	if _, err := newClassifier(ctx, modelArgs{Path: filepath.Join(t.TempDir(), "absent")}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("newClassifier(absent) = %v, want os.ErrNotExist", err)
	}
}
