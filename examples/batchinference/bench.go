package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/rayo-dev/rayo/data"
)

// bench measures images/s on the same input: the model called in a plain
// loop in this process, then the whole pipeline with a pool of one actor
// and of two (issue 16's batch-inference benchmark row), each c.repeat
// times: it prints the median and the best.
func bench(ctx context.Context, c config, tmp string) error {
	// The plain loop: the images in memory first (not timed), then
	// preprocess and predict batch after batch in one goroutine: the same
	// work as the pipeline's two functions, without reading or writing.
	imgs, err := data.TakeAll[image](ctx, data.ReadParquet([]string{c.input}).
		WithOptions(data.Progress(data.ProgressQuiet, nil)))
	if err != nil {
		return err
	}
	m, err := newClassifier(ctx, modelArgs{Path: c.model})
	if err != nil {
		return err
	}
	x := make([]float32, c.batch*pixels)
	loop := func() (time.Duration, int, error) {
		right := 0
		start := time.Now()
		for lo := 0; lo < len(imgs); lo += c.batch {
			b := imgs[lo:min(lo+c.batch, len(imgs))]
			for i := range b {
				for j, p := range b[i].Pixels {
					x[i*pixels+j] = dequantize(p)
				}
			}
			probs, err := m.Predict(x[:len(b)*pixels], len(b))
			if err != nil {
				return 0, 0, err
			}
			for i, p := range m.Argmax(probs) {
				if int64(p) == b[i].Label {
					right++
				}
			}
		}
		return time.Since(start), right, nil
	}
	fmt.Printf("bench: %d images, batches of %d, %d runs each: images/s median (best)\n", len(imgs), c.batch, c.repeat)
	var took []time.Duration
	right := 0
	for range c.repeat {
		d, r, err := loop()
		if err != nil {
			return err
		}
		took, right = append(took, d), r
	}
	report(fmt.Sprintf("plain loop (in memory, one goroutine; accuracy %.4f)", float64(right)/float64(len(imgs))), int64(len(imgs)), took)
	for _, actors := range []int{1, 2} {
		took = took[:0]
		var rows int64
		for i := range c.repeat {
			res, err := infer(ctx, c.input, filepath.Join(tmp, fmt.Sprintf("bench-%d-actors-%d", actors, i)), c.model, actors, actors, c.batch)
			if err != nil {
				return err
			}
			took, rows = append(took, res.took), res.rows
		}
		report(fmt.Sprintf("pipeline, Concurrency(%d, %d) (Parquet to Parquet)", actors, actors), rows, took)
	}
	return nil
}

// report prints a measurement's median and best rate.
func report(what string, rows int64, took []time.Duration) {
	slices.Sort(took)
	rate := func(d time.Duration) float64 { return float64(rows) / d.Seconds() }
	fmt.Printf("bench: %-62s %9.0f images/s (%.0f)\n", what, rate(took[len(took)/2]), rate(took[0]))
}
