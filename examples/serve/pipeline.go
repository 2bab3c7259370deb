package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"github.com/rayo-dev/rayo/serve"
)

// The composed application at /pipeline, as Ray Serve's model
// composition guide: the ingress preprocesses (8-bit pixels onto the
// model's input range), calls the classifier through a handle, then the
// postprocessor (a digit's name and whether the model is confident);
// three deployments, each with its own replicas.

// The camera's 8-bit pixels cover the model's input range [pixelLo,
// pixelHi] (as examples/batchinference stores its images).
const (
	pixelLo = -1.5
	pixelHi = 2.5
)

// quantize is a pixel as a camera stores it: the client's side.
func quantize(v float32) uint8 {
	return uint8(min(max((v-pixelLo)/(pixelHi-pixelLo)*255+0.5, 0), 255))
}

// normalise maps an 8-bit pixel back onto the model's input range.
func normalise(p uint8) float32 { return pixelLo + float32(p)/255*(pixelHi-pixelLo) }

// PipelineRequest is /pipeline's body: 64 grayscale pixels, 0-255.
type PipelineRequest struct {
	Pixels []int `json:"pixels"`
}

// Labeled is /pipeline's answer.
type Labeled struct {
	Digit      int     `json:"digit" msgpack:"digit"`
	Label      string  `json:"label" msgpack:"label"`
	Confidence float32 `json:"confidence" msgpack:"confidence"`
	// Confident says whether Confidence reaches the postprocessor's
	// min_confidence (its UserConfig).
	Confident bool `json:"confident" msgpack:"confident"`
	BatchSize int  `json:"batch_size" msgpack:"batch_size"`
}

// Preprocess is the pipeline's HTTP ingress.
type Preprocess struct {
	model, post serve.DeploymentHandle
}

var preprocessDep = serve.NewDeployment[Preprocess]("serve-example.preprocess",
	func(model, post serve.DeploymentHandle) *Preprocess { return &Preprocess{model, post} },
	serve.DeploymentConfig{NumCPUs: 0.25, MaxOngoingRequests: 64})

// ServeHTTP is /pipeline: POST {"pixels": [64 ints in 0..255]}.
func (p *Preprocess) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, `POST {"pixels": [64 ints, 0-255]}`, http.StatusMethodNotAllowed)
		return
	}
	var q PipelineRequest
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
		http.Error(w, "bad JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(q.Pixels) != pixels {
		http.Error(w, fmt.Sprintf("%v, got %d", errPixels, len(q.Pixels)), http.StatusBadRequest)
		return
	}
	var img Image
	for i, v := range q.Pixels {
		if v < 0 || v > 255 {
			http.Error(w, fmt.Sprintf("pixel %d is %d, want 0-255", i, v), http.StatusBadRequest)
			return
		}
		img[i] = normalise(uint8(v))
	}
	ctx := r.Context()
	pred, err := serve.Result[Prediction](ctx, p.model.Call(ctx, "Predict", img))
	if err != nil {
		writeJSON(w, nil, fmt.Errorf("model: %w", err))
		return
	}
	out, err := serve.Result[Labeled](ctx, p.post.Call(ctx, "Label", pred))
	if err != nil {
		err = fmt.Errorf("postprocess: %w", err)
	}
	writeJSON(w, out, err)
}

// Postprocess names the digit and judges the confidence.
type Postprocess struct {
	mu            sync.Mutex // Reconfigure runs beside requests
	minConfidence float32
}

var postprocessDep = serve.NewDeployment[Postprocess]("serve-example.postprocess",
	func() *Postprocess { return &Postprocess{minConfidence: 0.5} },
	serve.DeploymentConfig{NumCPUs: 0.25, MaxOngoingRequests: 64, UserConfig: PostprocessConfig{MinConfidence: 0.9}})

// PostprocessConfig is the postprocessor's UserConfig, delivered to
// Reconfigure without restarting it (Ray's user_config).
type PostprocessConfig struct {
	MinConfidence float32 `json:"min_confidence"`
}

// Reconfigure takes a new UserConfig.
func (p *Postprocess) Reconfigure(_ context.Context, userConfig []byte) error {
	var c PostprocessConfig
	if err := json.Unmarshal(userConfig, &c); err != nil {
		return err
	}
	if c.MinConfidence < 0 || c.MinConfidence > 1 {
		return fmt.Errorf("min_confidence %v: want 0-1", c.MinConfidence)
	}
	p.mu.Lock()
	p.minConfidence = c.MinConfidence
	p.mu.Unlock()
	return nil
}

var digitNames = [10]string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}

// Label turns the model's prediction into the answer.
func (p *Postprocess) Label(_ context.Context, pred Prediction) (Labeled, error) {
	if pred.Class < 0 || pred.Class >= len(digitNames) {
		return Labeled{}, fmt.Errorf("class %d is not a digit", pred.Class)
	}
	p.mu.Lock()
	least := p.minConfidence
	p.mu.Unlock()
	return Labeled{Digit: pred.Class, Label: digitNames[pred.Class], Confidence: pred.Confidence,
		Confident: pred.Confidence >= least, BatchSize: pred.BatchSize}, nil
}
