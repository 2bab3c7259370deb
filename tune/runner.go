package tune

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rayo-dev/rayo"
)

// The runner is Tune's controller (Ray's TuneController): one goroutine
// in the driver owns every trial's state and makes every call to the
// searcher and the scheduler, in the order the journal records them. Each
// running trial has a driving goroutine that talks to its actor (start,
// next, save, stop) and persists checkpoints; it sends the runner one
// event per call and waits for the runner's command.

// trial is a trial's state in the driver.
type trial struct {
	id     string
	params Params
	values map[string]any
	state  TrialState

	iteration int
	timeTotal time.Duration
	history   []Result
	// ckpt is the latest checkpoint: in the object store (ref, nil after a
	// Restore until needed) and on storage (path, relative to the
	// experiment's directory).
	ckpt *trialCkpt
	// kept are the checkpoints on storage, oldest first.
	kept      []trialCkpt
	failures  int
	err       error
	decisions []DecisionRecord
	note      string // shown in the status table

	// While running.
	running   bool
	slot      *slot // its actor, once started
	stopAsked bool  // askStop was sent: its end is a stop, not a failure
	ctl       chan command
	results   *os.File
	// cancel ends the driving goroutine's calls (a trial stopped before
	// its actor was placed, the end of Fit).
	cancel context.CancelFunc
	ended  <-chan struct{} // closed with cancel
}

type trialCkpt struct {
	iteration int
	path      string
	dir       bool // a directory checkpoint (else bytes in checkpoint.bin)
	score     *float64
	ref       *rayo.ObjectRef[ckptWire]
	// borrowed: another trial's checkpoint, which a PBT exploit restored;
	// the path is in that trial's directory.
	borrowed bool
}

func (t *trial) info() TrialInfo {
	ti := TrialInfo{ID: t.id, Params: t.params, State: t.state, HasCheckpoint: t.ckpt != nil}
	if n := len(t.history); n > 0 {
		r := t.history[n-1]
		ti.Last = &r
	}
	return ti
}

func (t *trial) last() *Result {
	if n := len(t.history); n > 0 {
		r := t.history[n-1]
		return &r
	}
	return nil
}

// command is the runner's answer to a driving goroutine's event.
type command struct {
	save bool // save a checkpoint first (class trainables), then report evSaved
	end  bool // stop the trainable and give the actor back
	// restart, with end: start again on the same actor with this spec.
	restart *startSpec
}

// trialEvent is what a driving goroutine reports.
type trialEvent struct {
	t     *trial
	kind  int
	step  step
	ckpt  *trialCkpt // a checkpoint it persisted
	err   error
	actor *slot // evEnded: the actor to reuse, nil if it was killed
}

const (
	eStarted = iota + 1
	eStep
	eSaved
	eEnded
	eFailed // the trial's actor call failed; the actor is gone
)

// slot is a trial actor (and its placement group) that may run trial
// after trial.
type slot struct {
	h  rayo.ActorHandle[trialActor]
	pg *rayo.PlacementGroup
}

type runner struct {
	tn        *Tuner
	dir       string
	journal   *journal
	params    []Param
	constants map[string]any

	trials  map[string]*trial
	order   []*trial
	created int
	// limit is how many trials the search makes in all (0: until the
	// searcher says it is finished).
	limit      int
	searchDone bool

	capacity int
	running  int
	idle     []*slot
	events   chan trialEvent
	started  time.Time
	stopping string // set when the experiment ends early: why
	reporter *reporter
	replay   bool
	fatal    error
	// borrowed counts, by path, the trials whose latest checkpoint is
	// another trial's (PBT): that trial's prune keeps it.
	borrowed map[string]int
	// done is closed when the loop returns: driving goroutines then stop
	// sending and kill their actors.
	done chan struct{}
	// bg holds the runner's goroutines (driving, stopping, killing):
	// Fit returns once they are done, leaving no actor behind.
	bg sync.WaitGroup
}

func (r *runner) ensureTrialDir(t *trial) error {
	return os.MkdirAll(filepath.Join(r.dir, t.id), 0o700)
}

// log appends an event to the journal (not during replay).
func (r *runner) log(e *event) {
	if r.replay || r.journal == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if err := r.journal.append(e); err != nil && r.fatal == nil {
		r.fatal = err
	}
}

