package tune

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// hartmann6 is the six-dimensional Hartmann function on [0,1]^6, a
// standard Bayesian-optimisation benchmark; its minimum is −3.32237.
func hartmann6(x []float64) float64 {
	alpha := [4]float64{1.0, 1.2, 3.0, 3.2}
	a := [4][6]float64{
		{10, 3, 17, 3.5, 1.7, 8},
		{0.05, 10, 17, 0.1, 8, 14},
		{3, 3.5, 1.7, 10, 17, 8},
		{17, 8, 0.05, 10, 0.1, 14},
	}
	p := [4][6]float64{
		{0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886},
		{0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991},
		{0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650},
		{0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381},
	}
	var f float64
	for i := range 4 {
		var s float64
		for j := range 6 {
			d := x[j] - p[i][j]
			s += a[i][j] * d * d
		}
		f -= alpha[i] * math.Exp(-s)
	}
	return f
}

func hartmannParams() []Param {
	var ps []Param
	for i := range 6 {
		ps = append(ps, Param{Path: fmt.Sprintf("x%d", i), Domain: Uniform(0, 1)})
	}
	return ps
}

func hartmannOf(values map[string]any) float64 {
	x := make([]float64, 6)
	for i := range x {
		x[i] = values[fmt.Sprintf("x%d", i)].(float64)
	}
	return hartmann6(x)
}

// runSequential runs trials one at a time through s, minimising f, and
// returns the best value (NaN after an error; it may run in a goroutine).
func runSequential(t testing.TB, s Searcher, params []Param, f func(map[string]any) float64, trials int, seed int64) float64 {
	t.Helper()
	if err := s.Setup(SearchConfig{Metric: "loss", Mode: Min, Params: params, Seed: seed}); err != nil {
		t.Error(err)
		return math.NaN()
	}
	best := math.Inf(1)
	for i := range trials {
		id := fmt.Sprint("t", i)
		values, err := s.Suggest(id)
		if err != nil {
			t.Error(err)
			return math.NaN()
		}
		v := f(values)
		best = math.Min(best, v)
		s.OnTrialComplete(id, &Result{TrialID: id, Metrics: Metrics{"loss": v}}, false)
	}
	return best
}

// randomBest is random search's best value: points drawn with
// Domain.Sample.
func randomBest(params []Param, f func(map[string]any) float64, trials int, seed uint64) float64 {
	rng := rand.New(rand.NewPCG(seed, 99))
	best := math.Inf(1)
	for range trials {
		values := map[string]any{}
		for _, p := range params {
			values[p.Path] = p.Domain.Sample(rng)
		}
		best = math.Min(best, f(values))
	}
	return best
}

func TestBayesOptBadConfig(t *testing.T) {
	ok := []Param{{Path: "x", Domain: Uniform(0, 1)}}
	tests := []struct {
		name string
		cfg  BayesOptConfig
		sc   SearchConfig
	}{
		{"no metric", BayesOptConfig{}, SearchConfig{Mode: Min, Params: ok}},
		{"bad mode", BayesOptConfig{}, SearchConfig{Metric: "m", Mode: "up", Params: ok}},
		{"grid", BayesOptConfig{}, SearchConfig{Metric: "m", Mode: Min,
			Params: []Param{{Path: "g", Domain: GridSearch(1, 2)}}}},
		{"zero domain", BayesOptConfig{}, SearchConfig{Metric: "m", Mode: Min, Params: []Param{{Path: "z"}}}},
		{"negative initial points", BayesOptConfig{NInitialPoints: -1}, SearchConfig{Metric: "m", Mode: Min, Params: ok}},
		{"negative xi", BayesOptConfig{Xi: -0.1}, SearchConfig{Metric: "m", Mode: Min, Params: ok}},
		{"nan xi", BayesOptConfig{Xi: math.NaN()}, SearchConfig{Metric: "m", Mode: Min, Params: ok}},
		{"negative candidates", BayesOptConfig{NCandidates: -5}, SearchConfig{Metric: "m", Mode: Min, Params: ok}},
		{"negative samples", BayesOptConfig{}, SearchConfig{Metric: "m", Mode: Min, Params: ok, NumSamples: -1}},
	}
	for _, tt := range tests {
		if err := BayesOpt(tt.cfg).Setup(tt.sc); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Setup = %v, want ErrInvalidConfig", tt.name, err)
		}
	}
	if _, err := BayesOpt(BayesOptConfig{}).Suggest("t"); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Suggest before Setup = %v, want ErrInvalidConfig", err)
	}
}

