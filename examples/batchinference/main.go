// Command batchinference is rayo Data's batch-inference example, as Ray
// Data's "offline batch inference" guide: read images from Parquet,
// preprocess them in tasks, classify them with a real model on an
// autoscaling pool of actors that each load the model once, and write the
// predictions back as Parquet. Run it with
//
//	go run ./examples/batchinference
//
// It starts an embedded single-node cluster (set RAYO_ADDRESS=auto to use
// a running one). Without -input it makes its own input: -n 8x8 digit
// images (mlp.Digits) with their true labels, as 8-bit grayscale pixels
// in several Parquet files. The model (mlp/model.bin, embedded in
// the program) is a small MLP, package mlp. With -bench it also measures
// images/s of the same model called in a plain loop against the pipeline
// with a pool of one and of two actors.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/data"
	"github.com/rayo-dev/rayo/examples/batchinference/mlp"
)

// pixels is an image's size: mlp.Image x mlp.Image.
const pixels = mlp.Image * mlp.Image

// The 8-bit images cover the model's input range [pixelLo, pixelHi]:
// preprocessing maps 0..255 back onto it.
const (
	pixelLo = -1.5
	pixelHi = 2.5
)

// quantize is a pixel's 8-bit grayscale value, as a camera would store it.
func quantize(v float32) uint8 {
	return uint8(min(max((v-pixelLo)/(pixelHi-pixelLo)*255+0.5, 0), 255))
}

// dequantize is preprocessing's map back onto the model's input range.
func dequantize(p uint8) float32 { return pixelLo + float32(p)/255*(pixelHi-pixelLo) }

// image is a row of the input files.
type image struct {
	ID     int64         `arrow:"id"`
	Pixels [pixels]uint8 `arrow:"pixels"` // row-major 8x8, grayscale
	Label  int64         `arrow:"label"`  // the true digit
}

// ErrBadBatch is a batch the example's functions cannot read (a missing
// or mistyped column); registered so that errors.Is matches it in the
// driver when a worker returns it.
var ErrBadBatch = errors.New("batchinference: bad batch")

func init() { rayo.RegisterError("batchinference.ErrBadBatch", ErrBadBatch) }

// The pipeline's functions are registered at package level by a stable
// name, so that the workers (which run this same binary) have them too.
var (
	// preprocess turns 8-bit images into the model's float32 input
	// tensors, as torchvision's ToTensor then Normalize: scale to [0, 1],
	// then onto the range the model was trained on.
	preprocess = data.ColumnsFunc("batchinference.preprocess",
		func(_ context.Context, b struct {
			ID     []int64         `arrow:"id"`
			Pixels [][pixels]uint8 `arrow:"pixels"`
			Label  []int64         `arrow:"label"`
		}) (out struct {
			ID    []int64           `arrow:"id"`
			Label []int64           `arrow:"label"`
			X     [][pixels]float32 `arrow:"x"`
		}, err error) {
			out.ID, out.Label = b.ID, b.Label
			out.X = make([][pixels]float32, len(b.Pixels))
			for i, img := range b.Pixels {
				for j, p := range img {
					out.X[i][j] = dequantize(p)
				}
			}
			return out, nil
		})

	// classifier is the model on an actor pool (Ray's callable class given
	// to map_batches): the constructor loads the weights once per actor,
	// each call classifies one batch.
	classifier = data.RegisterClass("batchinference.classifier", newClassifier, classify)

	// correct marks the predictions that match the true label (1 or 0),
	// for the accuracy's Mean.
	correct = data.ColumnFunc("batchinference.correct", func(_ context.Context, b arrow.RecordBatch) (arrow.Array, error) {
		pred, err := int64Column(b, "pred")
		if err != nil {
			return nil, err
		}
		label, err := int64Column(b, "label")
		if err != nil {
			return nil, err
		}
		bld := array.NewFloat64Builder(memory.DefaultAllocator)
		defer bld.Release()
		bld.Reserve(len(pred))
		for i := range pred {
			if pred[i] == label[i] {
				bld.UnsafeAppend(1)
			} else {
				bld.UnsafeAppend(0)
			}
		}
		return bld.NewArray(), nil
	})
)

// modelArgs are the classifier's constructor arguments: a model file, or
// "" for the embedded one.
type modelArgs struct {
	Path string
}

// newClassifier loads the model: it runs once per actor of the pool.
func newClassifier(_ context.Context, a modelArgs) (*mlp.Model, error) {
	if a.Path != "" {
		return mlp.Load(a.Path)
	}
	return mlp.Shipped()
}

// predSchema is the output's schema.
var predSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "label", Type: arrow.PrimitiveTypes.Int64},
	{Name: "pred", Type: arrow.PrimitiveTypes.Int64},
	{Name: "confidence", Type: arrow.PrimitiveTypes.Float32},
}, nil)

