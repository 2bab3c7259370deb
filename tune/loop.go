package tune

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rayo-dev/rayo"
)

// run is the controller's loop: it starts trials while there is room,
// takes their events, and ends when every trial is done, the budget is
// spent, or ctx is cancelled (then the running trials are left RUNNING in
// the journal, for Restore to resume).
func (r *runner) run(ctx context.Context) error {
	tick := time.NewTicker(r.tickEvery())
	defer tick.Stop()
	defer r.shutdown()
	for {
		if r.fatal != nil {
			return r.fatal
		}
		if r.stopping == "" {
			r.fill(ctx)
		}
		if r.running == 0 && (r.stopping != "" || r.finished()) {
			return r.fatal
		}
		if r.running == 0 && len(r.waiting()) == 0 {
			// Nothing runs, nothing can start, yet not finished: a bug,
			// reported rather than a hang.
			return fmt.Errorf("tune: internal error: the experiment cannot make progress (%d trials, search done %v)", len(r.order), r.searchDone)
		}
		select {
		case ev := <-r.events:
			r.handle(ctx, ev)
		case now := <-tick.C:
			if b := r.tn.tc.TimeBudget; b > 0 && r.stopping == "" && now.Sub(r.started) >= b {
				r.stopAll(fmt.Sprintf("the time budget of %v is spent", b))
			}
			r.refresh(now)
		case <-ctx.Done():
			r.stopping = "cancelled"
			return ctx.Err()
		}
	}
}

func (r *runner) tickEvery() time.Duration {
	d := 250 * time.Millisecond
	if p := r.tn.rc.ProgressInterval; p > 0 && p < d {
		d = max(p, 10*time.Millisecond)
	}
	if b := r.tn.tc.TimeBudget; b > 0 && b/4 < d {
		d = max(b/4, time.Millisecond)
	}
	return d
}

// finished: no trial waits or runs, and the search has nothing more.
func (r *runner) finished() bool {
	if !r.searchDone && (r.limit == 0 || r.created < r.limit) {
		return false
	}
	for _, t := range r.order {
		if t.state == Pending || t.state == Paused || t.state == Running {
			return false
		}
	}
	return true
}

// waiting lists the trials that may start or resume.
func (r *runner) waiting() []*trial {
	var w []*trial
	for _, t := range r.order {
		if !t.running && (t.state == Pending || t.state == Paused) {
			w = append(w, t)
		}
	}
	return w
}

// maxPendingTrials is how many PENDING trials the runner keeps created
// ahead of the running ones with BasicVariantGenerator, whose
// suggestions do not learn from results (Ray's TUNE_MAX_PENDING_TRIALS_PG
// "auto": max(16, ...) for it, 1 for adaptive searchers): schedulers see
// the trials to come, so a HyperBand bracket fills with its trials
// before its first halving rather than halving among those that
// happened to run.
const maxPendingTrials = 16

// fill starts trials while there is room.
func (r *runner) fill(ctx context.Context) {
	if _, basic := r.tn.tc.SearchAlg.(*BasicSearcher); basic {
		for r.fatal == nil && countState(r.waiting(), Pending) < maxPendingTrials && r.suggest() != nil {
		}
	}
	// A cancelled ctx ends the loop: launch then leaves the trial waiting,
	// and picking it again would spin.
	for r.running < r.capacity && r.fatal == nil && ctx.Err() == nil {
		w := r.waiting()
		if !hasState(w, Pending) {
			if t := r.suggest(); t != nil {
				w = append(w, t)
			}
		}
		if len(w) == 0 {
			return
		}
		infos := make([]TrialInfo, len(w))
		for i, t := range w {
			infos[i] = t.info()
		}
		id := r.tn.tc.Scheduler.ChooseTrialToRun(infos)
		if id == "" {
			if r.running > 0 {
				return
			}
			// Nothing runs that could change the scheduler's mind: start
			// the first waiting trial rather than wait forever.
			id = w[0].id
		}
		t := r.trials[id]
		if t == nil || t.running {
			r.fatal = fmt.Errorf("%w: the scheduler chose %q, which is not waiting", ErrInvalidConfig, id)
			return
		}
		r.launch(ctx, t)
	}
}

func countState(ts []*trial, s TrialState) int {
	n := 0
	for _, t := range ts {
		if t.state == s {
			n++
		}
	}
	return n
}

func hasState(ts []*trial, s TrialState) bool {
	for _, t := range ts {
		if t.state == s {
			return true
		}
	}
	return false
}

