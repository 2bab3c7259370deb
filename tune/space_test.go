package tune

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

const samplesPerDomain = 4000

func drawAll(d Domain, seed uint64, n int) []any {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]any, n)
	for i := range out {
		out[i] = d.Sample(rng)
	}
	return out
}

func TestDomainSamplesStayInRange(t *testing.T) {
	tests := []struct {
		name string
		d    Domain
		// ok says whether a sample is a possible value.
		ok func(v any) bool
		// want are values that must come up (bounds included or not).
		want []any
	}{
		{"Uniform", Uniform(-2, 3), floatIn(-2, 3, false), nil},
		{"QUniform", QUniform(0, 1, 0.25), floatMultiple(0, 1, 0.25), []any{0.0, 0.25, 0.5, 0.75, 1.0}},
		{"LogUniform", LogUniform(1e-4, 1), floatIn(1e-4, 1, false), nil},
		{"QLogUniform", QLogUniform(1, 100, 1), floatMultiple(1, 100, 1), []any{1.0, 100.0}},
		{"RandInt excludes high", RandInt(0, 3), intIn(0, 2), []any{int64(0), int64(1), int64(2)}},
		{"RandInt negative", RandInt(-3, -1), intIn(-3, -2), []any{int64(-3), int64(-2)}},
		{"QRandInt includes high", QRandInt(0, 10, 5), intMultiple(0, 10, 5), []any{int64(0), int64(5), int64(10)}},
		{"QRandInt clamps rounding", QRandInt(1, 10, 3), intMultiple(3, 9, 3), []any{int64(3), int64(6), int64(9)}},
		{"LogRandInt excludes high", LogRandInt(1, 4), intIn(1, 3), []any{int64(1), int64(2), int64(3)}},
		{"Normal", Normal(0, 1), isFloat, nil},
		{"QNormal", QNormal(0, 1, 0.5), floatMultiple(math.Inf(-1), math.Inf(1), 0.5), []any{0.0, 0.5, -0.5}},
		{"Choice", Choice("a", 2, true), oneOf("a", 2, true), []any{"a", 2, true}},
		{"GridSearch", GridSearch(1.5, "x"), oneOf(1.5, "x"), []any{1.5, "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.d.Err(); err != nil {
				t.Fatal(err)
			}
			seen := map[any]bool{}
			for _, v := range drawAll(tt.d, 7, samplesPerDomain) {
				if !tt.ok(v) {
					t.Fatalf("sample %v (%T) is not a possible value", v, v)
				}
				seen[v] = true
			}
			for _, w := range tt.want {
				if !seen[w] {
					t.Errorf("%v (%T) never sampled in %d draws", w, w, samplesPerDomain)
				}
			}
		})
	}
}

func floatIn(lo, hi float64, inclusive bool) func(any) bool {
	return func(v any) bool {
		x, ok := v.(float64)
		return ok && x >= lo && (x < hi || inclusive && x == hi)
	}
}

func floatMultiple(lo, hi, q float64) func(any) bool {
	return func(v any) bool {
		x, ok := v.(float64)
		return ok && x >= lo && x <= hi && math.Abs(x/q-math.Round(x/q)) < 1e-9
	}
}

func intIn(lo, hi int64) func(any) bool {
	return func(v any) bool {
		x, ok := v.(int64)
		return ok && x >= lo && x <= hi
	}
}

func intMultiple(lo, hi, q int64) func(any) bool {
	return func(v any) bool {
		x, ok := v.(int64)
		return ok && x >= lo && x <= hi && x%q == 0
	}
}

func isFloat(v any) bool { _, ok := v.(float64); return ok }

func oneOf(values ...any) func(any) bool {
	return func(v any) bool {
		for _, w := range values {
			if reflect.DeepEqual(v, w) {
				return true
			}
		}
		return false
	}
}