// classify runs the model on a batch of preprocessed images and returns
// each image's id, true label, predicted class and its probability.
func classify(_ context.Context, m *mlp.Model, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	x, err := tensorColumn(b, "x", m.In)
	if err != nil {
		return nil, err
	}
	rows := int(b.NumRows())
	probs, err := m.Predict(x, rows)
	if err != nil {
		return nil, err
	}
	ids, err := int64Column(b, "id")
	if err != nil {
		return nil, err
	}
	labels, err := int64Column(b, "label")
	if err != nil {
		return nil, err
	}
	pred := m.Argmax(probs)
	mem := memory.DefaultAllocator
	pb, cb := array.NewInt64Builder(mem), array.NewFloat32Builder(mem)
	defer pb.Release()
	defer cb.Release()
	pb.Reserve(rows)
	cb.Reserve(rows)
	for i, c := range pred {
		pb.UnsafeAppend(int64(c))
		cb.UnsafeAppend(probs[i*m.Out+c])
	}
	// The id and label columns are copied: b may point into the object
	// store's memory, valid only during this call.
	cols := []arrow.Array{copyInt64(mem, ids), copyInt64(mem, labels), pb.NewArray(), cb.NewArray()}
	return array.NewRecordBatch(predSchema, cols, int64(rows)), nil
}

func copyInt64(mem memory.Allocator, v []int64) arrow.Array {
	b := array.NewInt64Builder(mem)
	defer b.Release()
	b.AppendValues(v, nil)
	return b.NewArray()
}

// column returns b's column name.
func column(b arrow.RecordBatch, name string) (arrow.Array, error) {
	idx := b.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return nil, fmt.Errorf("%w: no column %q in %v", ErrBadBatch, name, b.Schema())
	}
	return b.Column(idx[0]), nil
}

// int64Column returns b's int64 column name without nulls, in place.
func int64Column(b arrow.RecordBatch, name string) ([]int64, error) {
	c, err := column(b, name)
	if err != nil {
		return nil, err
	}
	a, ok := c.(*array.Int64)
	if !ok || a.NullN() > 0 {
		return nil, fmt.Errorf("%w: column %q is %v with %d nulls, want int64 without nulls", ErrBadBatch, name, c.DataType(), c.NullN())
	}
	return a.Int64Values(), nil
}

// tensorColumn returns b's column name, a fixed-size list of n float32s
// per row without nulls, as one row-major slice (in place: no copy).
func tensorColumn(b arrow.RecordBatch, name string, n int) ([]float32, error) {
	c, err := column(b, name)
	if err != nil {
		return nil, err
	}
	l, ok := c.(*array.FixedSizeList)
	if !ok || l.DataType().(*arrow.FixedSizeListType).Len() != int32(n) || l.NullN() > 0 {
		return nil, fmt.Errorf("%w: column %q is %v with %d nulls, want fixed_size_list<float32>[%d] without nulls", ErrBadBatch, name, c.DataType(), c.NullN(), n)
	}
	v, ok := l.ListValues().(*array.Float32)
	if !ok || v.NullN() > 0 {
		return nil, fmt.Errorf("%w: column %q holds %v with %d nulls, want float32 without nulls", ErrBadBatch, name, l.ListValues().DataType(), l.ListValues().NullN())
	}
	start := l.Offset() * n
	return v.Float32Values()[start : start+l.Len()*n], nil
}

// config is the command line.
type config struct {
	n                    int
	input, output, model string
	actors, batch        int
	bench                bool
	repeat               int
}