// suggest asks the searcher for a new trial; nil if it has none now.
func (r *runner) suggest() *trial {
	if r.searchDone || (r.limit > 0 && r.created >= r.limit) {
		return nil
	}
	id := fmt.Sprintf("trial_%05d", r.created)
	values, err := r.tn.tc.SearchAlg.Suggest(id)
	if errors.Is(err, ErrSearchFinished) {
		r.searchDone = true
		return nil
	}
	if err != nil {
		r.fatal = fmt.Errorf("tune: searcher: %w", err)
		return nil
	}
	if values == nil {
		if r.running == 0 && !hasState(r.waiting(), Pending) && !hasState(r.waiting(), Paused) {
			// Nothing runs whose result could change its mind: the search
			// is over (a ConcurrencyLimiter waiting on nothing, say).
			r.searchDone = true
		}
		return nil
	}
	params, err := resolve(r.params, r.constants, values, r.trialRNG(r.created))
	if err != nil {
		r.fatal = fmt.Errorf("tune: trial %s: %w", id, err)
		return nil
	}
	return r.addTrial(id, values, params)
}

// launch starts t's driving goroutine. A trial with a checkpoint (paused,
// failed, resumed by Restore) goes on from it; the results after it come
// again, so its history is rewound to it first (journalled).
func (r *runner) launch(ctx context.Context, t *trial) {
	if it := t.ckptIteration(); t.iteration != it {
		r.rewind(t, "")
	}
	spec := r.spec(t)
	if t.ckpt != nil {
		ref, err := r.ckptRef(ctx, t.ckpt)
		if err != nil {
			if ctx.Err() != nil {
				return // Fit is ending: the trial stays waiting, for Restore
			}
			r.finish(t, howFail, fmt.Errorf("%w: %s: loading its checkpoint: %w", ErrTrialFailed, t.id, err), nil)
			return
		}
		spec.Checkpoint = ref
	}
	if r.results(t) != nil {
		return
	}
	t.running = true
	t.ctl = make(chan command, 1)
	t.note = ""
	r.running++
	r.setState(t, Running, howStart, nil)
	var s *slot
	if r.tn.tc.ReuseActors && len(r.idle) > 0 {
		s = r.idle[len(r.idle)-1]
		r.idle = r.idle[:len(r.idle)-1]
	}
	tctx, cancel := context.WithCancel(ctx)
	t.cancel, t.ended = cancel, tctx.Done()
	r.bg.Go(func() { r.drive(tctx, t, s, spec) })
}

// ckptIteration is the iteration t resumes at: its checkpoint's, or 0.
func (t *trial) ckptIteration() int {
	if t.ckpt == nil {
		return 0
	}
	return t.ckpt.iteration
}

// spec is what t's actor is started with.
func (r *runner) spec(t *trial) startSpec {
	s := startSpec{Trainable: r.tn.trainable.name, TrialID: t.id, Experiment: r.tn.rc.Name, Params: t.params, Iteration: t.iteration,
		TimeTotal: t.timeTotal, Reuse: r.tn.tc.ReuseActors, StopTimeout: r.tn.rc.StopTimeout}
	if r.tn.rc.SharedStorage {
		s.SharedDir = filepath.Join(r.dir, t.id)
	}
	return s
}

