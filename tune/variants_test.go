package tune

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// suggestAll asks s for suggestions until ErrSearchFinished (at most
// limit), failing on any other error.
func suggestAll(t *testing.T, s Searcher, limit int) []map[string]any {
	t.Helper()
	var out []map[string]any
	for i := range limit {
		v, err := s.Suggest(fmt.Sprintf("t%d", i))
		if errors.Is(err, ErrSearchFinished) {
			return out
		}
		if err != nil {
			t.Fatalf("Suggest %d: %v", i, err)
		}
		out = append(out, v)
	}
	return out
}

func setupBasic(t *testing.T, bc BasicConfig, space Space, numSamples int, seed int64) *BasicSearcher {
	t.Helper()
	params, _ := mustParams(t, space)
	b := BasicVariantGenerator(bc)
	if err := b.Setup(SearchConfig{Params: params, NumSamples: numSamples, Seed: seed}); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBasicGridOrderAndCount(t *testing.T) {
	space := Space{
		"b": GridSearch(1, 2),
		"a": GridSearch("x", "y", "z"),
		"n": Space{"c": GridSearch(true, false)},
	}
	tests := []struct {
		name       string
		numSamples int
		total      int
	}{
		{"one sample", 1, 12},
		{"three samples", 3, 36},
		{"no sample", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setupBasic(t, BasicConfig{}, space, tt.numSamples, 1)
			if b.Total() != tt.total {
				t.Fatalf("Total() = %d, want %d", b.Total(), tt.total)
			}
			got := suggestAll(t, b, 100)
			if len(got) != tt.total {
				t.Fatalf("%d suggestions, want %d", len(got), tt.total)
			}
			// As in Ray: the grid key first in path order varies fastest,
			// and the whole grid comes once per sample.
			i := 0
			for range tt.numSamples {
				for _, c := range []bool{true, false} {
					for _, bv := range []int{1, 2} {
						for _, a := range []string{"x", "y", "z"} {
							want := map[string]any{"a": a, "b": bv, "n/c": c}
							if !reflect.DeepEqual(got[i], want) {
								t.Fatalf("suggestion %d = %v, want %v", i, got[i], want)
							}
							i++
						}
					}
				}
			}
		})
	}
}

func TestBasicGridSortsKeysAsRay(t *testing.T) {
	// Ray sorts grid paths as tuples of keys: ("a", "b") < ("a-c",), where
	// the string "a-c" sorts before "a/b".
	b := setupBasic(t, BasicConfig{}, Space{"a-c": GridSearch(1, 2), "a": Space{"b": GridSearch(3, 4)}}, 1, 1)
	got := suggestAll(t, b, 10)
	if got[0]["a/b"] != 3 || got[1]["a/b"] != 4 || got[1]["a-c"] != 1 || got[2]["a-c"] != 2 {
		t.Errorf("a/b must vary fastest: %v", got)
	}
}

func TestBasicRandomValues(t *testing.T) {
	space := Space{
		"lr":     LogUniform(1e-4, 1),
		"layers": RandInt(1, 8),
		"act":    Choice("relu", "tanh"),
		"noise":  Normal(0, 1),
		"opt":    GridSearch("sgd", "adam"),
		"scaled": SampleFrom(func(p Params) any { return p.Float("lr") * 2 }),
	}
	params, _ := mustParams(t, space)
	b := setupBasic(t, BasicConfig{}, space, 5, 42)
	got := suggestAll(t, b, 100)
	if len(got) != 10 {
		t.Fatalf("%d suggestions, want 10", len(got))
	}
	lrs := map[float64]bool{}
	for i, v := range got {
		if _, ok := v["scaled"]; ok {
			t.Errorf("suggestion %d holds the SampleFrom value, which resolve computes", i)
		}
		for _, p := range params {
			if p.Domain.Kind() == KindSampleFrom {
				continue
			}
			checked, err := checkValue(p, v[p.Path])
			if err != nil {
				t.Errorf("suggestion %d: %v", i, err)
			}
			if !reflect.DeepEqual(checked, v[p.Path]) {
				t.Errorf("suggestion %d: %q is %T, want %T", i, p.Path, v[p.Path], checked)
			}
		}
		lrs[v["lr"].(float64)] = true
	}
	if len(lrs) != len(got) {
		t.Errorf("only %d distinct lr values in %d trials: random values must be fresh per trial", len(lrs), len(got))
	}
}

