package tune

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

var pointsSpace = Space{
	"lr":    LogUniform(1e-4, 1),
	"model": Space{"layers": RandInt(1, 8), "act": Choice(map[string]any{"name": "relu"}, map[string]any{"name": "tanh"})},
	"opt":   Choice("sgd", "adam"),
	"twice": SampleFrom(func(p Params) any { return p.Float("lr") * 2 }),
}

func TestPointsToEvaluateComeFirst(t *testing.T) {
	params, constants := mustParams(t, pointsSpace)
	inner := &adderSearcher{recordingSearcher{limit: 3}}
	s := PointsToEvaluate(inner,
		Params{"lr": 0.01, "model": Params{"layers": 2, "act": map[string]any{"name": "tanh"}}, "opt": "adam"},
		Params{"model/layers": 7.0}, // partial, with a path as key
	)
	if err := s.Setup(SearchConfig{Params: params, NumSamples: 5, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	if got := inner.takeCalls(); !reflect.DeepEqual(got, []string{"setup n=3"}) {
		t.Fatalf("inner setup: %q, want NumSamples reduced by the 2 points", got)
	}
	if total := s.(interface{ Total() int }).Total(); total != 5 {
		t.Errorf("Total() = %d, want 5", total)
	}

	first, err := s.Suggest("p0")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"lr": 0.01, "model/layers": int64(2), "model/act": map[string]any{"name": "tanh"}, "opt": "adam"}
	if !reflect.DeepEqual(first, want) {
		t.Errorf("first point %v, want %v", first, want)
	}
	if got := inner.takeCalls(); len(got) != 1 || !strings.HasPrefix(got[0], "add p0 ") {
		t.Errorf("inner calls %q, want AddTrial of p0", got)
	}

	second, err := s.Suggest("p1")
	if err != nil {
		t.Fatal(err)
	}
	if second["model/layers"] != int64(7) {
		t.Errorf("second point's layers = %v, want int64(7)", second["model/layers"])
	}
	for _, p := range params {
		if p.Domain.Kind() == KindSampleFrom {
			if _, ok := second[p.Path]; ok {
				t.Errorf("point holds SampleFrom %q, which resolve computes", p.Path)
			}
			continue
		}
		if _, err := checkValue(p, second[p.Path]); err != nil {
			t.Errorf("filled-in value: %v", err)
		}
	}
	resolved, err := resolve(params, constants, second, testRNG(1))
	if err != nil || resolved.Float("twice") != 2*resolved.Float("lr") {
		t.Errorf("resolving the point: %v, %v", resolved, err)
	}
	inner.takeCalls()

	// Results of the points reach the inner searcher.
	s.OnTrialResult("p0", Result{})
	s.OnTrialComplete("p0", nil, true)
	if got := inner.takeCalls(); !reflect.DeepEqual(got, []string{"result p0", "complete p0 failed=true"}) {
		t.Errorf("inner calls %q", got)
	}
	// Then the inner searcher's own, NumSamples - 2 of them.
	rest := suggestAll(t, s, 10)
	if len(rest) != 3 || rest[0]["n"] != 1 {
		t.Errorf("after the points: %v", rest)
	}
}

func TestPointsToEvaluateFillsPartialPointsReproducibly(t *testing.T) {
	params, _ := mustParams(t, pointsSpace)
	fill := func(seed int64) map[string]any {
		s := PointsToEvaluate(&recordingSearcher{}, Params{"opt": "sgd"})
		if err := s.Setup(SearchConfig{Params: params, NumSamples: 1, Seed: seed}); err != nil {
			t.Fatal(err)
		}
		v, err := s.Suggest("p0")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	a := fill(1)
	if !reflect.DeepEqual(a, fill(1)) {
		t.Error("same seed, different filled-in values")
	}
	if reflect.DeepEqual(a, fill(2)) {
		t.Error("different seeds, same filled-in values")
	}
	if a["opt"] != "sgd" {
		t.Errorf("given value changed: %v", a["opt"])
	}
}

func TestPointsToEvaluateMorePointsThanSamples(t *testing.T) {
	params, _ := mustParams(t, pointsSpace)
	inner := &recordingSearcher{limit: 100}
	s := PointsToEvaluate(inner, Params{"opt": "sgd"}, Params{"opt": "adam"}, Params{"opt": "sgd"})
	if err := s.Setup(SearchConfig{Params: params, NumSamples: 2}); err != nil {
		t.Fatal(err)
	}
	if got := suggestAll(t, s, 10); len(got) != 3 {
		t.Errorf("%d suggestions, want every one of the 3 points", len(got))
	}
	if got := inner.takeCalls(); !reflect.DeepEqual(got, []string{"setup n=0"}) {
		t.Errorf("inner calls %q: a searcher set up for no trial must not be asked for one", got)
	}
}

func TestPointsToEvaluateEndless(t *testing.T) {
	params, _ := mustParams(t, pointsSpace)
	inner := &recordingSearcher{limit: 100}
	s := PointsToEvaluate(inner, Params{"opt": "sgd"})
	if err := s.Setup(SearchConfig{Params: params, NumSamples: -1}); err != nil {
		t.Fatal(err)
	}
	if inner.cfg.NumSamples != -1 {
		t.Errorf("inner NumSamples %d, want an endless -1", inner.cfg.NumSamples)
	}
	if total := s.(interface{ Total() int }).Total(); total != -1 {
		t.Errorf("Total() = %d, want -1", total)
	}
}

func TestPointsToEvaluateRefusesBadPoints(t *testing.T) {
	params, _ := mustParams(t, pointsSpace)
	tests := []struct {
		name  string
		point Params
		says  string
	}{
		{"unknown path", Params{"momentum": 0.9}, `"momentum"`},
		{"unknown nested path", Params{"model": Params{"depth": 3}}, `"model/depth"`},
		{"a leaf as a map", Params{"model": 3}, `"model"`},
		{"out of range", Params{"lr": 2.0}, `"lr"`},
		{"int at exclusive high", Params{"model/layers": 8}, `"model/layers"`},
		{"not a choice", Params{"opt": "rmsprop"}, "not one of"},
		{"not a number", Params{"lr": "fast"}, "not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := PointsToEvaluate(&recordingSearcher{}, Params{"opt": "sgd"}, tt.point)
			err := s.Setup(SearchConfig{Params: params, NumSamples: 4})
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.says) || !strings.Contains(err.Error(), "point 1") {
				t.Fatalf("Setup = %v, want ErrInvalidConfig naming point 1 and %s", err, tt.says)
			}
		})
	}
	if err := PointsToEvaluate(nil).Setup(SearchConfig{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("nil searcher: Setup = %v", err)
	}
}

func TestPointsToEvaluateWrapsBasicAndLimiter(t *testing.T) {
	// The usual stack: a limiter over points over random search.
	params, _ := mustParams(t, Space{"x": Uniform(0, 1)})
	s := ConcurrencyLimiter(PointsToEvaluate(BasicVariantGenerator(BasicConfig{}), Params{"x": 0.5}), 1, false)
	if err := s.Setup(SearchConfig{Params: params, NumSamples: 3, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if total := s.(interface{ Total() int }).Total(); total != 3 {
		t.Errorf("Total() = %d, want 3", total)
	}
	var xs []any
	for i := range 10 {
		id := string(rune('a' + i))
		v, err := s.Suggest(id)
		if errors.Is(err, ErrSearchFinished) {
			break
		}
		if err != nil || v == nil {
			t.Fatalf("Suggest: %v, %v", v, err)
		}
		if again, _ := s.Suggest("blocked"); again != nil {
			t.Fatal("two live trials under a limit of one")
		}
		xs = append(xs, v["x"])
		s.OnTrialComplete(id, nil, false)
	}
	if len(xs) != 3 || xs[0] != 0.5 {
		t.Errorf("x values %v, want the point 0.5 then 2 random", xs)
	}
}