// mixedParams has every kind BayesOpt handles.
func mixedParams() []Param {
	ps := []Param{
		{"choice", Choice("a", "b", 3)},
		{"derived", SampleFrom(func(Params) any { return 1 })},
		{"int", RandInt(2, 9)},
		{"logint", LogRandInt(1, 1000)},
		{"lr", LogUniform(1e-5, 1e-1)},
		{"normal", QNormal(5, 2, 0.5)},
		{"qint", QRandInt(0, 20, 5)},
		{"u", QUniform(-1, 1, 0.25)},
	}
	return ps
}

// mixedObjective rewards choice "b", int 7, lr near 1e-3, normal near 5.
func mixedObjective(v map[string]any) float64 {
	loss := math.Abs(math.Log10(v["lr"].(float64))+3) + math.Abs(float64(v["int"].(int64))-7)/7
	loss += math.Abs(v["normal"].(float64)-5) / 10
	loss += math.Abs(float64(v["qint"].(int64))-10) / 20
	loss += math.Abs(v["u"].(float64)-0.25) + math.Log(float64(v["logint"].(int64)))/10
	if v["choice"] != "b" {
		loss++
	}
	return loss
}

func TestBayesOptValueTypes(t *testing.T) {
	s := BayesOpt(BayesOptConfig{NInitialPoints: 5, NCandidates: 200, Seed: 3})
	params := mixedParams()
	if err := s.Setup(SearchConfig{Metric: "loss", Mode: Min, Params: params}); err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		id := fmt.Sprint("t", i)
		v, err := s.Suggest(id)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := v["derived"]; ok {
			t.Fatalf("suggestion %d holds the SampleFrom path: %v", i, v)
		}
		if c := v["choice"]; c != "a" && c != "b" && c != 3 {
			t.Errorf("suggestion %d: choice %v (%T)", i, c, c)
		}
		checkInt := func(name string, lo, hi, q int64) {
			n, ok := v[name].(int64)
			if !ok || n < lo || n > hi || (q > 0 && n%q != 0) {
				t.Errorf("suggestion %d: %s = %v (%T), want an int64 in [%d, %d]", i, name, v[name], v[name], lo, hi)
			}
		}
		checkInt("int", 2, 8, 0)
		checkInt("logint", 1, 999, 0)
		checkInt("qint", 0, 20, 5)
		checkFloat := func(name string, lo, hi, q float64) {
			f, ok := v[name].(float64)
			if !ok || f < lo || f > hi || (q > 0 && math.Abs(f/q-math.Round(f/q)) > 1e-9) {
				t.Errorf("suggestion %d: %s = %v (%T), want a float64 in [%v, %v]", i, name, v[name], v[name], lo, hi)
			}
		}
		checkFloat("lr", 1e-5, 1e-1, 0)
		checkFloat("u", -1, 1, 0.25)
		checkFloat("normal", math.Inf(-1), math.Inf(1), 0.5)
		s.OnTrialComplete(id, &Result{Metrics: Metrics{"loss": mixedObjective(v)}}, false)
	}
	if len(s.observed) != 12 {
		t.Errorf("observed %d trials, want 12", len(s.observed))
	}
}

// Equal seeds and calls give equal suggestions, through the GP phase and
// with trials running in parallel; another seed gives others.
func TestBayesOptDeterminism(t *testing.T) {
	run := func(seed int64) []map[string]any {
		s := BayesOpt(BayesOptConfig{NInitialPoints: 4, NCandidates: 200})
		if err := s.Setup(SearchConfig{Metric: "acc", Mode: Max, Params: mixedParams(), Seed: seed}); err != nil {
			t.Fatal(err)
		}
		var out []map[string]any
		var running []string
		for i := range 12 {
			id := fmt.Sprint("t", i)
			v, err := s.Suggest(id)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
			running = append(running, id)
			if len(running) == 2 { // two at a time: finish the older
				s.OnTrialComplete(running[0], &Result{Metrics: Metrics{"acc": -mixedObjective(out[i-1])}}, false)
				running = running[1:]
			}
		}
		return out
	}
	a, b, c := run(1), run(1), run(2)
	for i := range a {
		if fmt.Sprint(a[i]) != fmt.Sprint(b[i]) {
			t.Fatalf("suggestion %d differs between equal runs: %v vs %v", i, a[i], b[i])
		}
	}
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Error("seeds 1 and 2 gave the same suggestions")
	}
}

