package tune

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

// tpeSetup sets a TPE searcher up on space.
func tpeSetup(t testing.TB, cfg TPEConfig, space Space, mode Mode, numSamples int, seed int64) *TPESearcher {
	t.Helper()
	params, _, err := space.Params()
	if err != nil {
		t.Fatal(err)
	}
	s := TPE(cfg)
	if err := s.Setup(SearchConfig{Metric: "loss", Mode: mode, Params: params, NumSamples: numSamples, Seed: seed}); err != nil {
		t.Fatal(err)
	}
	return s
}

func finish(s Searcher, id string, loss float64) {
	s.OnTrialComplete(id, &Result{TrialID: id, Iteration: 1, Metrics: Metrics{"loss": loss}, Done: true}, false)
}

func TestTPESetupRejects(t *testing.T) {
	space := Space{"x": Uniform(0, 1)}
	params, _, _ := space.Params()
	grid, _, _ := Space{"x": GridSearch(1, 2)}.Params()
	for _, tc := range []struct {
		name string
		cfg  TPEConfig
		sc   SearchConfig
	}{
		{"no metric", TPEConfig{}, SearchConfig{Mode: Min, Params: params}},
		{"no mode", TPEConfig{}, SearchConfig{Metric: "loss", Params: params}},
		{"bad mode", TPEConfig{}, SearchConfig{Metric: "loss", Mode: "lowest", Params: params}},
		{"grid", TPEConfig{}, SearchConfig{Metric: "loss", Mode: Min, Params: grid}},
		{"negative samples", TPEConfig{}, SearchConfig{Metric: "loss", Mode: Min, Params: params, NumSamples: -1}},
		{"negative startup", TPEConfig{NStartupTrials: -1}, SearchConfig{Metric: "loss", Mode: Min, Params: params}},
		{"negative candidates", TPEConfig{NEICandidates: -3}, SearchConfig{Metric: "loss", Mode: Min, Params: params}},
		{"negative prior weight", TPEConfig{PriorWeight: -1}, SearchConfig{Metric: "loss", Mode: Min, Params: params}},
		{"infinite prior weight", TPEConfig{PriorWeight: math.Inf(1)}, SearchConfig{Metric: "loss", Mode: Min, Params: params}},
	} {
		err := TPE(tc.cfg).Setup(tc.sc)
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: err %v, want ErrInvalidConfig", tc.name, err)
		}
	}
	if _, err := TPE(TPEConfig{}).Suggest("t0"); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Suggest before Setup: err %v, want ErrInvalidConfig", err)
	}
}

var tpeMixedSpace = Space{
	"lr":     LogUniform(1e-4, 1e-1),
	"drop":   Uniform(0, 0.5),
	"q":      QUniform(0.05, 1, 0.1),
	"layers": RandInt(1, 4),
	"width":  QRandInt(16, 128, 16),
	"batch":  LogRandInt(8, 512),
	"act":    Choice("relu", "tanh", "gelu"),
	"noise":  Normal(0, 1),
	"derived": SampleFrom(func(p Params) any {
		return p.Float("lr") * 2
	}),
	"model": Space{"depth": RandInt(2, 5), "name": "const"},
}

