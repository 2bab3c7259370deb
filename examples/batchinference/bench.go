package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/rayo-dev/rayo/data"
)

// bench measures images/s on the same input: the model called in a plain
// loop in this process, then the whole pipeline with a pool of one actor
// and of two (issue 16's batch-inference benchmark row).
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
	right := 0
	start := time.Now()
	for lo := 0; lo < len(imgs); lo += c.batch {
		b := imgs[lo:min(lo+c.batch, len(imgs))]
		for i := range b {
			for j, p := range b[i].Pixels {
				x[i*pixels+j] = pixelLo + float32(p)/255*(pixelHi-pixelLo)
			}
		}
		probs, err := m.Predict(x[:len(b)*pixels], len(b))
		if err != nil {
			return err
		}
		for i, p := range m.Argmax(probs) {
			if int64(p) == b[i].Label {
				right++
			}
		}
	}
	loop := time.Since(start)
	fmt.Printf("bench: %d images, batches of %d\n", len(imgs), c.batch)
	fmt.Printf("bench: plain loop (in memory, one goroutine)        %9.0f images/s  (%v, accuracy %.4f)\n",
		float64(len(imgs))/loop.Seconds(), loop.Round(time.Millisecond), float64(right)/float64(len(imgs)))
	for _, actors := range []int{1, 2} {
		res, err := infer(ctx, c.input, filepath.Join(tmp, fmt.Sprintf("bench-%d-actors", actors)), c.model, actors, actors, c.batch)
		if err != nil {
			return err
		}
		fmt.Printf("bench: pipeline, %d actor(s) (Parquet to Parquet)     %9.0f images/s  (%v)\n",
			actors, float64(res.rows)/res.took.Seconds(), res.took.Round(time.Millisecond))
	}
	return nil
}
