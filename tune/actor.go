package tune

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/rayo-dev/rayo"
)

// A trial runs in a trial actor ("rayo.tune.trial"), one per running
// trial, on a worker that holds the trial's resources. The driver calls
// start with the trial's spec, then next for each result; next blocks
// until the trainable reports (a function trainable runs in its own
// goroutine and goes on with its next iteration while the driver decides
// on this one; a class trainable steps once per call). stop, in its own
// concurrency group, cancels a running function without waiting behind a
// blocked next. With ReuseActors an actor runs trial after trial.

// startSpec is what a trial actor is started with.
type startSpec struct {
	Trainable  string         `msgpack:"t"`
	TrialID    string         `msgpack:"id"`
	Experiment string         `msgpack:"x"`
	Params     map[string]any `msgpack:"p"`
	// Iteration and TimeTotal carry on from a checkpoint's.
	Iteration int           `msgpack:"i"`
	TimeTotal time.Duration `msgpack:"tt"`
	// Checkpoint, when set, is the checkpoint to restore (in the object
	// store: PBT passes another trial's by reference).
	Checkpoint *rayo.ObjectRef[ckptWire] `msgpack:"c,omitempty"`
	PG         *rayo.PlacementGroup      `msgpack:"pg,omitempty"`
	// StopTimeout is RunConfig.StopTimeout.
	StopTimeout time.Duration `msgpack:"sto"`
	// Reuse: TuneConfig.ReuseActors (a class instance that can be Reset
	// is kept for the actor's next trial).
	Reuse bool `msgpack:"ru,omitempty"`
	// SharedDir, with RunConfig.SharedStorage, is the trial's directory
	// on the shared filesystem: checkpoints are written there directly.
	SharedDir string `msgpack:"sd,omitempty"`
}

// ckptWire is a checkpoint on the wire and in the object store: bytes, or
// a directory as a tar stream.
type ckptWire struct {
	Dir       bool   `msgpack:"d"`
	Data      []byte `msgpack:"b"`
	Iteration int    `msgpack:"i"`
	// Path, on shared storage, is where the checkpoint already is (Data
	// is empty).
	Path string `msgpack:"p,omitempty"`
}

// step is one call of next's outcome.
type step struct {
	// Result: Metrics is a reported result (false on the Done step of a
	// function that returned without reporting again).
	Result  bool      `msgpack:"r"`
	Metrics Metrics   `msgpack:"m,omitempty"`
	Ckpt    *ckptWire `msgpack:"c,omitempty"`
	// Done: the trainable finished by itself.
	Done bool `msgpack:"d,omitempty"`
	// Elapsed is the time since the previous result (or the start),
	// measured in the actor.
	Elapsed time.Duration `msgpack:"e"`
}

type trialActor struct {
	mu  sync.Mutex
	run trialRun
	// cls is a class trainable's instance kept for reuse (Resetter).
	cls     ClassTrainable
	clsName string
}

// trialRun is a started trial in the actor.
type trialRun interface {
	next(ctx context.Context) (step, error)
	save(ctx context.Context) (*ckptWire, error)
	// stop ends the trial; clean is false when a function trainable did
	// not return within the grace period (the actor cannot be reused).
	stop(ctx context.Context) (clean bool)
}

var (
	trialActorType = rayo.RegisterActor[trialActor]("rayo.tune.trial", func() *trialActor { return &trialActor{} })
	trialStart     = rayo.RegisterMethod[bool](trialActorType, "start", (*trialActor).start)
	trialNext      = rayo.RegisterMethod[step](trialActorType, "next", (*trialActor).next)
	trialSave      = rayo.RegisterMethod[*ckptWire](trialActorType, "save", (*trialActor).save)
	trialStop      = rayo.RegisterMethod[bool](trialActorType, "stop", (*trialActor).stop, rayo.ConcurrencyGroup(controlGroup))
	trialClose     = rayo.RegisterMethod[bool](trialActorType, "close", (*trialActor).close, rayo.ConcurrencyGroup(controlGroup))
)

const controlGroup = "control"

// defaultStopTimeout is how long stop waits for a function trainable to return
// after its context is cancelled.
const defaultStopTimeout = 10 * time.Second

func (a *trialActor) current() trialRun {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.run
}