// checkMixed checks a suggestion's values against tpeMixedSpace.
func checkMixed(t *testing.T, v map[string]any) {
	t.Helper()
	f := func(k string) float64 {
		x, ok := v[k].(float64)
		if !ok {
			t.Fatalf("%s = %#v, want a float64", k, v[k])
		}
		return x
	}
	i := func(k string) int64 {
		x, ok := v[k].(int64)
		if !ok {
			t.Fatalf("%s = %#v, want an int64", k, v[k])
		}
		return x
	}
	if x := f("lr"); x < 1e-4 || x > 1e-1 {
		t.Errorf("lr %v", x)
	}
	if x := f("drop"); x < 0 || x > 0.5 {
		t.Errorf("drop %v", x)
	}
	if x := f("q"); x < 0.1-1e-12 || x > 1+1e-12 || math.Abs(x/0.1-math.Round(x/0.1)) > 1e-9 {
		t.Errorf("q %v: want a multiple of 0.1 in [0.1, 1]", x)
	}
	if x := i("layers"); x < 1 || x > 3 {
		t.Errorf("layers %v: want 1..3", x)
	}
	if x := i("width"); x < 16 || x > 128 || x%16 != 0 {
		t.Errorf("width %v: want a multiple of 16 in 16..128", x)
	}
	if x := i("batch"); x < 8 || x > 511 {
		t.Errorf("batch %v: want 8..511", x)
	}
	if x := i("model/depth"); x < 2 || x > 4 {
		t.Errorf("model/depth %v", x)
	}
	if a := v["act"]; a != "relu" && a != "tanh" && a != "gelu" {
		t.Errorf("act %#v", a)
	}
	f("noise")
	if _, ok := v["derived"]; ok {
		t.Error("a SampleFrom value was suggested; Tune resolves those")
	}
	if _, ok := v["model/name"]; ok {
		t.Error("a constant was suggested")
	}
}

func TestTPESuggestionsInBounds(t *testing.T) {
	for _, multi := range []bool{false, true} {
		s := tpeSetup(t, TPEConfig{Multivariate: multi}, tpeMixedSpace, Min, 0, 1)
		for n := range 30 { // 10 random, then TPE
			id := fmt.Sprint("t", n)
			v, err := s.Suggest(id)
			if err != nil {
				t.Fatal(err)
			}
			checkMixed(t, v)
			finish(s, id, v["lr"].(float64)*float64(v["layers"].(int64)))
		}
	}
}

// TestTPENothingToModel: a space of Normal domains alone is sampled from
// their priors, past the startup trials too.
func TestTPENothingToModel(t *testing.T) {
	s := tpeSetup(t, TPEConfig{Multivariate: true}, Space{"n": Normal(5, 0.1), "c": 3}, Max, 0, 1)
	for n := range 15 {
		id := fmt.Sprint("t", n)
		v, err := s.Suggest(id)
		if err != nil || len(v) != 1 || math.Abs(v["n"].(float64)-5) > 1 {
			t.Fatalf("suggestion %d: %v, %v", n, v, err)
		}
		finish(s, id, v["n"].(float64))
	}
}

// TestTPEQuadratic: on a 1-d quadratic TPE ends near the optimum and
// samples there far more than random search would, minimising or
// maximising.
func TestTPEQuadratic(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   TPEConfig
		mode  Mode
		space Space
		seed  int64
	}{
		{"min", TPEConfig{}, Min, Space{"x": Uniform(-10, 10)}, 1},
		{"max", TPEConfig{}, Max, Space{"x": Uniform(-10, 10)}, 2},
		{"multivariate", TPEConfig{Multivariate: true}, Min, Space{"x": Uniform(-10, 10)}, 3},
		{"int", TPEConfig{}, Min, Space{"x": RandInt(-100, 101)}, 4},
		{"config seed", TPEConfig{Seed: 9}, Min, Space{"x": Uniform(-10, 10)}, 0},
	} {
		s := tpeSetup(t, tc.cfg, tc.space, tc.mode, 0, tc.seed)
		var xs []float64
		best := math.Inf(1)
		for n := range 50 {
			id := fmt.Sprint("t", n)
			v, err := s.Suggest(id)
			if err != nil {
				t.Fatal(err)
			}
			x, _ := toFloat(v["x"])
			if tc.name == "int" {
				x /= 10
			}
			loss := (x - 3) * (x - 3)
			best = min(best, loss)
			xs = append(xs, x)
			finish(s, id, -tc.mode.Sign()*loss)
		}
		// Random search puts 2 of the last 20 within 1 of the optimum.
		var close int
		for _, x := range xs[30:] {
			if math.Abs(x-3) < 1 {
				close++
			}
		}
		if close < 6 || best > 0.05 {
			t.Errorf("%s: %d of the last 20 within 1 of the optimum; best loss %v", tc.name, close, best)
		}
	}
}

