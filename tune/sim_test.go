package tune

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/bench/tune/curves"
)

// The schedSimulator drives a Scheduler as Tune's runner does, in process and
// in lock step: slots trials run at once; each round every running trial
// reports one result; decisions are honoured (Stop ends a trial, Pause
// checkpoints it and frees its slot until ChooseTrialToRun resumes it,
// Exploit restores the source's checkpoint with the new Params,
// Checkpoint saves one); HyperBand's decisions on paused trials are
// applied after each call.

// schedTask is what simulated trials train: step runs iteration iter of a
// trial with params from model state, returning the new state and the
// metrics.
type schedTask interface {
	init(p Params) float64
	step(p Params, model float64, iter int) (float64, Metrics)
}

type schedCheckpoint struct {
	iter  int
	model float64
}

type schedTrial struct {
	id        string
	params    Params
	state     TrialState
	iter      int
	model     float64
	ckpt      *schedCheckpoint
	last      *Result
	decisions []schedEvent
}

// schedEvent is one result's decision (or a decision on a paused trial).
type schedEvent struct {
	seq    int // order of events in the run
	trial  string
	iter   int
	action Action
	reason string
	source string
}

type schedSimulator struct {
	t       testing.TB
	sched   Scheduler
	task    schedTask
	slots   int
	maxIter int // a trial's trainable returns after this many iterations
	trials  []*schedTrial
	byID    map[string]*schedTrial
	events  []schedEvent
	iters   int // results reported in all
	rng     *rand.Rand
}

func newSchedSim(t testing.TB, sched Scheduler, task schedTask, slots, maxIter int, metric string, mode Mode, params []Params) *schedSimulator {
	t.Helper()
	s := &schedSimulator{t: t, sched: sched, task: task, slots: slots, maxIter: maxIter, byID: map[string]*schedTrial{},
		rng: rand.New(rand.NewPCG(7, 7))}
	if err := sched.Setup(metric, mode); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	for i, p := range params {
		tr := &schedTrial{id: fmt.Sprintf("t%03d", i), params: p, state: Pending, model: task.init(p)}
		s.trials = append(s.trials, tr)
		s.byID[tr.id] = tr
		sched.OnTrialAdd(s.info(tr))
	}
	return s
}

func (s *schedSimulator) info(tr *schedTrial) TrialInfo {
	return TrialInfo{ID: tr.id, Params: tr.params, State: tr.state, Last: tr.last, HasCheckpoint: tr.ckpt != nil}
}

func (s *schedSimulator) record(tr *schedTrial, d Decision) {
	e := schedEvent{seq: len(s.events), trial: tr.id, iter: tr.iter, action: d.Action, reason: d.Reason, source: d.Source}
	s.events = append(s.events, e)
	tr.decisions = append(tr.decisions, e)
}

// run simulates until no trial runs or can be started.
func (s *schedSimulator) run() {
	for round := 0; ; round++ {
		if round > 100000 {
			s.t.Fatal("simulation does not end")
		}
		running := s.fill()
		if len(running) == 0 {
			return
		}
		// Real trials do not report in a fixed order: a seeded shuffle
		// keeps any trial from always seeing the others' older scores.
		s.rng.Shuffle(len(running), func(i, j int) { running[i], running[j] = running[j], running[i] })
		for _, tr := range running {
			if tr.state == Running {
				s.stepTrial(tr)
			}
		}
	}
}

// fill starts waiting trials ChooseTrialToRun picks while slots are free,
// and returns the running trials in creation order.
func (s *schedSimulator) fill() []*schedTrial {
	count := func() int {
		n := 0
		for _, tr := range s.trials {
			if tr.state == Running {
				n++
			}
		}
		return n
	}
	for count() < s.slots {
		var waiting []TrialInfo
		for _, tr := range s.trials {
			if tr.state == Pending || tr.state == Paused {
				waiting = append(waiting, s.info(tr))
			}
		}
		if len(waiting) == 0 {
			break
		}
		id := s.sched.ChooseTrialToRun(waiting)
		if id == "" {
			break
		}
		tr := s.byID[id]
		if tr == nil || (tr.state != Pending && tr.state != Paused) {
			s.t.Fatalf("ChooseTrialToRun picked %q, which is not waiting", id)
		}
		if tr.state == Paused { // resume from the checkpoint taken at the pause
			tr.iter, tr.model = tr.ckpt.iter, tr.ckpt.model
		}
		tr.state = Running
	}
	var running []*schedTrial
	for _, tr := range s.trials {
		if tr.state == Running {
			running = append(running, tr)
		}
	}
	return running
}