// With trials running, the kriging believer makes parallel suggestions
// differ.
func TestBayesOptParallelSuggestionsDiffer(t *testing.T) {
	s := BayesOpt(BayesOptConfig{NInitialPoints: 5, NCandidates: 500, Seed: 1})
	params := []Param{{"x", Uniform(0, 1)}, {"y", Uniform(0, 1)}}
	if err := s.Setup(SearchConfig{Metric: "loss", Mode: Min, Params: params}); err != nil {
		t.Fatal(err)
	}
	f := func(v map[string]any) float64 {
		x, y := v["x"].(float64), v["y"].(float64)
		return (x-0.3)*(x-0.3) + (y-0.6)*(y-0.6)
	}
	for i := range 6 {
		id := fmt.Sprint("init", i)
		v, _ := s.Suggest(id)
		s.OnTrialComplete(id, &Result{Metrics: Metrics{"loss": f(v)}}, false)
	}
	var got []string
	for i := range 4 {
		v, err := s.Suggest(fmt.Sprint("par", i))
		if err != nil {
			t.Fatal(err)
		}
		p := fmt.Sprintf("%.4f,%.4f", v["x"], v["y"])
		if slices.Contains(got, p) {
			t.Fatalf("parallel suggestion %d repeats %s (all: %v)", i, p, got)
		}
		got = append(got, p)
	}
}