func TestLogDomainsSpreadUniformlyInLogSpace(t *testing.T) {
	tests := []struct {
		name     string
		d        Domain
		low, top float64 // the log10 range split into bins
		bins     int
	}{
		{"LogUniform", LogUniform(1e-4, 1), -4, 0, 4},
		{"LogRandInt", LogRandInt(1, 10000), 0, 4, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			counts := make([]int, tt.bins)
			for _, v := range drawAll(tt.d, 11, samplesPerDomain) {
				x, _ := toFloat(v)
				bin := int((math.Log10(x) - tt.low) / (tt.top - tt.low) * float64(tt.bins))
				counts[min(bin, tt.bins-1)]++
			}
			want := float64(samplesPerDomain) / float64(tt.bins)
			for i, c := range counts {
				if math.Abs(float64(c)-want) > 0.15*want {
					t.Errorf("bin %d of log10 range holds %d samples, want about %.0f (%v)", i, c, want, counts)
				}
			}
		})
	}
}

func TestNormalMeanAndSD(t *testing.T) {
	tests := []struct {
		d        Domain
		mean, sd float64
	}{
		{Normal(3, 2), 3, 2},
		{Normal(-10, 0.1), -10, 0.1},
		{QNormal(5, 4, 1), 5, 4},
	}
	for _, tt := range tests {
		var sum, sq float64
		xs := drawAll(tt.d, 3, samplesPerDomain)
		for _, v := range xs {
			x := v.(float64)
			sum += x
			sq += x * x
		}
		n := float64(len(xs))
		mean := sum / n
		sd := math.Sqrt(sq/n - mean*mean)
		// 5 standard errors of the mean; sd within 10%.
		if math.Abs(mean-tt.mean) > 5*tt.sd/math.Sqrt(n) || math.Abs(sd-tt.sd) > 0.1*tt.sd {
			t.Errorf("Normal(%v, %v): sample mean %.3f sd %.3f", tt.mean, tt.sd, mean, sd)
		}
	}
}

func TestSampleIsReproducible(t *testing.T) {
	for _, d := range []Domain{Uniform(0, 1), LogRandInt(1, 1000), Normal(0, 1), Choice(1, 2, 3)} {
		a, b := drawAll(d, 42, 50), drawAll(d, 42, 50)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%v: same seed, different samples", d.Kind())
		}
		if c := drawAll(d, 43, 50); reflect.DeepEqual(a, c) {
			t.Errorf("%v: different seeds, same samples", d.Kind())
		}
	}
	if v := SampleFrom(func(Params) any { return 1 }).Sample(rand.New(rand.NewPCG(1, 1))); v != nil {
		t.Errorf("SampleFrom.Sample = %v, want nil", v)
	}
}

func TestConstructorsRefuseInvalidDomains(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name string
		d    Domain
	}{
		{"Uniform low above high", Uniform(2, 1)},
		{"Uniform empty", Uniform(1, 1)},
		{"Uniform NaN low", Uniform(nan, 1)},
		{"Uniform NaN high", Uniform(0, nan)},
		{"Uniform infinite", Uniform(0, inf)},
		{"QUniform zero q", QUniform(0, 1, 0)},
		{"QUniform negative q", QUniform(0, 1, -0.1)},
		{"QUniform NaN q", QUniform(0, 1, nan)},
		{"LogUniform zero low", LogUniform(0, 1)},
		{"LogUniform negative low", LogUniform(-1, 1)},
		{"LogUniform low above high", LogUniform(10, 1)},
		{"QLogUniform zero q", QLogUniform(1, 10, 0)},
		{"QLogUniform zero low", QLogUniform(0, 10, 1)},
		{"RandInt empty", RandInt(3, 3)},
		{"RandInt low above high", RandInt(5, 1)},
		{"QRandInt low above high", QRandInt(5, 4, 1)},
		{"QRandInt zero q", QRandInt(0, 10, 0)},
		{"QRandInt negative q", QRandInt(0, 10, -2)},
		{"LogRandInt zero low", LogRandInt(0, 10)},
		{"LogRandInt negative low", LogRandInt(-5, 10)},
		{"Normal zero sd", Normal(0, 0)},
		{"Normal negative sd", Normal(0, -1)},
		{"Normal NaN mean", Normal(nan, 1)},
		{"Normal infinite sd", Normal(0, inf)},
		{"QNormal zero q", QNormal(0, 1, 0)},
		{"QNormal infinite q", QNormal(0, 1, inf)},
		{"QNormal bad sd", QNormal(0, -1, 1)},
		{"Choice empty", Choice()},
		{"GridSearch empty", GridSearch()},
		{"SampleFrom nil", SampleFrom(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.d.Err(), ErrInvalidSpace) {
				t.Fatalf("Err() = %v, want ErrInvalidSpace", tt.d.Err())
			}
			if err := (Space{"x": tt.d}).Validate(); !errors.Is(err, ErrInvalidSpace) {
				t.Fatalf("Validate() = %v, want ErrInvalidSpace", err)
			}
		})
	}
	// The edges that are valid.
	for _, d := range []Domain{QRandInt(4, 4, 1), RandInt(4, 5), LogUniform(1e-300, 1), Uniform(-1, 1)} {
		if d.Err() != nil {
			t.Errorf("%v: unexpected error %v", d.Kind(), d.Err())
		}
	}
}