func (s *schedSimulator) stepTrial(tr *schedTrial) {
	tr.iter++
	s.iters++
	var m Metrics
	tr.model, m = s.task.step(tr.params, tr.model, tr.iter)
	r := Result{TrialID: tr.id, Iteration: tr.iter, TimeTotal: time.Duration(tr.iter) * time.Second,
		TimeThisIter: time.Second, Metrics: m, Done: tr.iter >= s.maxIter}
	tr.last = &r
	if r.Done { // the trainable returned: its last result ends it
		tr.state = Terminated
		s.sched.OnTrialComplete(s.info(tr), &r)
		s.applyPaused()
		return
	}
	d := s.sched.OnTrialResult(s.info(tr), r)
	s.record(tr, d)
	if d.Checkpoint {
		tr.ckpt = &schedCheckpoint{tr.iter, tr.model}
	}
	switch d.Action {
	case Stop:
		tr.state = Terminated
		s.sched.OnTrialRemove(s.info(tr))
	case Pause:
		tr.ckpt = &schedCheckpoint{tr.iter, tr.model}
		tr.state = Paused
	case Exploit:
		src := s.byID[d.Source]
		if src == nil || src.ckpt == nil {
			s.t.Fatalf("%s exploits %q, which has no checkpoint", tr.id, d.Source)
		}
		if d.Params == nil {
			s.t.Fatalf("%s exploits %s without Params", tr.id, d.Source)
		}
		tr.iter, tr.model, tr.params = src.ckpt.iter, src.ckpt.model, d.Params
		tr.ckpt = nil
	}
	s.applyPaused()
}

// applyPaused applies a PausedTrialDecider's decisions on paused trials.
func (s *schedSimulator) applyPaused() {
	pd, ok := s.sched.(PausedTrialDecider)
	if !ok {
		return
	}
	for _, d := range pd.TakePausedDecisions() {
		tr := s.byID[d.TrialID]
		if tr == nil || tr.state != Paused {
			s.t.Fatalf("decision %v on %q, which is not paused", d.Action, d.TrialID)
		}
		s.record(tr, d.Decision)
		if d.Action == Stop {
			tr.state = Terminated
			s.sched.OnTrialRemove(s.info(tr))
		}
	}
}

// stopped returns where each trial stopped by a Stop decision ("" for
// none): "iter" or "iter:reason-fragment" checks.
func (s *schedSimulator) stopIter(id string) int {
	for _, e := range s.byID[id].decisions {
		if e.action == Stop {
			return e.iter
		}
	}
	return 0
}

func (s *schedSimulator) stopReason(id string) string {
	for _, e := range s.byID[id].decisions {
		if e.action == Stop {
			return e.reason
		}
	}
	return ""
}

// schedConstTask reports metric "v" = params "v" at every iteration.
type schedConstTask struct{}

func (schedConstTask) init(Params) float64 { return 0 }
func (schedConstTask) step(p Params, _ float64, _ int) (float64, Metrics) {
	return 0, Metrics{"v": p.Float("v")}
}

func schedValueParams(vs ...float64) []Params {
	out := make([]Params, len(vs))
	for i, v := range vs {
		out[i] = Params{"v": v}
	}
	return out
}

func schedMustContain(t *testing.T, what, s string, fragments ...string) {
	t.Helper()
	for _, f := range fragments {
		if !strings.Contains(s, f) {
			t.Errorf("%s %q lacks %q", what, s, f)
		}
	}
}

// schedCurveTask trains a bench/tune/curves configuration: metric "loss".
type schedCurveTask struct{}

