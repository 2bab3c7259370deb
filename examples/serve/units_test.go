package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestClassifierHTTP calls the classifier's handler in this process,
// without Serve: bad requests get 400 or 405 with a message naming the
// problem, several images in one request share a batch.
func TestClassifierHTTP(t *testing.T) {
	// A batch runs when full, long before the minute's wait: c3's when
	// three images are queued, c1's at once.
	c3, err := newClassifier(BatchArgs{MaxBatchSize: 3, Wait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	c1, err := newClassifier(BatchArgs{MaxBatchSize: 1, Wait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	img := "[" + strings.TrimSuffix(strings.Repeat("0.5,", pixels), ",") + "]"
	for _, tc := range []struct {
		c            *Classifier
		method, body string
		code         int
		has          string
	}{
		{c3, "GET", "", 405, "POST"},
		{c3, "POST", "{", 400, "bad JSON"},
		{c3, "POST", `{"pixels": [1, 2]}`, 400, "want 64 pixels"},
		{c3, "POST", `{"images": [` + img + `, [1]]}`, 400, "image 1"},
		{c1, "POST", `{"pixels": ` + img + `}`, 200, `"batch_size":1`},
		// Three images sent to the batcher together share a batch.
		{c3, "POST", `{"images": [` + img + "," + img + "," + img + `]}`, 200, `"batch_size":3`},
	} {
		w := httptest.NewRecorder()
		tc.c.ServeHTTP(w, httptest.NewRequest(tc.method, "/", strings.NewReader(tc.body)))
		if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.has) {
			t.Errorf("%s %.40q: %d %q, want %d and %q", tc.method, tc.body, w.Code, w.Body.String(), tc.code, tc.has)
		}
	}
	if st, _ := c3.Stats(context.Background()); st.Images != 3 || st.Batches != 1 || st.Sizes[3] != 1 {
		t.Errorf("stats %+v: want 3 images in one batch", st)
	}
}

func TestPostprocess(t *testing.T) {
	p := &Postprocess{}
	ctx := context.Background()
	for _, bad := range []string{`{`, `{"min_confidence": 2}`} {
		if err := p.Reconfigure(ctx, []byte(bad)); err == nil {
			t.Errorf("Reconfigure(%s): no error", bad)
		}
	}
	if err := p.Reconfigure(ctx, []byte(`{"min_confidence": 0.9}`)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		pred Prediction
		want Labeled
		err  bool
	}{
		{Prediction{Class: 7, Confidence: 0.95, BatchSize: 4}, Labeled{Digit: 7, Label: "seven", Confidence: 0.95, Confident: true, BatchSize: 4}, false},
		{Prediction{Class: 0, Confidence: 0.5}, Labeled{Digit: 0, Label: "zero", Confidence: 0.5}, false},
		{Prediction{Class: 10}, Labeled{}, true},
	} {
		got, err := p.Label(ctx, tc.pred)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("Label(%+v) = %+v, %v; want %+v", tc.pred, got, err, tc.want)
		}
	}
}

func TestPixels(t *testing.T) {
	for _, v := range []float32{pixelLo, 0, 0.5, pixelHi} {
		if got := normalise(quantize(v)); got < v-0.01 || got > v+0.01 {
			t.Errorf("normalise(quantize(%v)) = %v", v, got)
		}
	}
	if quantize(-10) != 0 || quantize(10) != 255 {
		t.Error("quantize does not clamp")
	}
	if _, err := toImage(make([]float32, 3)); !errors.Is(err, errPixels) {
		t.Errorf("toImage of 3 pixels: %v", err)
	}
}

func TestSummarise(t *testing.T) {
	var calls []call
	for i := 1; i <= 100; i++ {
		calls = append(calls, call{took: time.Duration(i) * time.Millisecond, status: http.StatusOK})
	}
	calls = append(calls, call{status: http.StatusServiceUnavailable}, call{err: errors.New("refused")})
	s := summarise(calls, time.Second)
	want := summary{n: 102, failed: 1, refused: 1, p50: 50 * time.Millisecond, p90: 90 * time.Millisecond, p99: 99 * time.Millisecond, max: 100 * time.Millisecond, perSecond: 100}
	if s != want {
		t.Errorf("summarise = %+v, want %+v", s, want)
	}
}

// BenchmarkForward is the classifier's batched forward pass in this
// process, per image: what batching saves of the model's own cost.
func BenchmarkForward(b *testing.B) {
	for _, n := range []int{1, 8, 32} {
		b.Run("batch="+strconv.Itoa(n), func(b *testing.B) {
			c, err := newClassifier(BatchArgs{MaxBatchSize: n, Wait: time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			imgs := make([]Image, n)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.forward(context.Background(), imgs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/image")
		})
	}
}