// results opens t's result.jsonl for appending.
func (r *runner) results(t *trial) error {
	if t.results != nil {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(r.dir, t.id, "result.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		r.fatal = fmt.Errorf("%w: %v", ErrStorage, err)
		return r.fatal
	}
	t.results = f
	return nil
}

// ckptRef returns c in the object store, loading it from storage after a
// Restore.
func (r *runner) ckptRef(ctx context.Context, c *trialCkpt) (*rayo.ObjectRef[ckptWire], error) {
	if c.ref != nil {
		return c.ref, nil
	}
	var w *ckptWire
	if r.tn.rc.SharedStorage {
		w = &ckptWire{Path: filepath.Join(r.dir, c.path), Iteration: c.iteration, Dir: c.dir}
	} else {
		var err error
		if w, err = readCkpt(filepath.Join(r.dir, c.path), c.iteration, c.dir); err != nil {
			return nil, err
		}
	}
	ref, err := rayo.Put(ctx, *w)
	if err != nil {
		return nil, err
	}
	c.ref = &ref
	return c.ref, nil
}

// handle applies one driving goroutine's event.
func (r *runner) handle(ctx context.Context, ev trialEvent) {
	t := ev.t
	switch ev.kind {
	case eStarted:
		t.slot = ev.actor
		if r.stopping != "" {
			r.askStop(t)
		}
	case eSaved:
		if ev.ckpt != nil {
			c := *ev.ckpt
			if l := t.last(); l != nil {
				c.score = r.score(*l)
			}
			r.onCkpt(t, c)
		}
		// The command that asked for the save said what comes next.
	case eStep:
		r.onStep(ctx, t, ev.step, ev.ckpt)
	case eEnded:
		r.released(t, ev.actor)
	case eFailed:
		stopAsked := t.stopAsked
		r.released(t, nil)
		if ctx.Err() != nil {
			return // Fit was cancelled: the trial stays RUNNING, for Restore
		}
		if errors.Is(ev.err, ErrStorage) {
			// The driver could not store a checkpoint: the experiment's
			// failure, not the trial's. It stays RUNNING in the journal,
			// for Restore to resume, as after a cancelled Fit.
			if r.fatal == nil {
				r.fatal = ev.err
			}
			return
		}
		if stopAsked { // the trainable returned an error on being stopped
			if t.state == Running {
				r.finish(t, howStop, nil, nil)
			}
			return
		}
		r.onFailure(t, ev.err)
	}
}

// released: t's driving goroutine ended.
func (r *runner) released(t *trial, s *slot) {
	t.running = false
	t.slot = nil
	t.stopAsked = false
	if t.cancel != nil {
		t.cancel()
		t.cancel = nil
	}
	r.running--
	if t.results != nil {
		t.results.Close()
		t.results = nil
	}
	if s != nil {
		if r.tn.tc.ReuseActors && r.stopping == "" {
			r.idle = append(r.idle, s)
		} else {
			r.bg.Go(func() { killSlot(s) })
		}
	}
}

// score is a result's checkpoint score (CheckpointConfig.ScoreAttribute).
func (r *runner) score(res Result) *float64 {
	if a := r.tn.rc.CheckpointConfig.ScoreAttribute; a != "" {
		if v, ok := res.Value(a); ok {
			return &v
		}
	}
	return nil
}

func (r *runner) onStep(ctx context.Context, t *trial, st step, ck *trialCkpt) {
	if !st.Result {
		// The trainable returned after its last report.
		how := howComplete
		if t.stopAsked {
			how = howStop
		}
		r.finish(t, how, nil, &command{end: true})
		return
	}
	res := Result{TrialID: t.id, Iteration: t.iteration + 1, TimeThisIter: st.Elapsed, TimeTotal: t.timeTotal + st.Elapsed,
		Timestamp: time.Now(), Metrics: st.Metrics, Checkpoint: ck != nil, Done: st.Done}
	if m := r.tn.tc.Metric; m != "" {
		if _, ok := res.Value(m); !ok {
			r.finish(t, howFail, fmt.Errorf("%w: trial %s reported %v without %q", ErrMissingMetric, t.id, keys(st.Metrics), m), &command{end: true})
			return
		}
	}
	if ck != nil {
		c := *ck
		c.score = r.score(res)
		r.onCkpt(t, c)
	}
	if err := appendResultLine(t.results, res); err != nil && r.fatal == nil {
		r.fatal = err
	}
	d := r.onResult(t, res)
	observeResult(r.tn.rc.Name, t.id, res)
	cc := r.tn.rc.CheckpointConfig
	wantSave := d.Checkpoint || (cc.Frequency > 0 && res.Iteration%cc.Frequency == 0) || (st.Done && cc.AtEnd)
	switch {
	case st.Done:
		r.finish(t, howComplete, nil, &command{end: true, save: wantSave})
		return
	case r.stopping != "":
		r.decide(t, "stop", r.stopping, "")
		r.finish(t, howStop, nil, &command{end: true})
		return
	}
	if why := r.tn.rc.Stop.reason(t.id, res); why != "" {
		r.decide(t, "stop", why, "")
		r.finish(t, howStop, nil, &command{end: true, save: cc.AtEnd})
		return
	}
	switch d.Action {
	case Continue:
		if d.Reason != "" {
			r.decide(t, "continue", d.Reason, "")
		}
		t.ctl <- command{save: wantSave}
	case Stop:
		r.decide(t, "stop", d.Reason, "")
		r.finish(t, howStop, nil, &command{end: true, save: cc.AtEnd})
	case Pause:
		r.decide(t, "pause", d.Reason, "")
		r.setState(t, Paused, howPause, nil)
		t.ctl <- command{end: true, save: true}
	case Exploit:
		src := r.trials[d.Source]
		if src == nil || src.ckpt == nil {
			r.decide(t, "continue", fmt.Sprintf("exploit of %s skipped: it has no checkpoint", d.Source), "")
			t.ctl <- command{save: wantSave}
			return
		}
		ref, err := r.ckptRef(ctx, src.ckpt)
		if err != nil {
			r.decide(t, "continue", fmt.Sprintf("exploit of %s skipped: %v", d.Source, err), "")
			t.ctl <- command{save: wantSave}
			return
		}
		r.decide(t, "exploit", d.Reason, d.Source)
		r.setParams(t, d.Params)
		// The trial goes on from the source's checkpoint, at its own
		// iteration: it is the trial's latest now (journalled), so that a
		// failure or a Restore resumes from there too.
		r.onCkpt(t, trialCkpt{iteration: t.iteration, path: src.ckpt.path, dir: src.ckpt.dir, ref: ref, borrowed: true})
		spec := r.spec(t)
		spec.Checkpoint = ref
		t.ctl <- command{end: true, restart: &spec}
	default:
		r.fatal = fmt.Errorf("%w: scheduler returned action %d", ErrInvalidConfig, d.Action)
	}
}

func (r *runner) decide(t *trial, action, reason, source string) {
	r.onDecision(t, DecisionRecord{Time: time.Now(), Iteration: t.iteration, Action: action, Reason: reason, Source: source})
}

// finish ends t in a final state and tells its goroutine to stop.
func (r *runner) finish(t *trial, how string, cause error, cmd *command) {
	state := Terminated
	if how == howFail {
		state = Errored
	}
	r.setState(t, state, how, cause)
	if cmd != nil && t.running {
		t.ctl <- *cmd
	}
	if state == Errored && r.tn.rc.FailureConfig.FailFast {
		r.stopAll(fmt.Sprintf("trial %s failed and FailFast is set", t.id))
		r.fatal = cause
	}
}

// onFailure: t's trainable failed or its actor died. Restart it from its
// checkpoint if MaxFailures allows, else ERROR.
func (r *runner) onFailure(t *trial, err error) {
	if t.state != Running {
		return // it had already ended (a failure while stopping)
	}
	maxF := r.tn.rc.FailureConfig.MaxFailures
	if r.stopping == "" && (maxF < 0 || t.failures < maxF) {
		r.rewind(t, howFail)
		r.setState(t, Pending, howResume, nil)
		t.note = fmt.Sprintf("restarting after failure %d: %v", t.failures, firstLine(err))
		return // waiting again: fill starts it
	}
	r.setState(t, Errored, howFail, fmt.Errorf("%w: %s after %d restarts: %w", ErrTrialFailed, t.id, t.failures, err))
	if r.tn.rc.FailureConfig.FailFast {
		r.stopAll(fmt.Sprintf("trial %s failed and FailFast is set", t.id))
		r.fatal = t.err
	}
}

// stopAll ends the experiment: running trials stop at their next result.
func (r *runner) stopAll(why string) {
	r.stopping = why
	for _, t := range r.order {
		if t.running {
			r.askStop(t)
		}
	}
}

// askStop cancels a running trial's trainable from outside its driving
// goroutine (which may be blocked in next): the trainable's Report
// returns an error and it returns.
func (r *runner) askStop(t *trial) {
	if t.stopAsked {
		return
	}
	t.stopAsked = true
	if t.slot == nil { // still being placed: end its calls
		t.cancel()
		return
	}
	h, ended := t.slot.h, t.ended
	r.bg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), r.tn.rc.StopTimeout+5*time.Second)
		defer cancel()
		if clean, err := trialStop.Remote(h).Get(ctx); err == nil && clean {
			// Stopped, or the actor had no run yet (the stop came before
			// start, or during a class's Setup or Load): give the trial
			// until the deadline to end.
			select {
			case <-ended:
				return
			case <-ctx.Done():
			}
		}
		select {
		case <-ended: // it ended meanwhile
			return
		default:
		}
		// The trainable ignores its cancelled context (or the actor is
		// stuck): kill the actor, which fails the blocked call.
		kctx, kcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer kcancel()
		_ = rayo.Kill(kctx, h, true)
	})
}

func (r *runner) shutdown() {
	for _, s := range r.idle {
		r.bg.Go(func() { killSlot(s) })
	}
	r.idle = nil
	for _, t := range r.order {
		if t.running {
			// Its goroutine's calls fail, it sees done closed and kills
			// its actor.
			t.running = false
			t.cancel()
		}
		if t.results != nil {
			t.results.Close()
			t.results = nil
		}
	}
}

// killSlot ends a trial actor: its kept class instance is cleaned up
// first (best effort: the actor may be dead or stuck), then it is killed
// and its placement group removed.
func killSlot(s *slot) {
	cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, _ = trialClose.Remote(s.h).Get(cctx)
	ccancel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = rayo.Kill(ctx, s.h, true)
	if s.pg != nil {
		_ = rayo.RemovePlacementGroup(ctx, s.pg)
	}
}

func keys(m Metrics) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func firstLine(err error) string {
	s := err.Error()
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
