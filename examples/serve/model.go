package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/rayo-dev/rayo/examples/batchinference/mlp"
	"github.com/rayo-dev/rayo/serve"
)

// pixels is an image's size: mlp.Image x mlp.Image.
const pixels = mlp.Image * mlp.Image

// Image is one preprocessed image: the model's float32 input.
type Image = [pixels]float32

// loadModel decodes the embedded model: once per replica, in its
// constructor (Ray's "load the model in __init__").
func loadModel() (*mlp.Model, error) {
	m, err := mlp.Shipped()
	if err != nil {
		return nil, err
	}
	if m.In != pixels {
		return nil, fmt.Errorf("the model takes %d inputs, want %d", m.In, pixels)
	}
	return m, nil
}

// Prediction is the classifier's answer for one image.
type Prediction struct {
	Class      int     `json:"class" msgpack:"class"`
	Confidence float32 `json:"confidence" msgpack:"confidence"`
	// BatchSize is the size of the forward pass the image ran in.
	BatchSize int `json:"batch_size" msgpack:"batch_size"`
}

// BatchArgs are the classifier's batching settings, its constructor's
// argument (Ray's @serve.batch(max_batch_size, batch_wait_timeout_s)).
type BatchArgs struct {
	MaxBatchSize int           `msgpack:"max"`
	Wait         time.Duration `msgpack:"wait"`
}

// BatchStats are what one classifier replica saw: the batch sizes of its
// forward passes.
type BatchStats struct {
	Replica string `msgpack:"replica"` // a random ID drawn by the constructor
	Batches int    `msgpack:"batches"`
	Images  int    `msgpack:"images"`
	// Sizes counts the batches by size: Sizes[n] batches of n images.
	Sizes []int `msgpack:"sizes"`
}

// Classifier is the model deployment: the MLP, its forward pass batched
// by serve.Batch. It is an HTTP ingress (/classify) and is called through
// handles (Predict) by the pipeline.
type Classifier struct {
	model   *mlp.Model
	predict *serve.Batcher[Image, Prediction]
	id      string

	mu    sync.Mutex // guards sizes
	sizes []int
}

var classifierDep = serve.NewDeployment[Classifier]("serve-example.classifier", newClassifier,
	// A batch of 32 needs 32 requests on the replica at once. A quarter
	// CPU each, so that two applications of two replicas fit on 2 CPUs.
	serve.DeploymentConfig{NumCPUs: 0.25, MaxOngoingRequests: 64})

func newClassifier(a BatchArgs) (*Classifier, error) {
	m, err := loadModel()
	if err != nil {
		return nil, err
	}
	var id [4]byte
	_, _ = rand.Read(id[:])
	c := &Classifier{model: m, id: hex.EncodeToString(id[:]), sizes: make([]int, max(a.MaxBatchSize, 1)+1)}
	c.predict, err = serve.Batch(c.forward, serve.BatchConfig{MaxBatchSize: a.MaxBatchSize, BatchWaitTimeout: a.Wait,
		OnBatch: func(n int, _ time.Duration) {
			c.mu.Lock()
			if n < len(c.sizes) {
				c.sizes[n]++
			}
			c.mu.Unlock()
		}})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// forward is the batched forward pass: one matrix product for every
// image of the batch.
func (c *Classifier) forward(_ context.Context, imgs []Image) ([]Prediction, error) {
	x := make([]float32, 0, len(imgs)*pixels)
	for i := range imgs {
		x = append(x, imgs[i][:]...)
	}
	probs, err := c.model.Predict(x, len(imgs))
	if err != nil {
		return nil, err
	}
	out := make([]Prediction, len(imgs))
	for i, k := range c.model.Argmax(probs) {
		out[i] = Prediction{Class: k, Confidence: probs[i*c.model.Out+k], BatchSize: len(imgs)}
	}
	return out, nil
}

// Predict classifies one image; concurrent calls share a forward pass.
func (c *Classifier) Predict(ctx context.Context, img Image) (Prediction, error) {
	return c.predict.Call(ctx, img)
}

// Stats reports this replica's batch sizes.
func (c *Classifier) Stats(context.Context) (BatchStats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := BatchStats{Replica: c.id, Sizes: append([]int(nil), c.sizes...)}
	for n, k := range c.sizes {
		s.Batches += k
		s.Images += n * k
	}
	return s, nil
}

// ClassifyRequest is /classify's body: one image or several, each 64
// floats in the model's input range (row-major 8x8).
type ClassifyRequest struct {
	Pixels []float32   `json:"pixels,omitempty"`
	Images [][]float32 `json:"images,omitempty"`
}

// ServeHTTP is /classify: POST {"pixels": [64 floats]} answers one
// Prediction; {"images": [[64 floats], ...]} answers {"predictions":
// [...]}, the images sent to the batcher together.
func (c *Classifier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, `POST {"pixels": [64 floats]} or {"images": [[64 floats], ...]}`, http.StatusMethodNotAllowed)
		return
	}
	var q ClassifyRequest
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
		http.Error(w, "bad JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	if q.Images == nil {
		img, err := toImage(q.Pixels)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p, err := c.predict.Call(r.Context(), img)
		writeJSON(w, p, err)
		return
	}
	imgs := make([]Image, len(q.Images))
	for i, px := range q.Images {
		img, err := toImage(px)
		if err != nil {
			http.Error(w, fmt.Sprintf("image %d: %v", i, err), http.StatusBadRequest)
			return
		}
		imgs[i] = img
	}
	preds := make([]Prediction, len(imgs))
	errs := make([]error, len(imgs))
	var wg sync.WaitGroup
	for i := range imgs {
		wg.Go(func() { preds[i], errs[i] = c.predict.Call(r.Context(), imgs[i]) })
	}
	wg.Wait()
	writeJSON(w, struct {
		Predictions []Prediction `json:"predictions"`
	}{preds}, errors.Join(errs...))
}

// errPixels is a request whose image is not 64 pixels.
var errPixels = errors.New("want 64 pixels (an 8x8 image, row-major)")

func toImage(px []float32) (Image, error) {
	var img Image
	if len(px) != pixels {
		return img, fmt.Errorf("%w, got %d", errPixels, len(px))
	}
	copy(img[:], px)
	return img, nil
}

// writeJSON answers v, or err as a 500.
func writeJSON(w http.ResponseWriter, v any, err error) {
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
