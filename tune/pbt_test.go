package tune

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

func pbtMutationsForTest() Space {
	return Space{
		"lr":     Uniform(0.001, 1),
		"opt":    Space{"momentum": Choice(0.8, 0.9, 0.99)},
		"batch":  []any{16, 32, 64},
		"layers": RandInt(1, 10),
	}
}

// Explore without resampling: numbers ×1.2 or ×0.8, clipped and (ints)
// rounded; list values move to a neighbour, staying inside the list.
func TestPBTExploreArithmetic(t *testing.T) {
	tests := []struct {
		name   string
		params Params
		want   map[string][]any // possible values by path
	}{
		{"middle", Params{"lr": 0.5, "opt": Params{"momentum": 0.9}, "batch": int64(32), "layers": int64(4), "keep": "x"},
			map[string][]any{"lr": {0.6, 0.4}, "opt/momentum": {0.8, 0.99}, "batch": {16, 64}, "layers": {int64(5), int64(3)}, "keep": {"x"}}},
		{"edges clip", Params{"lr": 0.9, "opt": map[string]any{"momentum": 0.99}, "batch": 16, "layers": int64(9)},
			map[string][]any{"lr": {1.0, 0.9 * 0.8}, "opt/momentum": {0.99, 0.9}, "batch": {16, 32}, "layers": {int64(9), int64(7)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[string]map[any]bool{}
			for seed := range int64(40) {
				p := PBT(PBTConfig{Metric: "m", Mode: Max, HyperparamMutations: pbtMutationsForTest(), NoResample: true, Seed: seed}).(*pbtScheduler)
				if err := p.Setup("", ""); err != nil {
					t.Fatal(err)
				}
				got := p.explore(tc.params).Flat()
				for path, allowed := range tc.want {
					v := got[path]
					if !schedContainsValue(allowed, v) {
						t.Errorf("seed %d: %s = %v (%T), want one of %v", seed, path, v, v, allowed)
					}
					if seen[path] == nil {
						seen[path] = map[any]bool{}
					}
					seen[path][v] = true
				}
			}
			for path, allowed := range tc.want {
				if len(seen[path]) != len(allowed) {
					t.Errorf("%s: 40 seeds gave %v, want each of %v", path, seen[path], allowed)
				}
			}
			if tc.params["lr"] == 0.5 && tc.params.Float("lr") != 0.5 {
				t.Error("explore changed its input")
			}
		})
	}
}

func schedContainsValue(values []any, v any) bool {
	x, numeric := toFloat(v)
	for _, w := range values {
		if y, ok := toFloat(w); ok && numeric && math.Abs(x-y) < 1e-12 {
			if _, isInt := w.(int64); isInt && !holdsInt(v) {
				continue
			}
			return true
		}
		if w == v {
			return true
		}
	}
	return false
}

// With ResampleProbability 1 every value is drawn afresh from its domain;
// CustomExplore post-processes.
func TestPBTExploreResamplesAndCustom(t *testing.T) {
	p := PBT(PBTConfig{Metric: "m", Mode: Max, HyperparamMutations: pbtMutationsForTest(), ResampleProbability: 1, Seed: 3,
		CustomExplore: func(p Params) Params { p["custom"] = true; return p }}).(*pbtScheduler)
	if err := p.Setup("", ""); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		got := p.explore(Params{"lr": 0.5, "opt": Params{"momentum": 0.9}, "batch": 32, "layers": int64(4)})
		if lr := got.Float("lr"); lr < 0.001 || lr >= 1 {
			t.Fatalf("lr %v outside its domain", lr)
		}
		if l, ok := got["layers"].(int64); !ok || l < 1 || l >= 10 {
			t.Fatalf("layers %v (%T) outside its domain", got["layers"], got["layers"])
		}
		if !got.Bool("custom") {
			t.Fatal("CustomExplore not applied")
		}
	}
}

