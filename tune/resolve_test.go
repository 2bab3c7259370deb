package tune

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func mustParams(t *testing.T, s Space) ([]Param, map[string]any) {
	t.Helper()
	params, constants, err := s.Params()
	if err != nil {
		t.Fatal(err)
	}
	return params, constants
}

func testRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 99)) }

func TestResolveBuildsNestedParams(t *testing.T) {
	space := Space{
		"lr":    LogUniform(1e-4, 1),
		"model": Space{"layers": RandInt(1, 5), "act": Choice("relu", "tanh"), "width": 64},
		"name":  "exp",
	}
	params, constants := mustParams(t, space)
	got, err := resolve(params, constants, map[string]any{
		"lr": 0.01, "model/layers": 3.0, "model/act": "tanh",
	}, testRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	want := Params{
		"lr":    0.01,
		"model": Params{"layers": int64(3), "act": "tanh", "width": 64},
		"name":  "exp",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("resolve = %#v, want %#v", got, want)
	}
}

func TestResolveSamplesMissingValuesReproducibly(t *testing.T) {
	space := Space{
		"a": Uniform(0, 1), "b": RandInt(0, 100), "c": Choice("x", "y", "z"),
		"d": Normal(0, 1), "g": GridSearch(1, 2), "k": 5,
	}
	params, constants := mustParams(t, space)
	first, err := resolve(params, constants, map[string]any{"b": 50}, testRNG(3))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := resolve(params, constants, map[string]any{"b": 50}, testRNG(3))
	if !reflect.DeepEqual(first, again) {
		t.Errorf("same rng, different Params: %v and %v", first, again)
	}
	other, _ := resolve(params, constants, map[string]any{"b": 50}, testRNG(4))
	if reflect.DeepEqual(first, other) {
		t.Errorf("different rngs, same Params %v", first)
	}
	if first["b"] != int64(50) || first["k"] != 5 {
		t.Errorf("given or constant value changed: %v", first)
	}
	for _, p := range params {
		if _, err := checkValue(p, first[p.Path]); err != nil {
			t.Errorf("sampled %v: %v", first[p.Path], err)
		}
	}
}

func TestResolveComputesSampleFromInPathOrder(t *testing.T) {
	seen := map[string]any{}
	space := Space{
		"lr":    Uniform(0.1, 0.2),
		"batch": GridSearch(32, 64),
		// "derived/a" sorts before "derived/b": b sees a, a does not see b.
		"derived": Space{
			"a": SampleFrom(func(p Params) any {
				seen["a saw b"], _ = p.Get("derived/b")
				return p.Float("lr") * 10
			}),
			"b": SampleFrom(func(p Params) any { return p.Float("derived/a") + float64(p.Int("batch")) }),
		},
		"fixed": SampleFrom(func(Params) any { return "computed" }),
	}
	params, constants := mustParams(t, space)
	got, err := resolve(params, constants, map[string]any{"lr": 0.15, "batch": 64, "fixed": "given"}, testRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	if a := got.Float("derived/a"); a != 1.5 {
		t.Errorf("derived/a = %v, want 1.5", a)
	}
	if b := got.Float("derived/b"); b != 65.5 {
		t.Errorf("derived/b = %v, want 65.5", b)
	}
	if seen["a saw b"] != nil {
		t.Errorf("derived/a saw derived/b = %v before it was resolved", seen["a saw b"])
	}
	if s := got.String("fixed"); s != "given" {
		t.Errorf("a given value for a SampleFrom path: got %q, want it to win", s)
	}
}

func TestResolveSampleFromCannotChangeResolvedValues(t *testing.T) {
	space := Space{"x": Uniform(0, 1), "y": SampleFrom(func(p Params) any {
		p["x"] = 99.0 // a copy: it must not leak into the trial
		return 1
	})}
	params, constants := mustParams(t, space)
	got, err := resolve(params, constants, map[string]any{"x": 0.5}, testRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	if got.Float("x") != 0.5 {
		t.Errorf("x = %v after SampleFrom wrote to its Params", got.Float("x"))
	}
}

func TestResolveRefusesBadValues(t *testing.T) {
	space := Space{
		"f":  Uniform(0, 1),
		"q":  QUniform(0, 1, 0.5),
		"i":  RandInt(0, 10),
		"qi": QRandInt(0, 10, 5),
		"n":  Normal(0, 1),
		"c":  Choice("a", "b"),
		"g":  GridSearch(1, 2),
		"m":  Space{"x": Uniform(0, 1), "k": "const"},
		"panics": SampleFrom(func(Params) any {
			panic("boom")
		}),
	}
	params, constants := mustParams(t, space)
	tests := []struct {
		name   string
		values map[string]any
		want   error // nil: accepted
		says   string
	}{
		{"unknown path", map[string]any{"zzz": 1, "panics": 0}, ErrInvalidConfig, `"zzz"`},
		{"path into a leaf", map[string]any{"f/x": 1, "panics": 0}, ErrInvalidConfig, `"f/x"`},
		{"a map's own path", map[string]any{"m": 1, "panics": 0}, ErrInvalidConfig, `"m"`},
		{"float above high", map[string]any{"f": 1.5, "panics": 0}, ErrInvalidConfig, `"f"`},
		{"float below low", map[string]any{"f": -0.1, "panics": 0}, ErrInvalidConfig, `"f"`},
		{"float high bound", map[string]any{"f": 1.0, "panics": 0}, nil, ""},
		{"quantized a half-q past", map[string]any{"q": 1.25, "panics": 0}, nil, ""},
		{"quantized too far", map[string]any{"q": 1.5, "panics": 0}, ErrInvalidConfig, `"q"`},
		{"not a number", map[string]any{"f": "0.5", "panics": 0}, ErrInvalidConfig, "not a number"},
		{"NaN", map[string]any{"n": math.NaN(), "panics": 0}, ErrInvalidConfig, "not finite"},
		{"int at exclusive high", map[string]any{"i": 10, "panics": 0}, ErrInvalidConfig, `"i"`},
		{"int not integral", map[string]any{"i": 2.5, "panics": 0}, ErrInvalidConfig, "not an int"},
		{"int at inclusive high", map[string]any{"qi": int64(10), "panics": 0}, nil, ""},
		{"int above inclusive high", map[string]any{"qi": 11, "panics": 0}, ErrInvalidConfig, `"qi"`},
		{"choice not a member", map[string]any{"c": "z", "panics": 0}, ErrInvalidConfig, "not one of"},
		{"grid not a member", map[string]any{"g": 3, "panics": 0}, ErrInvalidConfig, "not one of"},
		{"constant repeated", map[string]any{"m/k": "const", "panics": 0}, nil, ""},
		{"constant contradicted", map[string]any{"m/k": "other", "panics": 0}, ErrInvalidConfig, `"m/k"`},
		{"SampleFrom panics", nil, ErrInvalidSpace, "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := resolve(params, constants, tt.values, testRNG(1))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("error %v, want %v saying %s", err, tt.want, tt.says)
			}
		})
	}
}

func TestCheckValueConvertsToTheDomainsType(t *testing.T) {
	tests := []struct {
		d    Domain
		v    any
		want any
	}{
		{Uniform(0, 10), 3, 3.0},
		{Uniform(0, 10), float32(2.5), 2.5},
		{RandInt(0, 10), 3.0, int64(3)},
		{RandInt(0, 10), uint8(4), int64(4)},
		{Normal(0, 1), int64(2), 2.0},
		// A choice gives back its own value, whatever numeric type came in
		// (msgpack turns 2 into int64(2)).
		{Choice(1, 2, 3), int64(2), 2},
		{Choice([]int{1}, "x"), []int{1}, []int{1}},
		{GridSearch(0.5, 1.5), 1.5, 1.5},
	}
	for _, tt := range tests {
		got, err := checkValue(Param{"p", tt.d}, tt.v)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("checkValue(%v, %v (%T)) = %v (%T), %v; want %v (%T)", tt.d.Kind(), tt.v, tt.v, got, got, err, tt.want, tt.want)
		}
	}
	if _, err := checkValue(Param{"p", Choice(1)}, true); err == nil {
		t.Error("true accepted as the choice 1")
	}
}