func (schedCurveTask) init(Params) float64 { return 0 }
func (schedCurveTask) step(p Params, _ float64, iter int) (float64, Metrics) {
	c, err := curves.FromParams(p)
	if err != nil {
		panic(err)
	}
	return 0, Metrics{"loss": curves.Loss(c, iter)}
}

// schedPBTTask trains the curves PBT problem: the model is the loss, which a
// checkpoint carries; params "lr".
type schedPBTTask struct{}

func (schedPBTTask) init(Params) float64 { return curves.PBTInitialLoss }
func (schedPBTTask) step(p Params, loss float64, _ int) (float64, Metrics) {
	loss = curves.PBTStep(loss, p.Float("lr"))
	return loss, Metrics{"loss": loss}
}

// shuffledCurveParams returns the 100 configurations in a seeded random
// order, as a random search would meet them.
func shuffledCurveParams(seed uint64) []Params {
	cs := curves.Configs()
	rng := rand.New(rand.NewPCG(seed, 1))
	rng.Shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })
	out := make([]Params, len(cs))
	for i, c := range cs {
		out[i] = Params(c.Params())
	}
	return out
}

// ashaOnCurves runs ASHA over the 100 configurations and returns the
// full-run loss of the configuration whose last result is best (what
// ResultGrid.Best would pick) and the iterations spent.
func ashaOnCurves(t testing.TB, seed uint64) (chosen float64, iters int) {
	sched := ASHA(ASHAConfig{MaxT: curves.MaxIter, GracePeriod: 8, ReductionFactor: 4})
	sim := newSchedSim(t, sched, schedCurveTask{}, 8, curves.MaxIter, "loss", Min, shuffledCurveParams(seed))
	sim.run()
	best := math.Inf(1)
	var bestParams Params
	for _, tr := range sim.trials {
		if l := tr.last.Metrics["loss"]; l < best {
			best, bestParams = l, tr.params
		}
	}
	c, err := curves.FromParams(bestParams)
	if err != nil {
		t.Fatal(err)
	}
	return curves.Loss(c, curves.MaxIter), sim.iters
}

// ASHA on the crossing curves finds a configuration within 1% of the
// best of a full-budget search of the same 100, spending at least 3×
// fewer iterations.
func TestASHAQualityOnCurves(t *testing.T) {
	_, full := curves.Best()
	fullIters := 100 * curves.MaxIter
	for _, seed := range []uint64{1, 2, 3, 4, 5} {
		chosen, iters := ashaOnCurves(t, seed)
		t.Logf("seed %d: ASHA's pick %.5f vs full search %.5f (%.2f%%), %d iterations vs %d (%.1f× fewer)",
			seed, chosen, full, 100*(chosen/full-1), iters, fullIters, float64(fullIters)/float64(iters))
		if chosen > 1.01*full {
			t.Errorf("seed %d: ASHA's pick %v is over 1%% worse than the best %v", seed, chosen, full)
		}
		if 3*iters > fullIters {
			t.Errorf("seed %d: ASHA spent %d iterations, not 3× fewer than %d", seed, iters, fullIters)
		}
	}
}

// pbtOnSchedule runs PBT with a population of 8 (all running at once)
// for 100 steps of the learning-rate problem, perturbing every 4, and
// returns the best final loss.
func pbtOnSchedule(t testing.TB, seed int64) float64 {
	const steps, population = 100, 8
	lrDomain := LogUniform(curves.PBTMinLR, curves.PBTMaxLR)
	rng := rand.New(rand.NewPCG(uint64(seed), 2))
	params := make([]Params, population)
	for i := range params {
		params[i] = Params{"lr": lrDomain.Sample(rng)}
	}
	sched := PBT(PBTConfig{PerturbationInterval: 4, Seed: seed, HyperparamMutations: Space{"lr": lrDomain}})
	sim := newSchedSim(t, sched, schedPBTTask{}, population, steps, "loss", Min, params)
	sim.run()
	best, exploits := math.Inf(1), 0
	for _, tr := range sim.trials {
		best = math.Min(best, tr.last.Metrics["loss"])
		for _, e := range tr.decisions {
			if e.action == Exploit {
				exploits++
			}
		}
	}
	if exploits == 0 {
		t.Errorf("seed %d: PBT never exploited", seed)
	}
	return best
}

