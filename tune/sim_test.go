package tune

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The simulator drives a Scheduler as Tune's runner does, in process and
// in lock step: slots trials run at once; each round every running trial
// reports one result; decisions are honoured (Stop ends a trial, Pause
// checkpoints it and frees its slot until ChooseTrialToRun resumes it,
// Exploit restores the source's checkpoint with the new Params,
// Checkpoint saves one); HyperBand's decisions on paused trials are
// applied after each call.

// simTask is what simulated trials train: step runs iteration iter of a
// trial with params from model state, returning the new state and the
// metrics.
type simTask interface {
	init(p Params) float64
	step(p Params, model float64, iter int) (float64, Metrics)
}

type simCheckpoint struct {
	iter  int
	model float64
}

type simTrial struct {
	id        string
	params    Params
	state     TrialState
	iter      int
	model     float64
	ckpt      *simCheckpoint
	last      *Result
	decisions []simEvent
}

// simEvent is one result's decision (or a decision on a paused trial).
type simEvent struct {
	seq    int // order of events in the run
	trial  string
	iter   int
	action Action
	reason string
	source string
}

type simulator struct {
	t       testing.TB
	sched   Scheduler
	task    simTask
	slots   int
	maxIter int // a trial's trainable returns after this many iterations
	trials  []*simTrial
	byID    map[string]*simTrial
	events  []simEvent
	iters   int // results reported in all
}

func newSim(t testing.TB, sched Scheduler, task simTask, slots, maxIter int, metric string, mode Mode, params []Params) *simulator {
	t.Helper()
	s := &simulator{t: t, sched: sched, task: task, slots: slots, maxIter: maxIter, byID: map[string]*simTrial{}}
	if err := sched.Setup(metric, mode); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	for i, p := range params {
		tr := &simTrial{id: fmt.Sprintf("t%03d", i), params: p, state: Pending, model: task.init(p)}
		s.trials = append(s.trials, tr)
		s.byID[tr.id] = tr
		sched.OnTrialAdd(s.info(tr))
	}
	return s
}

func (s *simulator) info(tr *simTrial) TrialInfo {
	return TrialInfo{ID: tr.id, Params: tr.params, State: tr.state, Last: tr.last, HasCheckpoint: tr.ckpt != nil}
}

func (s *simulator) record(tr *simTrial, d Decision) {
	e := simEvent{seq: len(s.events), trial: tr.id, iter: tr.iter, action: d.Action, reason: d.Reason, source: d.Source}
	s.events = append(s.events, e)
	tr.decisions = append(tr.decisions, e)
}

// run simulates until no trial runs or can be started.
func (s *simulator) run() {
	for round := 0; ; round++ {
		if round > 100000 {
			s.t.Fatal("simulation does not end")
		}
		running := s.fill()
		if len(running) == 0 {
			return
		}
		for _, tr := range running {
			if tr.state == Running {
				s.stepTrial(tr)
			}
		}
	}
}

// fill starts waiting trials ChooseTrialToRun picks while slots are free,
// and returns the running trials in creation order.
func (s *simulator) fill() []*simTrial {
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
	var running []*simTrial
	for _, tr := range s.trials {
		if tr.state == Running {
			running = append(running, tr)
		}
	}
	return running
}

func (s *simulator) stepTrial(tr *simTrial) {
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
		tr.ckpt = &simCheckpoint{tr.iter, tr.model}
	}
	switch d.Action {
	case Stop:
		tr.state = Terminated
		s.sched.OnTrialRemove(s.info(tr))
	case Pause:
		tr.ckpt = &simCheckpoint{tr.iter, tr.model}
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
func (s *simulator) applyPaused() {
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
func (s *simulator) stopIter(id string) int {
	for _, e := range s.byID[id].decisions {
		if e.action == Stop {
			return e.iter
		}
	}
	return 0
}

func (s *simulator) stopReason(id string) string {
	for _, e := range s.byID[id].decisions {
		if e.action == Stop {
			return e.reason
		}
	}
	return ""
}

// constTask reports metric "v" = params "v" at every iteration.
type constTask struct{}

func (constTask) init(Params) float64 { return 0 }
func (constTask) step(p Params, _ float64, _ int) (float64, Metrics) {
	return 0, Metrics{"v": p.Float("v")}
}

func valueParams(vs ...float64) []Params {
	out := make([]Params, len(vs))
	for i, v := range vs {
		out[i] = Params{"v": v}
	}
	return out
}

func mustContain(t *testing.T, what, s string, fragments ...string) {
	t.Helper()
	for _, f := range fragments {
		if !strings.Contains(s, f) {
			t.Errorf("%s %q lacks %q", what, s, f)
		}
	}
}