func main() {
	ctx := context.Background()
	// A worker process serves tasks and never returns from Init, so it
	// never parses the driver's flags.
	if rayo.IsWorker() {
		if err := rayo.Init(ctx); err != nil {
			log.Fatal(err)
		}
	}
	var c config
	flag.IntVar(&c.n, "n", 20000, "images to make when the input directory does not exist")
	flag.StringVar(&c.input, "input", "", "directory of input Parquet files, made if absent (default: a temporary directory, removed at exit)")
	flag.StringVar(&c.output, "output", "", "directory for the predictions, which must not hold files (default: a temporary directory, removed at exit)")
	flag.StringVar(&c.model, "model", "", "model file (default: the embedded model.bin)")
	flag.IntVar(&c.actors, "actors", 2, "the actor pool's largest size (it starts with 1)")
	flag.IntVar(&c.batch, "batch", 256, "images per model call")
	flag.BoolVar(&c.bench, "bench", false, "also measure images/s: a plain loop, then pools of 1 and 2 actors")
	flag.IntVar(&c.repeat, "repeat", 3, "with -bench: runs of each measurement")
	flag.Parse()
	if c.n < 1 || c.actors < 1 || c.batch < 1 || c.repeat < 1 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "batchinference: -n, -actors, -batch and -repeat must be 1 or more, and there are no arguments")
		flag.Usage()
		os.Exit(2)
	}

	if err := rayo.Init(ctx); err != nil {
		log.Fatal(err)
	}
	err := run(ctx, c)
	rayo.Shutdown()
	if err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, c config) error {
	tmp, err := os.MkdirTemp("", "rayo-batchinference-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	kept := c.input != "" || c.output != ""
	if c.input == "" {
		c.input = filepath.Join(tmp, "images")
	}
	if c.output == "" {
		c.output = filepath.Join(tmp, "predictions")
	}

	if _, err := os.Stat(c.input); errors.Is(err, os.ErrNotExist) {
		if err := makeInput(ctx, c.input, c.n); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}

	res, err := infer(ctx, c.input, c.output, c.model, 1, c.actors, c.batch)
	if err != nil {
		return err
	}
	fmt.Printf("images: %d in %v: %.0f images/s (Parquet to Parquet, pool of 1 to %d actors)\n",
		res.rows, res.took.Round(time.Millisecond), float64(res.rows)/res.took.Seconds(), c.actors)
	fmt.Println("per operator (Dataset.Stats):")
	for _, s := range res.stats.Ops {
		fmt.Printf("  %-45s rows %7d  blocks %4d  tasks %4d  actors %d  wall %8v  task CPU %8v  bytes %9d\n",
			s.Op, s.Rows, s.Blocks, s.Tasks, s.Actors, s.Wall.Round(time.Millisecond), s.TaskCPU.Round(time.Millisecond), s.Bytes)
	}
	if len(res.stats.Ops) == 0 {
		fmt.Println("  (none recorded)")
	}
	fmt.Printf("  object store: peak %d bytes held or reserved for running tasks, of a budget of %d\n", res.stats.PeakBytes, res.stats.Budget)

	// Read the predictions back: the accuracy is the mean of "correct".
	agg, err := data.ReadParquet([]string{c.output}).AddColumn("correct", correct).
		Aggregate(ctx, data.Count(), data.Mean("correct"), data.Mean("confidence"))
	if err != nil {
		return err
	}
	n, acc, conf, err := aggregates(agg)
	if err != nil {
		return err
	}
	fmt.Printf("predictions: %d rows, accuracy %.4f, mean confidence %.4f\n", n, acc, conf)
	if n != res.rows {
		return fmt.Errorf("read back %d predictions, wrote %d", n, res.rows)
	}
	fmt.Printf("input: %s\noutput: %d files in %s\n", c.input, len(res.files), c.output)
	if !kept {
		fmt.Println("(temporary: removed at exit; pass -input and -output to keep them)")
	}

	if c.bench {
		return bench(ctx, c, tmp)
	}
	return nil
}

// makeInput writes n digit images with their labels as Parquet files.
func makeInput(ctx context.Context, dir string, n int) error {
	x, labels := mlp.Digits(n, 7)
	items := make([]image, n)
	for i := range items {
		items[i].ID, items[i].Label = int64(i), int64(labels[i])
		for j, v := range x[i*pixels : (i+1)*pixels] {
			items[i].Pixels[j] = quantize(v)
		}
	}
	ds, err := data.FromItems(ctx, items)
	if err != nil {
		return err
	}
	files, err := ds.WithOptions(data.Progress(data.ProgressQuiet, nil)).
		WriteParquet(ctx, dir, data.MaxRowsPerFile(int64(max(1, (n+7)/8))))
	if err != nil {
		return err
	}
	fmt.Printf("made %d images in %d Parquet files in %s\n", n, len(files), dir)
	return nil
}

// result is a pipeline run's outcome.
type result struct {
	rows  int64
	files []string
	took  time.Duration
	stats data.RunStats
}

// infer runs the pipeline: Parquet -> preprocess (tasks) -> the model (a
// pool of minActors to maxActors actors) -> Parquet.
func infer(ctx context.Context, input, output, model string, minActors, maxActors, batch int) (result, error) {
	ds := data.ReadParquet([]string{input}).
		MapBatches(preprocess, data.BatchSize(batch)).
		MapBatches(classifier.With(modelArgs{Path: model}), data.Concurrency(minActors, maxActors), data.BatchSize(batch))
	start := time.Now()
	files, err := ds.WriteParquet(ctx, output, data.MaxRowsPerFile(5000))
	took := time.Since(start)
	if err != nil {
		return result{}, err
	}
	st := ds.Stats()
	var rows int64
	if len(st.Ops) > 0 {
		rows = st.Ops[len(st.Ops)-1].Rows
	}
	return result{rows: rows, files: files, took: took, stats: st}, nil
}

// aggregates reads Aggregate's one-row result.
func aggregates(r arrow.RecordBatch) (n int64, acc, conf float64, err error) {
	defer r.Release()
	get := func(name string) (float64, error) {
		idx := r.Schema().FieldIndices(name)
		if len(idx) == 0 || r.NumRows() != 1 {
			return 0, fmt.Errorf("%w: no %q in the aggregate %v", ErrBadBatch, name, r.Schema())
		}
		switch a := r.Column(idx[0]).(type) {
		case *array.Int64:
			return float64(a.Value(0)), nil
		case *array.Float64:
			return a.Value(0), nil
		}
		return 0, fmt.Errorf("%w: %q is %v", ErrBadBatch, name, r.Column(idx[0]).DataType())
	}
	cnt, err := get("count()")
	if err != nil {
		return 0, 0, 0, err
	}
	if acc, err = get("mean(correct)"); err != nil {
		return 0, 0, 0, err
	}
	if conf, err = get("mean(confidence)"); err != nil {
		return 0, 0, 0, err
	}
	return int64(cnt), acc, conf, nil
}