func TestBasicIsReproducible(t *testing.T) {
	space := Space{"x": Uniform(0, 1), "g": GridSearch(1, 2, 3), "c": Choice(1, 2, 3, 4)}
	run := func(bc BasicConfig, seed int64) []map[string]any {
		return suggestAll(t, setupBasic(t, bc, space, 4, seed), 100)
	}
	base := run(BasicConfig{}, 7)
	if !reflect.DeepEqual(base, run(BasicConfig{}, 7)) {
		t.Error("same seed, different variants")
	}
	if reflect.DeepEqual(base, run(BasicConfig{}, 8)) {
		t.Error("different seeds, same variants")
	}
	// BasicConfig.Seed wins over SearchConfig.Seed; 0 defers to it.
	if !reflect.DeepEqual(base, run(BasicConfig{Seed: 7}, 123)) {
		t.Error("BasicConfig.Seed 7 differs from SearchConfig.Seed 7")
	}
	// Trial i's values depend on (seed, i) alone: a searcher set up again
	// (a driver restored) gives the same variants from the start.
	b := setupBasic(t, BasicConfig{}, space, 4, 7)
	suggestAll(t, b, 5)
	if err := b.Setup(SearchConfig{Params: mustParamsOnly(t, space), NumSamples: 4, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	if again := suggestAll(t, b, 100); !reflect.DeepEqual(base, again) {
		t.Error("a searcher set up again gives other variants")
	}
}

func mustParamsOnly(t *testing.T, s Space) []Param {
	p, _ := mustParams(t, s)
	return p
}

func TestBasicConstantGridSearch(t *testing.T) {
	space := Space{"x": Uniform(0, 1), "g": GridSearch(1, 2, 3)}
	for _, constant := range []bool{false, true} {
		got := suggestAll(t, setupBasic(t, BasicConfig{ConstantGridSearch: constant}, space, 2, 5), 100)
		sameInRepetition := got[0]["x"] == got[1]["x"] && got[1]["x"] == got[2]["x"]
		if sameInRepetition != constant {
			t.Errorf("ConstantGridSearch %v: x over the first grid %v %v %v", constant, got[0]["x"], got[1]["x"], got[2]["x"])
		}
		if got[0]["x"] == got[3]["x"] {
			t.Errorf("ConstantGridSearch %v: repetitions share x %v", constant, got[0]["x"])
		}
	}
}

func TestBasicEndlessAndEmptySearches(t *testing.T) {
	endless := setupBasic(t, BasicConfig{}, Space{"x": Uniform(0, 1)}, -1, 1)
	if endless.Total() != -1 {
		t.Errorf("endless Total() = %d, want -1", endless.Total())
	}
	if got := suggestAll(t, endless, 50); len(got) != 50 {
		t.Errorf("endless search stopped after %d", len(got))
	}
	// A space of constants alone still makes NumSamples trials.
	constants := setupBasic(t, BasicConfig{}, Space{"k": 1}, 3, 1)
	if got := suggestAll(t, constants, 10); len(got) != 3 || len(got[0]) != 0 {
		t.Errorf("constant space: %v, want 3 empty suggestions", got)
	}
}

func TestBasicRefusesBadSetups(t *testing.T) {
	if _, err := BasicVariantGenerator(BasicConfig{}).Suggest("t0"); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Suggest before Setup: %v", err)
	}
	tests := []struct {
		name   string
		params []Param
		n      int
		want   error
	}{
		{"invalid domain", []Param{{"x", Uniform(1, 0)}}, 1, ErrInvalidSpace},
		{"zero domain", []Param{{"x", Domain{}}}, 1, ErrInvalidSpace},
		{"huge grid", []Param{{"a", GridSearch(make([]any, 1<<14)...)}, {"b", GridSearch(make([]any, 1<<14)...)}, {"c", GridSearch(make([]any, 1<<14)...)}}, 1, ErrInvalidSpace},
		{"huge total", []Param{{"a", GridSearch(1, 2)}}, 1 << 40, ErrInvalidConfig},
	}
	for _, tt := range tests {
		err := BasicVariantGenerator(BasicConfig{}).Setup(SearchConfig{Params: tt.params, NumSamples: tt.n})
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: Setup = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func BenchmarkBasicSuggest(b *testing.B) {
	params, _, _ := Space{
		"lr": LogUniform(1e-4, 1), "layers": RandInt(1, 8), "act": Choice("relu", "tanh"),
		"opt": GridSearch("sgd", "adam", "rmsprop"), "wd": Uniform(0, 0.1),
	}.Params()
	s := BasicVariantGenerator(BasicConfig{})
	if err := s.Setup(SearchConfig{Params: params, NumSamples: -1, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Suggest("t"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResolve(b *testing.B) {
	params, constants, _ := Space{
		"lr": LogUniform(1e-4, 1), "model": Space{"layers": RandInt(1, 8), "act": Choice("relu", "tanh"), "width": 64},
		"wd": Uniform(0, 0.1), "scaled": SampleFrom(func(p Params) any { return p.Float("lr") * 2 }),
	}.Params()
	values := map[string]any{"lr": 0.01, "model/layers": int64(3)}
	rng := testRNG(1)
	for b.Loop() {
		if _, err := resolve(params, constants, values, rng); err != nil {
			b.Fatal(err)
		}
	}
}