func (a *trialActor) start(ctx context.Context, spec startSpec) (bool, error) {
	if old := a.current(); old != nil {
		if !old.stop(ctx) {
			return false, errors.New("tune: the actor's previous trial did not stop")
		}
	}
	def, err := lookupTrainable(spec.Trainable)
	if err != nil {
		return false, err
	}
	var restore *Checkpoint
	if spec.Checkpoint != nil {
		w, err := spec.Checkpoint.Get(ctx)
		if err != nil {
			return false, fmt.Errorf("tune: fetching trial %s's checkpoint: %w", spec.TrialID, err)
		}
		if restore, err = w.open(); err != nil {
			return false, err
		}
	}
	var run trialRun
	switch def.kind {
	case kindFunction:
		run = startFunction(def, spec, restore)
	case kindClass:
		run, err = a.startClass(ctx, def, spec, restore)
	}
	if err != nil {
		restore.removeLocal()
		return false, err
	}
	a.mu.Lock()
	a.run = run
	a.mu.Unlock()
	return true, nil
}

func (a *trialActor) next(ctx context.Context) (step, error) {
	run := a.current()
	if run == nil {
		return step{}, errors.New("tune: next before start")
	}
	return run.next(ctx)
}

func (a *trialActor) save(ctx context.Context) (*ckptWire, error) {
	run := a.current()
	if run == nil {
		return nil, nil
	}
	return run.save(ctx)
}

func (a *trialActor) stop(ctx context.Context) (bool, error) {
	a.mu.Lock()
	run := a.run
	a.run = nil
	a.mu.Unlock()
	if run == nil {
		return true, nil
	}
	clean := run.stop(ctx)
	if cr, ok := run.(*classRun); ok && !cr.keep() {
		a.mu.Lock()
		a.cls, a.clsName = nil, "" // cleaned up: never reused
		a.mu.Unlock()
	}
	return clean, nil
}

// close runs the Cleanup of a class instance kept for reuse, before the
// actor is killed.
func (a *trialActor) close(ctx context.Context) (bool, error) {
	a.mu.Lock()
	inst := a.cls
	a.cls, a.clsName = nil, ""
	a.mu.Unlock()
	cleanup(ctx, inst)
	return true, nil
}

// cleanup calls a class instance's Cleanup, if it has one.
func cleanup(ctx context.Context, inst ClassTrainable) {
	if cl, ok := inst.(Cleaner); ok {
		_ = runGuarded(func() error { return cl.Cleanup(ctx) })
	}
}

// functionRun is a function trainable running in its goroutine.
type functionRun struct {
	spec        startSpec
	restoreFrom *Checkpoint
	ctx         context.Context
	cancel      context.CancelFunc
	results     chan step
	done        chan struct{} // closed when the function returned
	err         error         // its error, set before done is closed

	mu        sync.Mutex
	iteration int
	last      time.Time
	latest    *ckptWire // the latest reported checkpoint
}

func startFunction(def *trainableDef, spec startSpec, restore *Checkpoint) *functionRun {
	ctx, cancel := context.WithCancel(context.Background())
	r := &functionRun{spec: spec, restoreFrom: restore, cancel: cancel, results: make(chan step),
		done: make(chan struct{}), iteration: spec.Iteration, last: time.Now()}
	r.ctx = context.WithValue(ctx, trialKey{}, r)
	go func() {
		r.err = runGuarded(func() error { return def.fn(r.ctx, Params(spec.Params)) })
		close(r.done)
	}()
	return r
}

// runGuarded runs fn, turning a panic into an error with its stack.
func runGuarded(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("tune: trainable panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return fn()
}

func (r *functionRun) report(ctx context.Context, m Metrics, c *Checkpoint) error {
	if r.ctx.Err() != nil {
		return errStopped(r.spec.TrialID)
	}
	r.mu.Lock()
	it := r.iteration + 1
	r.mu.Unlock()
	var w *ckptWire
	if c != nil {
		var err error
		if w, err = r.spec.pack(c, it); err != nil {
			return err
		}
	}
	now := time.Now()
	r.mu.Lock()
	st := step{Result: true, Metrics: m, Ckpt: w, Elapsed: now.Sub(r.last)}
	r.mu.Unlock()
	select {
	case r.results <- st:
	case <-r.ctx.Done():
		return errStopped(r.spec.TrialID)
	case <-ctx.Done():
		return ctx.Err()
	}
	r.mu.Lock()
	r.iteration = it
	r.last = now
	if w != nil {
		r.latest = w
	}
	r.mu.Unlock()
	return nil
}

func (r *functionRun) next(ctx context.Context) (step, error) {
	select {
	case st := <-r.results:
		return st, nil
	case <-r.done:
		if r.err != nil {
			return step{}, r.err
		}
		return step{Done: true}, nil
	case <-ctx.Done():
		return step{}, ctx.Err()
	}
}

// save returns the latest reported checkpoint: a function trainable
// checkpoints when it reports one.
func (r *functionRun) save(context.Context) (*ckptWire, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.latest, nil
}

func (r *functionRun) stop(context.Context) bool {
	r.cancel()
	defer r.restoreFrom.removeLocal()
	t := time.NewTimer(r.spec.StopTimeout)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return true
		case <-r.results: // a report racing the cancel: drop it
		case <-t.C:
			return false
		}
	}
}