// TestTPEConstantLiar: trials suggested while others run differ from the
// suggestions made without the liar, and from each other (the internal
// package's TestConstantLiar checks the spread with equal random streams).
func TestTPEConstantLiar(t *testing.T) {
	space := Space{"x": Uniform(-10, 10), "y": Uniform(-10, 10)}
	for _, multi := range []bool{false, true} {
		var runs [2][]map[string]any
		for k, liar := range []bool{false, true} {
			s := tpeSetup(t, TPEConfig{ConstantLiar: liar, Multivariate: multi}, space, Min, 0, 4)
			for n := range 20 {
				id := fmt.Sprint("t", n)
				v, _ := s.Suggest(id)
				x, y := v["x"].(float64), v["y"].(float64)
				finish(s, id, x*x+y*y)
			}
			for n := range 6 { // six in parallel: none finishes
				v, _ := s.Suggest(fmt.Sprint("p", n))
				runs[k] = append(runs[k], v)
			}
		}
		if fmt.Sprint(runs[0][0]) != fmt.Sprint(runs[1][0]) {
			t.Errorf("multivariate=%v: the first parallel suggestion depends on the liar, with no trial running", multi)
		}
		// The liar changes g only: a candidate may still win, not all.
		changed := 0
		for n := 1; n < 6; n++ {
			if fmt.Sprint(runs[0][n]) != fmt.Sprint(runs[1][n]) {
				changed++
			}
		}
		if changed == 0 {
			t.Errorf("multivariate=%v: the parallel suggestions ignore the running trials", multi)
		}
		seen := map[string]bool{}
		for _, v := range runs[1] {
			seen[fmt.Sprint(v)] = true
		}
		if len(seen) != 6 {
			t.Errorf("multivariate=%v: %d distinct parallel suggestions of 6", multi, len(seen))
		}
	}
}

// TestTPEDeterministic: the same seed and calls give the same
// suggestions, whatever the results' timing.
func TestTPEDeterministic(t *testing.T) {
	run := func(seed int64, cfg TPEConfig) []string {
		s := tpeSetup(t, cfg, tpeMixedSpace, Max, 0, seed)
		var out []string
		for n := range 25 {
			id := fmt.Sprint("t", n)
			v, err := s.Suggest(id)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprint(v))
			if n%3 != 2 { // leave some running
				finish(s, id, v["drop"].(float64)-float64(v["layers"].(int64)))
			}
		}
		return out
	}
	for _, cfg := range []TPEConfig{{}, {Multivariate: true, ConstantLiar: true}} {
		a, b, c := run(7, cfg), run(7, cfg), run(8, cfg)
		if !slices.Equal(a, b) {
			t.Errorf("%+v: same seed and calls, different suggestions", cfg)
		}
		if slices.Equal(a, c) {
			t.Errorf("%+v: seeds 7 and 8 gave the same suggestions", cfg)
		}
	}
}