// addTrial records a suggested trial. In replay the searcher is asked
// again, so that its state moves as it did.
func (r *runner) addTrial(id string, values map[string]any, params Params) *trial {
	if r.replay {
		got, err := r.tn.tc.SearchAlg.Suggest(id)
		if err != nil || !sameValues(got, values) {
			if r.fatal == nil {
				r.fatal = fmt.Errorf("%w: replaying the journal, the searcher suggested %v (%v) for %s where the experiment had %v: give Restore a searcher built as the first run's", ErrInvalidConfig, got, err, id, values)
			}
		}
	}
	t := &trial{id: id, values: values, params: params, state: Pending}
	r.trials[id] = t
	r.order = append(r.order, t)
	r.created++
	r.log(&event{Kind: evAdd, Trial: id, Values: values, Params: params})
	r.tn.tc.Scheduler.OnTrialAdd(t.info())
	r.pausedDecisions()
	if !r.replay {
		if err := r.ensureTrialDir(t); err != nil && r.fatal == nil {
			r.fatal = err
		}
		writeParams(filepath.Join(r.dir, t.id), params)
	}
	return t
}

// onResult records a result and returns the scheduler's decision.
func (r *runner) onResult(t *trial, res Result) Decision {
	t.history = append(t.history, res)
	t.iteration = res.Iteration
	t.timeTotal = res.TimeTotal
	r.log(&event{Kind: evResult, Trial: t.id, Result: &res})
	r.tn.tc.SearchAlg.OnTrialResult(t.id, res)
	d := r.tn.tc.Scheduler.OnTrialResult(t.info(), res)
	r.pausedDecisions()
	return d
}

// pausedDecisions applies a PausedTrialDecider's decisions on paused
// trials (HyperBand's halving). In replay they are taken and dropped: the
// journal holds what they did.
func (r *runner) pausedDecisions() {
	pd, ok := r.tn.tc.Scheduler.(PausedTrialDecider)
	if !ok {
		return
	}
	for _, d := range pd.TakePausedDecisions() {
		t := r.trials[d.TrialID]
		if r.replay || t == nil || t.state != Paused {
			continue
		}
		switch d.Action {
		case Stop:
			r.decide(t, "stop", d.Reason, "")
			r.setState(t, Terminated, howStop, nil)
		default:
			r.decide(t, d.Action.String(), d.Reason, "")
		}
	}
}

func (r *runner) onDecision(t *trial, d DecisionRecord) {
	t.decisions = append(t.decisions, d)
	t.note = d.Action + ": " + d.Reason
	r.log(&event{Kind: evDecision, Trial: t.id, Decision: &d})
}

func (r *runner) onCkpt(t *trial, c trialCkpt) {
	if old := t.ckpt; old != nil && old.borrowed {
		r.borrowed[old.path]--
	}
	t.ckpt = &c
	e := &event{Kind: evCkpt, Trial: t.id, Iteration: c.iteration, Path: c.path, Score: c.score, Dir: c.dir}
	if c.borrowed {
		r.borrowed[c.path]++
		e.How = howExploit
	} else {
		kept := c
		kept.ref = nil // only the latest stays in the object store
		t.kept = append(t.kept, kept)
	}
	r.log(e)
	if !r.replay {
		r.prune(t)
	}
}

// prune deletes the checkpoints beyond NumToKeep: the worst by score, or
// the oldest; never the latest, which a restart needs.
func (r *runner) prune(t *trial) {
	cc := r.tn.rc.CheckpointConfig
	if cc.NumToKeep <= 0 || len(t.kept) <= cc.NumToKeep {
		return
	}
	latest := t.kept[len(t.kept)-1]
	rank := slices.Clone(t.kept)
	if cc.ScoreAttribute != "" {
		sort.SliceStable(rank, func(i, j int) bool { // best first, unscored last
			a, b := rank[i].score, rank[j].score
			if a == nil || b == nil {
				return a != nil && b == nil
			}
			return cc.Order.Better(*a, *b)
		})
	} else {
		slices.Reverse(rank) // newest first
	}
	keep := map[string]bool{latest.path: true}
	for _, c := range t.kept {
		if r.borrowed[c.path] > 0 {
			keep[c.path] = true // another trial resumes from it
		}
	}
	for _, c := range rank[:cc.NumToKeep] {
		keep[c.path] = true
	}
	var left []trialCkpt
	for _, c := range t.kept {
		if keep[c.path] {
			left = append(left, c)
			continue
		}
		_ = os.RemoveAll(filepath.Join(r.dir, c.path))
	}
	t.kept = left
}