func TestSpacesRefuseBadKeysAndLeaves(t *testing.T) {
	d := Uniform(0, 1)
	tests := []struct {
		name  string
		space Space
	}{
		{"slash key", Space{"a/b": d}},
		{"nested slash key", Space{"model": map[string]any{"x/y": 1}}},
		{"empty key", Space{"": d}},
		{"nested empty key", Space{"m": Space{"": 1}}},
		{"pointer domain", Space{"x": &d}},
		{"zero domain", Space{"x": Domain{}}},
		{"invalid nested domain", Space{"m": Params{"lr": LogUniform(0, 1)}}},
	}
	for _, tt := range tests {
		if err := tt.space.Validate(); !errors.Is(err, ErrInvalidSpace) {
			t.Errorf("%s: Validate() = %v, want ErrInvalidSpace", tt.name, err)
		}
	}
}

func TestSpaceParamsAreInPathOrder(t *testing.T) {
	space := Space{
		"lr":     LogUniform(1e-4, 1),
		"layers": RandInt(1, 4),
		"model":  map[string]any{"act": Choice("relu", "tanh"), "width": 64},
		"opt":    Space{"name": "adam", "beta": Params{"one": Uniform(0.8, 1)}},
		"seed":   7,
	}
	params, constants, err := space.Params()
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, p := range params {
		paths = append(paths, p.Path)
	}
	wantPaths := []string{"layers", "lr", "model/act", "opt/beta/one"}
	if !reflect.DeepEqual(paths, wantPaths) {
		t.Errorf("paths %v, want %v", paths, wantPaths)
	}
	wantConstants := map[string]any{"model/width": 64, "opt/name": "adam", "seed": 7}
	if !reflect.DeepEqual(constants, wantConstants) {
		t.Errorf("constants %v, want %v", constants, wantConstants)
	}
	if hasGrid(params) {
		t.Error("hasGrid without a grid")
	}
	if !hasGrid(append(params, Param{"g", GridSearch(1)})) {
		t.Error("hasGrid missed a grid")
	}
}