func TestTPENumSamples(t *testing.T) {
	s := tpeSetup(t, TPEConfig{}, Space{"x": Uniform(0, 1)}, Min, 3, 1)
	for n := range 3 {
		if _, err := s.Suggest(fmt.Sprint("t", n)); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := s.Suggest("t3"); !errors.Is(err, ErrSearchFinished) || v != nil {
		t.Errorf("fourth Suggest: %v, %v; want ErrSearchFinished", v, err)
	}
}

// TestTPETrialOutcomes: how each ending counts.
func TestTPETrialOutcomes(t *testing.T) {
	s := tpeSetup(t, TPEConfig{}, Space{"x": Uniform(0, 1)}, Max, 0, 1)
	ids := []string{"done", "stopped", "failed", "nil", "nometric", "nan", "running"}
	for _, id := range ids {
		if _, err := s.Suggest(id); err != nil {
			t.Fatal(err)
		}
	}
	s.OnTrialResult("done", Result{Metrics: Metrics{"loss": 1}}) // ignored
	s.OnTrialComplete("done", &Result{Iteration: 5, Metrics: Metrics{"loss": 2}, Done: true}, false)
	s.OnTrialComplete("stopped", &Result{Iteration: 3, Metrics: Metrics{"loss": 4}}, false)
	s.OnTrialComplete("failed", &Result{Iteration: 3, Metrics: Metrics{"loss": 4}}, true)
	s.OnTrialComplete("nil", nil, false)
	s.OnTrialComplete("nometric", &Result{Iteration: 1, Metrics: Metrics{"acc": 4}, Done: true}, false)
	s.OnTrialComplete("nan", &Result{Iteration: 1, Metrics: Metrics{"loss": math.NaN()}, Done: true}, false)
	s.OnTrialComplete("unknown", &Result{Metrics: Metrics{"loss": 4}, Done: true}, false)

	got := map[string]string{}
	for id, i := range s.index {
		o := s.trials[i]
		got[id] = fmt.Sprintf("state %d loss %v step %d", o.State, o.Loss, o.Step)
	}
	want := map[string]string{
		"done":    "state 0 loss -2 step 0", // Max: negated
		"stopped": "state 1 loss -4 step 3",
		"running": "state 2 loss 0 step 0",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(s.trials) != 3 {
		t.Errorf("trials %v, want %v", got, want)
	}
}

func TestTPEAddTrial(t *testing.T) {
	space := Space{"x": Uniform(0, 10), "n": RandInt(0, 5), "c": Choice("a", 2, 3.5)}
	s := tpeSetup(t, TPEConfig{}, space, Min, 0, 1)
	s.AddTrial("p0", map[string]any{"x": 20.0, "n": int64(2), "c": 3.5})
	s.AddTrial("p1", map[string]any{"x": 1, "n": 4.0, "c": int64(2)})
	s.AddTrial("bad-choice", map[string]any{"x": 1.0, "n": 1, "c": "z"})
	s.AddTrial("missing", map[string]any{"x": 1.0, "c": "a"})
	s.AddTrial("not-a-number", map[string]any{"x": "one", "n": 1, "c": "a"})
	finish(s, "p0", 1)
	// Dimensions in path order: c, n, x; x clipped to its range.
	want := "[{[2 2 10] 1 0 0} {[1 4 1] 0 2 0}]"
	if got := fmt.Sprint(s.trials); got != want {
		t.Errorf("trials %s, want %s", got, want)
	}
}

// BenchmarkTPESuggest times one Suggest and its tell after 1,000
// finished trials in a 10-d float space, multivariate (the performance
// table's row 2). It reports the median as median-ns/op.
func BenchmarkTPESuggest(b *testing.B) {
	space := Space{}
	for d := range 10 {
		space[fmt.Sprint("x", d)] = Uniform(-5, 10)
	}
	s := tpeSetup(b, TPEConfig{Multivariate: true}, space, Min, 0, 1)
	rosen := func(v map[string]any) float64 {
		var sum float64
		for d := range 9 {
			x, y := v[fmt.Sprint("x", d)].(float64), v[fmt.Sprint("x", d+1)].(float64)
			sum += 100*(y-x*x)*(y-x*x) + (1-x)*(1-x)
		}
		return sum
	}
	// 1,000 trials told as if another sampler had run them: random
	// points, through AddTrial.
	warm := TPE(TPEConfig{NStartupTrials: math.MaxInt32})
	params, _, _ := space.Params()
	_ = warm.Setup(SearchConfig{Metric: "loss", Mode: Min, Params: params, Seed: 2})
	for n := range 1000 {
		id := fmt.Sprint("w", n)
		v, _ := warm.Suggest(id)
		s.AddTrial(id, v)
		finish(s, id, rosen(v))
	}
	base := len(s.trials)
	times := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; b.Loop(); n++ {
		start := time.Now()
		id := fmt.Sprint("b", n)
		v, err := s.Suggest(id)
		if err != nil {
			b.Fatal(err)
		}
		finish(s, id, rosen(v))
		times = append(times, time.Since(start))
		if len(s.trials) >= base+50 {
			// Keep the history at about 1,000 trials.
			b.StopTimer()
			for id, i := range s.index {
				if i >= base {
					delete(s.index, id)
				}
			}
			s.trials = s.trials[:base]
			b.StartTimer()
		}
	}
	slices.Sort(times)
	if len(times) > 0 {
		b.ReportMetric(float64(times[len(times)/2].Nanoseconds()), "median-ns/op")
	}
}