// setState moves t to state, making the searcher's and scheduler's calls
// that go with how.
func (r *runner) setState(t *trial, state TrialState, how string, cause error) {
	t.state = state
	e := &event{Kind: evState, Trial: t.id, State: state, How: how}
	if state != Errored {
		t.err = nil
	}
	if cause != nil {
		t.err = cause
		e.Err = cause.Error()
	}
	r.log(e)
	switch how {
	case howComplete:
		if n := len(t.history); n > 0 {
			t.history[n-1].Done = true
		}
		r.tn.tc.SearchAlg.OnTrialComplete(t.id, t.last(), false)
		r.tn.tc.Scheduler.OnTrialComplete(t.info(), t.last())
	case howStop:
		r.tn.tc.SearchAlg.OnTrialComplete(t.id, t.last(), false)
		r.tn.tc.Scheduler.OnTrialRemove(t.info())
	case howFail:
		r.tn.tc.SearchAlg.OnTrialComplete(t.id, t.last(), true)
		r.tn.tc.Scheduler.OnTrialRemove(t.info())
	case howReset:
		t.failures = 0
		r.tn.tc.Scheduler.OnTrialAdd(t.info())
	}
	r.pausedDecisions()
}

func (r *runner) setParams(t *trial, p Params) {
	t.params = p
	r.log(&event{Kind: evParams, Trial: t.id, Params: p})
	if !r.replay {
		writeParams(filepath.Join(r.dir, t.id), p)
	}
}

// rewind: t restarts from its latest checkpoint (or from scratch), so the
// results after it will come again. how is howFail for a failure (it
// counts against MaxFailures), howReset to drop the checkpoints and start
// from scratch, "" otherwise.
func (r *runner) rewind(t *trial, how string) {
	if how == howReset {
		if t.ckpt != nil && t.ckpt.borrowed {
			r.borrowed[t.ckpt.path]--
		}
		t.ckpt, t.kept = nil, nil
	}
	it := 0
	if t.ckpt != nil {
		it = t.ckpt.iteration
	}
	for len(t.history) > 0 && t.history[len(t.history)-1].Iteration > it {
		t.history = t.history[:len(t.history)-1]
	}
	t.iteration = it
	t.timeTotal = 0
	if n := len(t.history); n > 0 {
		t.timeTotal = t.history[n-1].TimeTotal
	}
	if how == howFail {
		t.failures++
	}
	r.log(&event{Kind: evRewind, Trial: t.id, Iteration: it, How: how})
}

// apply replays one journal event.
func (r *runner) apply(e *event) error {
	if e.Kind == evAdd {
		r.addTrial(e.Trial, e.Values, Params(e.Params))
		return nil
	}
	t := r.trials[e.Trial]
	if t == nil {
		return fmt.Errorf("%w: journal names unknown trial %q", ErrStorage, e.Trial)
	}
	switch e.Kind {
	case evResult:
		r.onResult(t, *e.Result)
	case evDecision:
		r.onDecision(t, *e.Decision)
	case evCkpt:
		r.onCkpt(t, trialCkpt{iteration: e.Iteration, path: e.Path, score: e.Score, dir: e.Dir, borrowed: e.How == howExploit})
		// Checkpoints deleted by prune are gone from storage: keep the
		// list to what is there.
		t.kept = slices.DeleteFunc(t.kept, func(c trialCkpt) bool {
			_, err := os.Stat(filepath.Join(r.dir, c.path))
			return err != nil && c.path != t.ckpt.path
		})
	case evState:
		var cause error
		if e.Err != "" {
			cause = errors.New(e.Err)
		}
		r.setState(t, e.State, e.How, cause)
	case evParams:
		r.setParams(t, Params(e.Params))
	case evRewind:
		r.rewind(t, e.How)
	}
	return nil
}

// sameValues reports whether a replayed suggestion equals the journal's.
// The suggestion goes through msgpack as the journal's did (slices become
// []any, maps map[string]any, a Duration an integer), then the two are
// compared with numbers as numbers.
func sameValues(got, journalled map[string]any) bool {
	b, err := msgpack.Marshal(got)
	if err != nil {
		return false
	}
	var norm map[string]any
	if err := msgpack.Unmarshal(b, &norm); err != nil {
		return false
	}
	return sameTree(norm, journalled)
}

func sameTree(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !sameTree(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameTree(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return sameValue(a, b)
}
