//go:build linux

package main

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/examples/batchinference/mlp"

	"github.com/rayo-dev/rayo/examples/internal/exampletest"
)

// TestServeExample builds the example and runs it as a real process on
// its embedded cluster: it exits 0; every answer of both applications is
// the model's own prediction on the same image, computed here in one
// forward pass over all of them; and the model saw batches (a mean batch
// size above 1, in its own statistics and in the answers).
func TestServeExample(t *testing.T) {
	bin := exampletest.Build(t, "serve-example")
	const n, seed = 300, 5
	outFile := filepath.Join(t.TempDir(), "predictions.jsonl")
	out, err := exampletest.Run(t, 2*time.Minute, nil, bin, "-n", strconv.Itoa(n), "-seed", strconv.Itoa(seed), "-c", "32", "-out", outFile)
	if err != nil {
		t.Fatalf("the example failed: %v\n%s", err, out)
	}
	for _, want := range []string{"/classify: 300 requests, 0 failed", "/pipeline: 300 requests, 0 failed",
		"application classify at /classify: RUNNING", "application pipeline at /pipeline: RUNNING", "serve-example.postprocess"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the output:\n%s", want, out)
		}
	}
	means := regexp.MustCompile(`(?m)^(classify|pipeline)'s model: (\d+) images in (\d+) forward passes .*mean batch size ([0-9.]+)`).FindAllStringSubmatch(out, -1)
	if len(means) != 2 {
		t.Fatalf("want a batch line per application:\n%s", out)
	}
	for _, m := range means {
		if images, _ := strconv.Atoi(m[2]); images < n {
			t.Errorf("%s's model saw %s images, want %d or more", m[1], m[2], n)
		}
		if mean, _ := strconv.ParseFloat(m[4], 64); mean <= 1 {
			t.Errorf("%s's model: mean batch size %s, want batching (> 1)", m[1], m[4])
		}
	}

	// The model's own answers, in this process.
	x, _ := mlp.Digits(n, seed)
	px := make([]float32, len(x))
	for i, v := range x {
		px[i] = normalise(quantize(v))
	}
	model, err := loadModel()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]float32{}
	for app, in := range map[string][]float32{"classify": x, "pipeline": px} {
		if want[app], err = model.Predict(in, n); err != nil {
			t.Fatal(err)
		}
	}
	recs := readRecords(t, outFile)
	seen := map[string]int{}
	batched := map[string]int{}
	for _, r := range recs {
		probs := want[r.App][r.Image*model.Out : (r.Image+1)*model.Out]
		k := model.Argmax(probs)[0]
		if r.Class != k || math.Abs(float64(r.Confidence-probs[k])) > 1e-5 {
			t.Errorf("%s image %d: served class %d (%v), the model says %d (%v)", r.App, r.Image, r.Class, r.Confidence, k, probs[k])
		}
		seen[r.App]++
		batched[r.App] += r.BatchSize
	}
	for _, app := range []string{"classify", "pipeline"} {
		if seen[app] != n {
			t.Errorf("%s: %d predictions, want %d", app, seen[app], n)
		} else if mean := float64(batched[app]) / float64(n); mean <= 1 {
			t.Errorf("%s: the requests ran in batches of %.2f on average, want > 1", app, mean)
		}
	}
}

// TestServeForever runs the example with -serve-forever: it prints its
// URL, answers requests there (a bad one with 400, an unknown route with
// 404), and shuts Serve down and exits 0 on SIGINT.
func TestServeForever(t *testing.T) {
	bin := exampletest.Build(t, "serve-example")
	x, _ := mlp.Digits(1, 3)
	model, err := loadModel()
	if err != nil {
		t.Fatal(err)
	}
	probs, err := model.Predict(x, 1)
	if err != nil {
		t.Fatal(err)
	}
	wantClass := model.Argmax(probs)[0]
	served := false
	urlLine := regexp.MustCompile(`^serving at (\S+) until interrupted`)
	out, err := exampletest.Run(t, 2*time.Minute, func(line string, p *os.Process) {
		m := urlLine.FindStringSubmatch(line)
		if m == nil {
			return
		}
		defer func() { _ = p.Signal(os.Interrupt) }()
		served = true
		body, _ := json.Marshal(ClassifyRequest{Pixels: x})
		for _, c := range []struct {
			path, body string
			code       int
		}{
			{"/classify", string(body), 200},
			{"/classify", `{"pixels": [1, 2, 3]}`, 400},
			{"/pipeline", `{"pixels": [1, 2, 3]}`, 400},
			{"/nowhere", "{}", 404},
		} {
			resp, err := http.Post(m[1]+c.path, "application/json", strings.NewReader(c.body))
			if err != nil {
				t.Errorf("POST %s: %v", c.path, err)
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.code {
				t.Errorf("POST %s %s: %d %s, want %d", c.path, c.body, resp.StatusCode, b, c.code)
				continue
			}
			var p Prediction
			if c.code == 200 && (json.Unmarshal(b, &p) != nil || p.Class != wantClass) {
				t.Errorf("POST %s: %s, want class %d", c.path, b, wantClass)
			}
		}
	}, bin, "-serve-forever")
	if err != nil || !served || !strings.Contains(out, "interrupted: shutting Serve down") {
		t.Fatalf("served %v, exit %v:\n%s", served, err, out)
	}
}

func readRecords(t *testing.T, path string) []record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []record
	dec := json.NewDecoder(f)
	for {
		var r record
		if err := dec.Decode(&r); err == io.EOF {
			return recs
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		recs = append(recs, r)
	}
}