// Direct calls, 4 trials, interval 2: the top quantile checkpoints, the
// bottom one exploits it with explored params.
func TestPBTExploitDecisions(t *testing.T) {
	p := PBT(PBTConfig{Metric: "m", Mode: Max, PerturbationInterval: 2, NoResample: true, Seed: 1,
		HyperparamMutations: Space{"lr": Uniform(0.001, 1)}})
	if err := p.Setup("", ""); err != nil {
		t.Fatal(err)
	}
	// All four run at once (each added just before its first result), so
	// none waits for a slot.
	res := func(id string, it int, v float64, ckpt bool) Decision {
		lr := 0.1 * float64(strings.Index("abcd", id)+1)
		if it == 1 || (it == 2 && id != "a") {
			p.OnTrialAdd(TrialInfo{ID: id})
		}
		return p.OnTrialResult(TrialInfo{ID: id, Params: Params{"lr": lr}, HasCheckpoint: ckpt}, Result{Iteration: it, Metrics: Metrics{"m": v}})
	}
	if d := res("a", 1, 1, false); d.Action != Continue || d.Checkpoint {
		t.Errorf("before the interval: %+v", d)
	}
	if d := res("a", 2, 1, false); d.Action != Continue || d.Checkpoint || !strings.Contains(d.Reason, "ranks 1 of 1") {
		t.Errorf("alone: %+v", d)
	}
	if d := res("b", 2, 2, false); !d.Checkpoint || !strings.Contains(d.Reason, "top quantile") {
		t.Errorf("b, best of 2: %+v", d)
	}
	res("c", 2, 3, false)
	if d := res("d", 2, 4, false); !d.Checkpoint || !strings.Contains(d.Reason, "ranks 1 of 4") {
		t.Errorf("d, best of 4: %+v", d)
	}
	d := res("a", 4, 0.5, false)
	if d.Action != Exploit || d.Source != "d" || !strings.Contains(d.Reason, "bottom quantile") || !strings.Contains(d.Reason, "exploits d") {
		t.Fatalf("a, worst: %+v", d)
	}
	if lr := d.Params.Float("lr"); math.Abs(lr-0.48) > 1e-12 && math.Abs(lr-0.32) > 1e-12 {
		t.Errorf("explored lr %v, want 0.4×1.2 or 0.4×0.8", lr)
	}
	// Without any checkpoint among the top trials, nothing is exploited.
	q := PBT(PBTConfig{Metric: "m", Mode: Min, PerturbationInterval: 1, HyperparamMutations: Space{"lr": Uniform(0.001, 1)}})
	_ = q.Setup("", "")
	q.OnTrialResult(TrialInfo{ID: "x"}, Result{Iteration: 1, Metrics: Metrics{"m": 1}}) // alone: no checkpoint asked
	if d := q.OnTrialResult(TrialInfo{ID: "y"}, Result{Iteration: 1, Metrics: Metrics{"m": 2}}); d.Action != Continue || !strings.Contains(d.Reason, "no top-quantile trial has a checkpoint") {
		t.Errorf("y: %+v", d)
	}
}

func TestPBTChoosesTheLeastTrained(t *testing.T) {
	p := PBT(PBTConfig{Metric: "m", Mode: Max, PerturbationInterval: 100, HyperparamMutations: Space{"lr": Uniform(0.001, 1)}})
	_ = p.Setup("", "")
	for _, id := range []string{"a", "b", "c"} {
		p.OnTrialAdd(TrialInfo{ID: id})
	}
	p.OnTrialResult(TrialInfo{ID: "a"}, Result{Iteration: 5, Metrics: Metrics{"m": 1}})
	p.OnTrialResult(TrialInfo{ID: "b"}, Result{Iteration: 3, Metrics: Metrics{"m": 1}})
	waiting := []TrialInfo{{ID: "a", State: Paused}, {ID: "b", State: Paused}}
	if id := p.ChooseTrialToRun(waiting); id != "b" {
		t.Errorf("ChooseTrialToRun = %q, want b", id)
	}
	if id := p.ChooseTrialToRun(append(waiting, TrialInfo{ID: "c", State: Pending})); id != "c" {
		t.Errorf("ChooseTrialToRun = %q, want the pending c", id)
	}
}

