package tune_test

import (
	"testing"

	"github.com/rayo-dev/rayo/tune"
)

func TestMetricsOf(t *testing.T) {
	got := tune.MetricsOf(map[string]any{"i8": int8(-3), "u64": uint64(7), "f32": float32(0.5), "f": 1.25,
		"s": "text", "b": true, "nil": nil, "list": []any{1}})
	want := tune.Metrics{"i8": -3, "u64": 7, "f32": 0.5, "f": 1.25}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}
