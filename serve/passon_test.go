package serve_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/serve"
)

// A Response passed as another call's argument is passed on without
// waiting: the replica gets its value, an earlier failure is the later
// call's, and the passed Response's slot is given back when it is done,
// though its Result is never called.
func TestResponsePassedOn(t *testing.T) {
	ctx := context.Background()
	startServe(t)
	h, err := serve.Run(ctx, scalerDep.Bind(3.0), serve.RunOptions{Name: "passon", RoutePrefix: "/passon"})
	if err != nil {
		t.Fatal(err)
	}
	first := h.Call(ctx, "Predict", 2.0)
	second := h.Call(ctx, "Predict", first) // 3 × (3 × 2)
	if y, err := serve.Result[float64](ctx, h.Call(ctx, "Predict", second)); err != nil || y != 54 {
		t.Fatalf("three calls chained by their responses: %v, %v; want 54", y, err)
	}
	failed := h.Call(ctx, "Predict", -1.0)
	if _, err := serve.Result[float64](ctx, h.Call(ctx, "Predict", failed)); err == nil || !strings.Contains(err.Error(), "negative input") {
		t.Fatalf("a call given a failed response: %v, want its error", err)
	}
	if err := h.Call(ctx, "Predict", (*serve.Response)(nil)).Result(ctx, nil); err == nil {
		t.Fatal("a nil *Response as an argument was accepted")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := serve.HandleInFlight(ctx, "passon", scalerDep.Name())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d slots still held by responses passed on", n)
		}
		time.Sleep(10 * time.Millisecond) // polling the router's count
	}
}