func TestParamsAccessors(t *testing.T) {
	p := unflatten(map[string]any{
		"lr": 0.5, "layers": int64(3), "model/act": "relu", "model/deep/on": true,
		"width": float64(2.9), "n": 7, "list": []any{1, 2},
	})
	if got := p.Float("lr"); got != 0.5 {
		t.Errorf("Float(lr) = %v", got)
	}
	if got := p.Float("layers"); got != 3 {
		t.Errorf("Float(layers) = %v", got)
	}
	if got := p.Int("layers"); got != 3 {
		t.Errorf("Int(layers) = %v", got)
	}
	if got := p.Int("width"); got != 2 {
		t.Errorf("Int(width) = %v, want the float truncated", got)
	}
	if got := p.Int("n"); got != 7 {
		t.Errorf("Int(n) = %v", got)
	}
	if got := p.String("model/act"); got != "relu" {
		t.Errorf("String(model/act) = %q", got)
	}
	if got := p.String("lr"); got != "0.5" {
		t.Errorf("String(lr) = %q", got)
	}
	if !p.Bool("model/deep/on") || p.Bool("model/act") {
		t.Error("Bool")
	}
	if got := p.Sub("model").String("act"); got != "relu" {
		t.Errorf("Sub(model).String(act) = %q", got)
	}
	for _, missing := range []string{"nope", "model/nope", "lr/x", "model/act/x"} {
		if _, ok := p.Get(missing); ok {
			t.Errorf("Get(%q) found a value", missing)
		}
		if p.Float(missing) != 0 || p.Int(missing) != 0 || p.String(missing) != "" || p.Sub(missing) != nil {
			t.Errorf("accessors of missing %q are not zero", missing)
		}
	}
	if got, want := p.Flat(), (map[string]any{
		"lr": 0.5, "layers": int64(3), "model/act": "relu", "model/deep/on": true,
		"width": float64(2.9), "n": 7, "list": []any{1, 2},
	}); !reflect.DeepEqual(got, want) {
		t.Errorf("Flat() = %v, want %v", got, want)
	}
	// Get reads through maps of any of the three map types.
	q := Params{"a": map[string]any{"b": Space{"c": 1}}}
	if got := q.Int("a/b/c"); got != 1 {
		t.Errorf("Int(a/b/c) through mixed maps = %v", got)
	}
}

func TestClipKeepsValuesInTheDomain(t *testing.T) {
	tests := []struct {
		d    Domain
		x    float64
		want any
	}{
		{Uniform(0, 1), 1.5, 1.0},
		{Uniform(0, 1), -3, 0.0},
		{Uniform(0, 1), 0.3, 0.3},
		{QUniform(0, 1, 0.25), 0.3, 0.25},
		{RandInt(0, 10), 12.4, int64(9)},
		{RandInt(0, 10), 3.6, int64(4)},
		{QRandInt(0, 10, 5), 10.2, int64(10)},
		{QRandInt(0, 10, 5), 6, int64(5)},
		{QNormal(0, 1, 0.5), 0.7, 0.5},
		{Choice(1, 2), 7, 7.0},
	}
	for _, tt := range tests {
		if got := tt.d.Clip(tt.x); got != tt.want {
			t.Errorf("%v%v.Clip(%v) = %v (%T), want %v (%T)", tt.d.Kind(), tt.d.values, tt.x, got, got, tt.want, tt.want)
		}
	}
}

// Bugs found in the foundation (space.go, sample.go): each test states
// the behaviour wanted and is skipped until the proposed fix lands.

func TestQuantizedFloatSamplesStayInRange(t *testing.T) {
	for _, d := range []Domain{QUniform(0.1, 1, 0.25), QLogUniform(1, 10, 4)} {
		for _, v := range drawAll(d, 1, 1000) {
			if x := v.(float64); x < d.low || x > d.high {
				t.Fatalf("sample %v outside [%v, %v]", x, d.low, d.high)
			}
		}
	}
}

func TestHugeIntRangesAreRefusedOrSampled(t *testing.T) {
	for _, d := range []Domain{RandInt(1<<60, 1<<60+3), RandInt(math.MinInt64, math.MaxInt64)} {
		if d.Err() == nil {
			drawAll(d, 1, 10)
		}
	}
}

func TestUniformWithOverflowingWidth(t *testing.T) {
	d := Uniform(-math.MaxFloat64, math.MaxFloat64)
	if d.Err() == nil && !finite(d.Sample(rand.New(rand.NewPCG(1, 1))).(float64)) {
		t.Fatal("infinite sample")
	}
}

func TestSpaceKeepsEmptyMapsAndDomainsInLists(t *testing.T) {
	_, constants, err := Space{"opts": map[string]any{}}.Params()
	if err != nil || constants["opts"] == nil {
		t.Fatalf("empty map lost: %v %v", constants, err)
	}
	if err := (Space{"l": []any{Uniform(0, 1)}}).Validate(); err == nil {
		t.Fatal("a Domain inside a slice accepted as a constant")
	}
}