func TestSchedulersRejectBadConfigs(t *testing.T) {
	mut := Space{"lr": Uniform(0.001, 1)}
	tests := []struct {
		name     string
		s        Scheduler
		metric   string
		mode     Mode
		wantErr  error
		contains string
	}{
		{"ASHA no metric", ASHA(ASHAConfig{}), "", Max, ErrInvalidConfig, "metric"},
		{"ASHA no mode", ASHA(ASHAConfig{Metric: "m"}), "", "", ErrInvalidConfig, "mode"},
		{"ASHA bad mode", ASHA(ASHAConfig{Metric: "m", Mode: "up"}), "", "", ErrInvalidConfig, "mode"},
		{"ASHA negative MaxT", ASHA(ASHAConfig{MaxT: -1}), "m", Max, ErrInvalidConfig, "MaxT"},
		{"ASHA grace above MaxT", ASHA(ASHAConfig{MaxT: 10, GracePeriod: 20}), "m", Max, ErrInvalidConfig, "GracePeriod"},
		{"ASHA rf 1", ASHA(ASHAConfig{ReductionFactor: 1}), "m", Max, ErrInvalidConfig, "ReductionFactor"},
		{"ASHA negative brackets", ASHA(ASHAConfig{Brackets: -2}), "m", Max, ErrInvalidConfig, "Brackets"},
		{"HyperBand no metric", HyperBand(HyperBandConfig{}), "", Min, ErrInvalidConfig, "metric"},
		{"HyperBand MaxT NaN", HyperBand(HyperBandConfig{MaxT: math.NaN()}), "m", Min, ErrInvalidConfig, "MaxT"},
		{"HyperBand eta 0.5", HyperBand(HyperBandConfig{ReductionFactor: 0.5}), "m", Min, ErrInvalidConfig, "ReductionFactor"},
		{"Median no mode", MedianStopping(MedianStoppingConfig{}), "m", "", ErrInvalidConfig, "mode"},
		{"Median negative grace", MedianStopping(MedianStoppingConfig{GracePeriod: -1}), "m", Max, ErrInvalidConfig, "GracePeriod"},
		{"Median negative samples", MedianStopping(MedianStoppingConfig{MinSamplesRequired: -1}), "m", Max, ErrInvalidConfig, "MinSamplesRequired"},
		{"Median negative slice", MedianStopping(MedianStoppingConfig{MinTimeSlice: -1}), "m", Max, ErrInvalidConfig, "MinTimeSlice"},
		{"PBT no metric", PBT(PBTConfig{HyperparamMutations: mut}), "", Max, ErrInvalidConfig, "metric"},
		{"PBT nothing to mutate", PBT(PBTConfig{}), "m", Max, ErrInvalidConfig, "HyperparamMutations or CustomExplore"},
		{"PBT quantile 0.7", PBT(PBTConfig{HyperparamMutations: mut, QuantileFraction: 0.7}), "m", Max, ErrInvalidConfig, "QuantileFraction"},
		{"PBT resample 2", PBT(PBTConfig{HyperparamMutations: mut, ResampleProbability: 2}), "m", Max, ErrInvalidConfig, "ResampleProbability"},
		{"PBT negative interval", PBT(PBTConfig{HyperparamMutations: mut, PerturbationInterval: -5}), "m", Max, ErrInvalidConfig, "PerturbationInterval"},
		{"PBT negative burn-in", PBT(PBTConfig{HyperparamMutations: mut, BurnInPeriod: -5}), "m", Max, ErrInvalidConfig, "BurnInPeriod"},
		{"PBT infinite factor", PBT(PBTConfig{HyperparamMutations: mut, PerturbationFactors: [2]float64{math.Inf(1), 1}}), "m", Max, ErrInvalidConfig, "PerturbationFactors"},
		{"PBT grid", PBT(PBTConfig{HyperparamMutations: Space{"lr": GridSearch(1, 2)}}), "m", Max, ErrInvalidSpace, "grid cannot be mutated"},
		{"PBT constant", PBT(PBTConfig{HyperparamMutations: Space{"lr": 0.1}}), "m", Max, ErrInvalidSpace, "non-empty list"},
		{"PBT empty list", PBT(PBTConfig{HyperparamMutations: Space{"a": Space{"b": []any{}}}}), "m", Max, ErrInvalidSpace, `"a/b"`},
		{"PBT bad domain", PBT(PBTConfig{HyperparamMutations: Space{"lr": Uniform(1, 0)}}), "m", Max, ErrInvalidSpace, "low must be below high"},
		{"PBT bad key", PBT(PBTConfig{HyperparamMutations: Space{"a/b": Uniform(0, 1)}}), "m", Max, ErrInvalidSpace, "'/'"},
	}
	for _, tc := range tests {
		err := tc.s.Setup(tc.metric, tc.mode)
		if !errors.Is(err, tc.wantErr) || !strings.Contains(fmt.Sprint(err), tc.contains) {
			t.Errorf("%s: %v, want %v mentioning %q", tc.name, err, tc.wantErr, tc.contains)
		}
	}
	// The experiment's metric and mode serve a scheduler without its own.
	for _, s := range []Scheduler{FIFO(), ASHA(ASHAConfig{}), HyperBand(HyperBandConfig{}), MedianStopping(MedianStoppingConfig{}), PBT(PBTConfig{HyperparamMutations: mut})} {
		if err := s.Setup("m", Min); err != nil {
			t.Errorf("%T: %v", s, err)
		}
	}
}

// More trials than slots: PBT pauses trials at their perturbation so that
// waiting ones run, and resumes the least trained first; every trial
// reaches the end.
func TestPBTTimeSharesSlots(t *testing.T) {
	params := make([]Params, 6)
	for i := range params {
		params[i] = Params{"lr": 0.01 * float64(i+1)}
	}
	sched := PBT(PBTConfig{PerturbationInterval: 2, Seed: 4, HyperparamMutations: Space{"lr": LogUniform(1e-4, 0.2)}})
	sim := newSchedSim(t, sched, schedPBTTask{}, 3, 20, "loss", Min, params)
	sim.run()
	pauses := 0
	for _, e := range sim.events {
		if e.action == Pause {
			pauses++
			schedMustContain(t, "pause reason", e.reason, "yields to")
		}
	}
	if pauses == 0 {
		t.Error("no trial yielded its slot")
	}
	for _, tr := range sim.trials {
		if tr.state != Terminated || tr.iter != 20 {
			t.Errorf("%s ends %s at %d", tr.id, tr.state, tr.iter)
		}
	}
}