// PBT on the learning-rate problem beats the best constant learning rate:
// it learns to decay the rate.
func TestPBTQualityOnSchedule(t *testing.T) {
	const steps = 100
	_, fixed := curves.BestFixedLR(steps)
	for _, seed := range []int64{1, 2, 3} {
		best := pbtOnSchedule(t, seed)
		t.Logf("seed %d: PBT best loss %.5f vs best fixed lr %.5f (%.1f%% lower), greedy schedule %.5f",
			seed, best, fixed, 100*(1-best/fixed), curves.GreedyScheduleLoss(steps))
		if !(best < fixed) {
			t.Errorf("seed %d: PBT's %v does not beat the best fixed %v", seed, best, fixed)
		}
	}
}

// Replaying the same calls gives the same decisions (what Restore relies
// on): each scheduler, run twice over the same trials, decides alike.
func TestSchedulersAreDeterministic(t *testing.T) {
	lr := LogUniform(curves.PBTMinLR, curves.PBTMaxLR)
	pbtParams := make([]Params, 6)
	for i := range pbtParams {
		pbtParams[i] = Params{"lr": 0.001 * float64(i+1)}
	}
	tests := []struct {
		name   string
		make   func() Scheduler
		task   schedTask
		params []Params
	}{
		{"ASHA 3 brackets", func() Scheduler {
			return ASHA(ASHAConfig{MaxT: 100, GracePeriod: 2, Brackets: 3, Seed: 5})
		}, schedCurveTask{}, shuffledCurveParams(9)[:40]},
		{"HyperBand", func() Scheduler { return HyperBand(HyperBandConfig{MaxT: 27}) }, schedCurveTask{}, shuffledCurveParams(9)[:40]},
		{"MedianStopping", func() Scheduler {
			return MedianStopping(MedianStoppingConfig{GracePeriod: 5})
		}, schedCurveTask{}, shuffledCurveParams(9)[:40]},
		{"PBT", func() Scheduler {
			return PBT(PBTConfig{PerturbationInterval: 3, Seed: 11, HyperparamMutations: Space{"lr": lr}})
		}, schedPBTTask{}, pbtParams},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var runs [2][]schedEvent
			for i := range runs {
				sim := newSchedSim(t, tc.make(), tc.task, 4, 60, "loss", Min, tc.params)
				sim.run()
				runs[i] = sim.events
			}
			if len(runs[0]) != len(runs[1]) {
				t.Fatalf("%d then %d decisions", len(runs[0]), len(runs[1]))
			}
			for i := range runs[0] {
				if runs[0][i] != runs[1][i] {
					t.Fatalf("decision %d: %+v then %+v", i, runs[0][i], runs[1][i])
				}
			}
		})
	}
}

// go test -run '^$' -bench 'Scheduler' ./tune/ reports the quality
// figures, averaged over the seeds the tests use: iterations ASHA spends
// (of 10000 for a full search) and how far its pick is from the best, and
// PBT's loss relative to the best fixed learning rate.
func BenchmarkSchedulerASHAOnCurves(b *testing.B) {
	_, full := curves.Best()
	var worse, iters float64
	n := 0
	for ; b.Loop(); n++ {
		chosen, it := ashaOnCurves(b, uint64(n%5+1))
		worse += 100 * (chosen/full - 1)
		iters += float64(it)
	}
	b.ReportMetric(iters/float64(n), "iterations")
	b.ReportMetric(worse/float64(n), "%-worse-than-best")
}

func BenchmarkSchedulerPBTOnSchedule(b *testing.B) {
	_, fixed := curves.BestFixedLR(100)
	ratio, n := 0.0, 0
	for ; b.Loop(); n++ {
		ratio += pbtOnSchedule(b, int64(n%3+1)) / fixed
	}
	b.ReportMetric(ratio/float64(n), "loss/best-fixed")
}