// classRun is a class trainable's instance. Its mutex makes next, save
// and stop (which runs in the control group) take turns: Cleanup never
// runs during a Step.
type classRun struct {
	mu          sync.Mutex
	spec        startSpec
	inst        ClassTrainable
	restoreFrom *Checkpoint
	iteration   int
	last        time.Time
	done        bool
}

func (a *trialActor) startClass(ctx context.Context, def *trainableDef, spec startSpec, restore *Checkpoint) (*classRun, error) {
	p := Params(spec.Params)
	run := &classRun{spec: spec, restoreFrom: restore, iteration: spec.Iteration, last: time.Now()}
	ctx = context.WithValue(ctx, trialKey{}, run)
	var inst ClassTrainable
	a.mu.Lock()
	kept, keptName := a.cls, a.clsName
	a.cls, a.clsName = nil, ""
	a.mu.Unlock()
	if kept != nil && keptName == def.name {
		if rs, ok := kept.(Resetter); ok {
			if err := runGuarded(func() error { return rs.Reset(ctx, p) }); err == nil {
				inst, kept = kept, nil
			}
		}
	}
	cleanup(ctx, kept) // a kept instance not reused is discarded now
	if inst == nil {
		inst = def.newClass()
		if err := runGuarded(func() error { return inst.Setup(ctx, p) }); err != nil {
			return nil, err
		}
	}
	if restore != nil {
		if err := runGuarded(func() error { return inst.Load(ctx, restore) }); err != nil {
			cleanup(ctx, inst) // set up (or Reset) but never run: discarded
			return nil, err
		}
	}
	a.mu.Lock()
	a.cls, a.clsName = inst, def.name
	a.mu.Unlock()
	run.inst = inst
	return run, nil
}

func (r *classRun) next(ctx context.Context) (step, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return step{Done: true}, nil
	}
	ctx = context.WithValue(ctx, trialKey{}, r)
	var m Metrics
	err := runGuarded(func() error {
		var err error
		m, err = r.inst.Step(ctx)
		return err
	})
	if errors.Is(err, ErrDone) {
		r.done, err = true, nil
	}
	if err != nil {
		return step{}, err
	}
	now := time.Now()
	st := step{Result: true, Metrics: m, Done: r.done, Elapsed: now.Sub(r.last)}
	r.iteration++
	r.last = now
	return st, nil
}

func (r *classRun) save(ctx context.Context) (*ckptWire, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ctx = context.WithValue(ctx, trialKey{}, r)
	var c *Checkpoint
	if err := runGuarded(func() error {
		var err error
		c, err = r.inst.Save(ctx)
		return err
	}); err != nil || c == nil {
		return nil, err
	}
	return r.spec.pack(c, r.iteration)
}

// pack makes a reported checkpoint's wire form; on shared storage it
// writes the checkpoint to its place there and sends only the path.
func (spec *startSpec) pack(c *Checkpoint, iteration int) (*ckptWire, error) {
	w, err := packCheckpoint(c, iteration)
	if err != nil || spec.SharedDir == "" {
		return w, err
	}
	path := filepath.Join(spec.SharedDir, ckptDirName(iteration))
	if err := w.writeTo(path); err != nil {
		return nil, err
	}
	return &ckptWire{Path: path, Dir: w.Dir, Iteration: iteration}, nil
}

// stop ends the trial once a running Step is done. An instance that can
// be Reset is kept for the actor's next trial (Ray calls reset_config
// instead of cleanup); its Cleanup runs when it is discarded: replaced,
// or the actor closed. Any other is cleaned up now.
func (r *classRun) stop(ctx context.Context) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	defer r.restoreFrom.removeLocal()
	r.done = true
	if !r.keep() {
		cleanup(ctx, r.inst)
	}
	return true
}

// keep reports whether the instance stays for the actor's next trial:
// with ReuseActors, one that can be Reset.
func (r *classRun) keep() bool {
	_, resettable := r.inst.(Resetter)
	return r.spec.Reuse && resettable
}

// removeLocal deletes a directory checkpoint's local copy (made for the
// trial from the object store).
func (c *Checkpoint) removeLocal() {
	if c != nil && c.local {
		_ = os.RemoveAll(c.dir)
	}
}