func TestBayesOptNumSamples(t *testing.T) {
	s := BayesOpt(BayesOptConfig{NInitialPoints: 2, NCandidates: 50})
	err := s.Setup(SearchConfig{Metric: "m", Mode: Min, NumSamples: 4, Params: []Param{{"x", Uniform(0, 1)}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		id := fmt.Sprint(i)
		v, err := s.Suggest(id)
		if err != nil || v == nil {
			t.Fatalf("Suggest %d = %v, %v", i, v, err)
		}
		s.OnTrialComplete(id, &Result{Metrics: Metrics{"m": v["x"].(float64)}}, false)
	}
	if _, err := s.Suggest("more"); !errors.Is(err, ErrSearchFinished) {
		t.Errorf("Suggest after NumSamples = %v, want ErrSearchFinished", err)
	}
}

// Failed trials, results without the metric or with NaN, and unknown
// trials are left out; AddTrial's trials count.
func TestBayesOptObservations(t *testing.T) {
	s := BayesOpt(BayesOptConfig{Seed: 1})
	params := []Param{{"c", Choice(1, 2, 3)}, {"x", Uniform(0, 1)}}
	if err := s.Setup(SearchConfig{Metric: "m", Mode: Max, Params: params}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := s.Suggest(fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	s.OnTrialComplete("0", &Result{Metrics: Metrics{"m": 1}}, true)           // failed
	s.OnTrialComplete("1", &Result{Metrics: Metrics{"other": 1}}, false)      // no metric
	s.OnTrialComplete("2", &Result{Metrics: Metrics{"m": math.NaN()}}, false) // NaN
	s.OnTrialComplete("3", nil, false)                                        // no result
	s.OnTrialComplete("4", &Result{Metrics: Metrics{"m": 2}}, false)
	s.OnTrialComplete("unknown", &Result{Metrics: Metrics{"m": 3}}, false)
	s.OnTrialResult("unknown", Result{Metrics: Metrics{"m": 3}})
	// A restored trial: its int arrives as int64 after msgpack.
	s.AddTrial("added", map[string]any{"c": int64(2), "x": 0.5})
	s.AddTrial("bad", map[string]any{"c": "nope", "x": 0.5})
	s.OnTrialComplete("added", &Result{Metrics: Metrics{"m": 5}}, false)
	s.OnTrialComplete("bad", &Result{Metrics: Metrics{"m": 6}}, false)
	if len(s.observed) != 2 {
		t.Fatalf("observed %d trials, want 2", len(s.observed))
	}
	if got := s.observed[1]; got.y != -5 || !slices.Equal(got.x, []float64{0, 1, 0, 0.5}) {
		t.Errorf("added trial observed as x %v, y %v; want [0 1 0 0.5], -5 (Max negated)", got.x, got.y)
	}
	if len(s.pending) != 0 {
		t.Errorf("pending %v, want none", s.pending)
	}
}

// In Max mode BayesOpt climbs: it finds a 1-D peak within 20 trials.
func TestBayesOptMaxMode(t *testing.T) {
	s := BayesOpt(BayesOptConfig{NInitialPoints: 5, NCandidates: 500})
	if err := s.Setup(SearchConfig{Metric: "score", Mode: Max, Seed: 4,
		Params: []Param{{"x", Uniform(-2, 2)}}}); err != nil {
		t.Fatal(err)
	}
	bestX, best := 0.0, math.Inf(-1)
	for i := range 20 {
		id := fmt.Sprint(i)
		v, err := s.Suggest(id)
		if err != nil {
			t.Fatal(err)
		}
		x := v["x"].(float64)
		score := -(x - 0.7) * (x - 0.7)
		if score > best {
			bestX, best = x, score
		}
		s.OnTrialComplete(id, &Result{Metrics: Metrics{"score": score}}, false)
	}
	if math.Abs(bestX-0.7) > 0.02 {
		t.Errorf("best x %v, want within 0.02 of 0.7", bestX)
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	return quantile(s, 0.5)
}

// quantile interpolates linearly between the sorted values s.
func quantile(s []float64, q float64) float64 {
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (pos-float64(lo))*(s[hi]-s[lo])
}

// compareOnHartmann returns GP's and random search's best values on
// Hartmann-6 for seeds 1..seeds, trials each.
func compareOnHartmann(t testing.TB, trials, seeds int) (bo, random []float64) {
	bo, random = make([]float64, seeds), make([]float64, seeds)
	done := make(chan struct{})
	for i := range seeds {
		go func() {
			defer func() { done <- struct{}{} }()
			seed := int64(i + 1)
			bo[i] = runSequential(t, BayesOpt(BayesOptConfig{}), hartmannParams(), hartmannOf, trials, seed)
			random[i] = randomBest(hartmannParams(), hartmannOf, trials, uint64(seed))
		}()
	}
	for range seeds {
		<-done
	}
	return bo, random
}

func TestBayesOptBeatsRandomOnHartmann6(t *testing.T) {
	bo, random := compareOnHartmann(t, 40, 3)
	if median(bo) >= median(random) {
		t.Errorf("median best: GP %v, random %v (GP %v, random %v)", median(bo), median(random), bo, random)
	}
	t.Logf("median best over 3 seeds, 40 trials: GP %.4f, random %.4f", median(bo), median(random))
}

func BenchmarkBayesOptSuggest(b *testing.B) {
	s := BayesOpt(BayesOptConfig{})
	runSequential(b, s, hartmannParams(), hartmannOf, 100, 1)
	i := 0
	for b.Loop() {
		id := fmt.Sprint("bench", i)
		if _, err := s.Suggest(id); err != nil {
			b.Fatal(err)
		}
		s.OnTrialComplete(id, nil, true) // keep the GP at 100 trials
		i++
	}
}

// The GP phase moves between choices and reaches an int domain's top
// value (its range is widened by half a step so the ends are not
// starved).
func TestBayesOptLearnsChoiceAndIntEnd(t *testing.T) {
	params := []Param{{"c", Choice("a", "b", "c")}, {"n", RandInt(0, 10)}}
	f := func(v map[string]any) float64 {
		loss := math.Abs(float64(v["n"].(int64))-9) / 10
		if v["c"] != "c" {
			loss++
		}
		return loss
	}
	s := BayesOpt(BayesOptConfig{NInitialPoints: 4, NCandidates: 300})
	if best := runSequential(t, s, params, f, 20, 5); best != 0 {
		t.Errorf("best loss %v, want 0 (c, 9)", best)
	}
}
