package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rayo-dev/rayo"
)

// The streaming executor (Ray Data's StreamingExecutor) runs a physical
// plan: a chain of operators, the first a source, each feeding the next,
// the last feeding the consumer. It lives in the driver (or in the
// process that consumes the dataset) and owns every block in flight.
//
// Memory is bounded by a budget of object-store bytes: the blocks the
// executor holds (queued between operators, being processed, handed to
// the consumer) plus a reservation for each running task's expected
// output. A source launches a task only when that sum stays within the
// budget; an operator whose output has been drained may always run one
// task, so that the pipeline drains instead of deadlocking. Operators
// nearer the consumer are served first. A slow consumer thus stops the
// sources, not the machine.
//
// Lock order: executor.mu is the only lock; it is never held across a
// call into rayo that may block (Next, Get, submission).

// blockRef is a block in the store and what the driver knows of it.
type blockRef struct {
	Ref  rayo.ObjectRef[[]byte] `msgpack:"r"`
	Meta blockMeta              `msgpack:"m"`
	// borrowed: the ref belongs to a Dataset (FromArrow, Materialize) that
	// may run again, so a run must not release it.
	borrowed bool
}

// release gives up the run's hold on the block.
func (b blockRef) release() {
	if !b.borrowed {
		b.Ref.Release()
	}
}

// physKind is a physical operator's kind.
type physKind int

const (
	physRead    physKind = iota + 1 // a source of read tasks
	physBlocks                      // a source of blocks already in the store
	physMap                         // map tasks over input blocks
	physActor                       // calls on an actor pool over input blocks
	physLimit                       // the first n rows
	physBarrier                     // all inputs, then a function of them (shuffles, sorts)
	physUnion                       // the outputs of other plans, one after another
)

// physOp is an operator of a physical plan.
type physOp struct {
	label string
	kind  physKind
	units []sourceUnit // physRead
	input []blockRef   // physBlocks
	ops   []opSpec     // physRead, physMap, physActor: the fused operators
	mopts mapOptions   // physMap, physActor: resources and concurrency
	batch int64        // physMap, physActor: rows a task's input should reach
	limit int64        // physLimit
	// physBarrier: runs once over every input block.
	// It owns in (releases each block, or passes it on) and hands its
	// output to emit in order; emit waits while the run is over budget.
	barrier func(ctx context.Context, ex *executor, in []blockRef, emit func(blockRef) error) error
	// physUnion: the plans whose outputs it streams.
	union []*plan
	class *Fn // physActor: the class function and its constructor arguments
}

// plan is a physical plan: ops[0] is a source.
type plan struct{ ops []*physOp }

// execConfig is a run's configuration (Ray's DataContext).
type execConfig struct {
	budget      int64         // object-store bytes the run may hold
	targetBlock int64         // bytes per output block
	stall       time.Duration // no progress for this long fails the run
	cpus        float64       // the cluster's CPUs: default task concurrency
	progress    func(stats RunStats)
}

// executor runs one plan.
type executor struct {
	cfg    execConfig
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the executor starts
	wake   chan struct{}  // something changed: schedule again

	mu       sync.Mutex
	ops      []*opState
	out      []blockRef // the last operator's output, for the consumer
	outDone  bool       // no more output will come
	err      error      // the run failed
	held     int64      // bytes of the blocks the executor holds
	reserved int64      // bytes reserved for running tasks' output
	running  int        // tasks running, all operators
	peak     int64      // the highest held+reserved seen
	progress time.Time  // when something last moved
	closed   bool
	outWait  chan struct{} // closed when output or an end arrives (consumer's wait)
	onClose  func()        // after the run: the progress report's end
	waiting  int           // consumers blocked in next: only they can be stalled
	// limit is the budget less one target block: a block taken over the
	// limit, when the pipeline needs it to move on, stays within budget.
	limit int64
	// room is broadcast when a task may take more output: blocks were
	// released, a task became the first of its operator, the run ended.
	room *sync.Cond
}

// opState is an operator while the plan runs.
type opState struct {
	*physOp
	idx      int
	in       []blockRef // inputs waiting for a task
	inRows   int64
	inDone   bool // the operator before has finished
	done     bool
	tasks    []*runningTask // in launch order: outputs are delivered in it
	running  int
	launched int
	maxConc  int
	stats    OpStats
	started  time.Time
	queued   int64 // bytes of this operator's output not yet taken downstream
	left     int64 // physLimit: rows still to pass
	pool     *actorPool
	cut      bool // a limit after it was reached: its tasks were cancelled
}

// runningTask is a task (or actor call) whose output is being taken.
type runningTask struct {
	op       *opState
	stream   *rayo.ObjectRefStream[[]byte]
	inputs   []blockRef // held until the task is done
	reserved int64
	buf      []blockRef // output waiting for the tasks launched before it
	finished bool
	actor    *poolActor
}

func newExecutor(ctx context.Context, p *plan, cfg execConfig) *executor {
	ctx, cancel := context.WithCancel(ctx)
	e := &executor{cfg: cfg, ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1),
		progress: time.Now(), outWait: make(chan struct{})}
	e.room = sync.NewCond(&e.mu)
	e.limit = max(cfg.budget-cfg.targetBlock, cfg.targetBlock)
	for i, op := range p.ops {
		st := &opState{physOp: op, idx: i, left: op.limit}
		st.maxConc = max(1, int(cfg.cpus/max(op.mopts.NumCPUs, 0.001)))
		if op.mopts.NumCPUs == 0 && op.mopts.NumGPUs == 0 {
			st.maxConc = max(1, int(cfg.cpus))
		}
		if op.mopts.MaxConc > 0 {
			st.maxConc = op.mopts.MaxConc
		}
		if op.kind == physActor && op.mopts.MaxActors == 0 {
			// A class function without Concurrency: a pool of one actor
			// per CPU of the cluster at most, as Ray's default.
			st.mopts.MinActors, st.mopts.MaxActors = 1, max(1, int(cfg.cpus))
		}
		st.stats.Op = op.label
		e.ops = append(e.ops, st)
	}
	for _, st := range e.ops {
		if st.kind == physBlocks {
			for _, b := range st.input {
				e.held += b.Meta.Bytes
			}
		}
	}
	e.wg.Add(1)
	go e.loop()
	return e
}

// poke wakes the scheduling loop.
func (e *executor) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// loop schedules until the plan is done, fails or is closed.
func (e *executor) loop() {
	defer e.wg.Done()
	tick := time.NewTicker(e.tickEvery())
	defer tick.Stop()
	lastReport := time.Time{}
	for {
		e.mu.Lock()
		if e.err == nil && !e.closed {
			e.scheduleLocked()
			e.checkStallLocked()
		}
		end := e.err != nil || e.closed || e.outDone
		var snap *RunStats
		if e.cfg.progress != nil && (end || time.Since(lastReport) >= 200*time.Millisecond) {
			snap = e.statsLocked()
			lastReport = time.Now()
		}
		e.mu.Unlock()
		if snap != nil {
			e.cfg.progress(*snap)
		}
		if end {
			return
		}
		select {
		case <-e.wake:
		case <-tick.C:
		case <-e.ctx.Done():
			e.fail(e.ctx.Err())
		}
	}
}

func (e *executor) tickEvery() time.Duration {
	return min(max(e.cfg.stall/10, time.Millisecond), time.Second)
}

// fail ends the run with err (the first failure wins).
func (e *executor) fail(err error) {
	e.mu.Lock()
	if e.err == nil && !e.closed {
		e.err = err
		e.signalOutLocked()
	}
	e.room.Broadcast()
	e.mu.Unlock()
	e.poke()
}

// signalOutLocked wakes a consumer waiting for output.
func (e *executor) signalOutLocked() {
	close(e.outWait)
	e.outWait = make(chan struct{})
}

// scheduleLocked launches what the budget allows, nearest the consumer
// first, and marks finished operators.
func (e *executor) scheduleLocked() {
	for i := len(e.ops) - 1; i >= 0; i-- {
		op := e.ops[i]
		if op.done {
			continue
		}
		switch op.kind {
		case physRead:
			for len(op.units) > 0 && e.canLaunchLocked(op, e.estimateLocked(op, op.units[0].Bytes)) {
				u := op.units[0]
				op.units = op.units[1:]
				e.launchEstimatedLocked(op, nil, e.estimateLocked(op, u.Bytes), func() *rayo.ObjectRefStream[[]byte] {
					return readTask.Options(op.taskOptions()...).Remote(readSpec{Source: u, Ops: op.ops, Target: e.cfg.targetBlock})
				})
			}
			if len(op.units) == 0 && op.running == 0 {
				e.finishOpLocked(op)
			}
		case physBlocks:
			in := op.input
			op.input = nil
			for _, b := range in {
				e.held -= b.Meta.Bytes // deliver counts it again
				e.deliverLocked(op, b)
			}
			e.finishOpLocked(op)
		case physMap, physActor:
			for len(op.in) > 0 && (op.inDone || op.inRows >= op.batch) && e.canLaunchLocked(op, e.estimateLocked(op, op.in[0].Meta.Bytes)) {
				bundle := op.takeBundleLocked()
				e.takenLocked(op, bundle)
				if op.kind == physMap {
					args := make([]any, 0, len(bundle)+1)
					args = append(args, mapSpec{Ops: op.ops, Target: e.cfg.targetBlock})
					for _, b := range bundle {
						args = append(args, b.Ref)
					}
					e.launchLocked(op, bundle, func() *rayo.ObjectRefStream[[]byte] {
						return mapTask.Options(op.taskOptions()...).Remote(args...)
					})
				} else if !e.dispatchActorLocked(op, bundle) {
					op.in = append(bundle, op.in...) // no free actor yet
					for _, b := range bundle {
						op.inRows += b.Meta.Rows
						e.ops[op.idx-1].queued += b.Meta.Bytes
					}
					break
				}
			}
			if op.kind == physActor {
				e.scaleActorsLocked(op)
			}
			if op.inDone && len(op.in) == 0 && op.running == 0 {
				e.finishOpLocked(op)
			}
		case physLimit:
			if op.limit == 0 && !op.inDone {
				e.cutBeforeLocked(op.idx) // nothing before it need run
			}
			if op.inDone && op.running == 0 {
				e.finishOpLocked(op)
			}
		case physBarrier:
			if op.inDone && op.launched == 0 {
				op.launched = 1
				op.running = 1
				e.running++
				in := op.in
				op.in, op.inRows = nil, 0
				e.takenLocked(op, in)
				op.started = time.Now()
				e.wg.Add(1)
				go e.runBarrier(op, in)
			}
		case physUnion:
			if op.launched == 0 {
				op.launched = 1
				op.running = 1
				e.running++
				op.started = time.Now()
				e.wg.Add(1)
				go e.runUnion(op)
			}
		}
	}
}

// takeBundleLocked takes queued inputs until they reach the operator's
// batch size (Ray Data bundles blocks the same way).
func (op *opState) takeBundleLocked() []blockRef {
	var bundle []blockRef
	rows := int64(0)
	for len(op.in) > 0 && (len(bundle) == 0 || rows < op.batch) {
		b := op.in[0]
		op.in = op.in[1:]
		op.inRows -= b.Meta.Rows
		rows += b.Meta.Rows
		bundle = append(bundle, b)
	}
	return bundle
}

// takenLocked notes that op took inputs: the operator before it no
// longer has them queued.
func (e *executor) takenLocked(op *opState, in []blockRef) {
	if op.idx == 0 {
		return
	}
	for _, b := range in {
		e.ops[op.idx-1].queued -= b.Meta.Bytes
	}
	e.room.Broadcast()
}

// canLaunchLocked applies the budget (see the package comment above).
func (e *executor) canLaunchLocked(op *opState, est int64) bool {
	if op.running >= op.maxConc {
		return false
	}
	if e.running == 0 {
		return true // progress, even with one block above the budget
	}
	if e.held+e.reserved+est <= e.limit {
		return true
	}
	// Drained operators downstream of a source may always run one task.
	return op.kind != physRead && op.running == 0 && op.queued == 0
}

// estimateLocked is what a running task of op may have in the store
// beyond what the run holds: the block it produced and the executor has
// not taken yet (the stream's backpressure allows one). That is the
// operator's average block so far, or before any, its input's size (a
// read unit's estimate, a bundle's bytes), at most a target block.
func (e *executor) estimateLocked(op *opState, inputBytes int64) int64 {
	if op.stats.Blocks > 0 {
		return min(max(op.stats.Bytes/op.stats.Blocks, 1), e.cfg.targetBlock)
	}
	if inputBytes <= 0 {
		return e.cfg.targetBlock
	}
	return min(inputBytes, e.cfg.targetBlock)
}

// launchLocked starts a task of op over inputs; submit runs unlocked.
func (e *executor) launchLocked(op *opState, inputs []blockRef, submit func() *rayo.ObjectRefStream[[]byte]) {
	var inBytes int64
	for _, b := range inputs {
		inBytes += b.Meta.Bytes
	}
	e.launchEstimatedLocked(op, inputs, e.estimateLocked(op, inBytes), submit)
}

// launchEstimatedLocked starts a task whose output is expected to be est
// bytes.
func (e *executor) launchEstimatedLocked(op *opState, inputs []blockRef, est int64, submit func() *rayo.ObjectRefStream[[]byte]) {
	t := &runningTask{op: op, inputs: inputs, reserved: est}
	op.tasks = append(op.tasks, t)
	op.running++
	op.launched++
	e.running++
	e.reserved += t.reserved
	e.notePeakLocked()
	if op.started.IsZero() {
		op.started = time.Now()
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		s := submit()
		e.mu.Lock()
		t.stream = s
		stop := e.closed || e.err != nil || op.cut
		e.mu.Unlock()
		if stop {
			_ = rayo.Cancel(s, false)
		}
		e.drain(t, s)
	}()
}

// drain takes a task's output items: metadata, block, metadata, block...
// and finally the task's figures.
func (e *executor) drain(t *runningTask, s *rayo.ObjectRefStream[[]byte]) {
	defer s.Close()
	for {
		e.mu.Lock()
		for !e.mayTakeLocked(t) {
			e.room.Wait()
		}
		e.mu.Unlock()
		metaRef, err := s.Next(e.ctx)
		if errors.Is(err, io.EOF) {
			e.taskDone(t, nil)
			return
		}
		if err != nil {
			e.taskDone(t, err)
			return
		}
		mb, err := metaRef.Get(e.ctx)
		metaRef.Release()
		if err != nil {
			e.taskDone(t, err)
			return
		}
		var meta blockMeta
		if err := msgpack.Unmarshal(mb, &meta); err != nil {
			e.taskDone(t, fmt.Errorf("data: a task's block metadata: %w", err))
			return
		}
		if meta.Rows < 0 { // the task's figures, last
			e.mu.Lock()
			t.op.stats.TaskCPU += time.Duration(meta.CPU)
			t.op.stats.TaskWall += time.Duration(meta.Wall)
			e.mu.Unlock()
			continue
		}
		ref, err := s.Next(e.ctx)
		if err != nil {
			e.taskDone(t, fmt.Errorf("data: a block after its metadata: %w", err))
			return
		}
		e.mu.Lock()
		if e.err != nil || e.closed {
			e.mu.Unlock()
			ref.Release()
			continue
		}
		b := blockRef{Ref: ref, Meta: meta}
		e.progress = time.Now()
		if t.op.tasks[0] == t {
			e.deliverLocked(t.op, b)
		} else {
			e.held += b.Meta.Bytes
			t.buf = append(t.buf, b)
		}
		e.notePeakLocked()
		e.mu.Unlock()
		e.poke()
	}
}

// mayTakeLocked says whether a running task may take its next output
// block. The first task of an operator, whose output is delivered at once,
// takes while the run is within its limit, or over it when the pipeline
// needs the block to move on (the consumer has nothing to take, the next
// operator too few rows for a batch). Other tasks, whose output waits for
// the first, take only within half the limit: the rest is kept for the
// blocks that can move. A task that may not take waits, and its producer
// on the stream's backpressure.
func (e *executor) mayTakeLocked(t *runningTask) bool {
	if e.err != nil || e.closed {
		return true
	}
	used := e.held + e.reserved
	if t.op.tasks[0] != t {
		return used <= e.limit/2
	}
	return used <= e.limit || e.starvedAfterLocked(t.op)
}

// starvedAfterLocked reports that nothing op produced waits to be used:
// the consumer has no block to take, or the next operator no input it
// can run on (a barrier runs only on all of it).
func (e *executor) starvedAfterLocked(op *opState) bool {
	if op.idx == len(e.ops)-1 {
		return len(e.out) == 0
	}
	next := e.ops[op.idx+1]
	switch next.kind {
	case physBarrier, physLimit:
		return true
	}
	return len(next.in) == 0 || (!next.inDone && next.inRows < next.batch)
}

// taskDone ends a task: its inputs and reservation are released and the
// outputs of the tasks after it, if it was first, delivered.
func (e *executor) taskDone(t *runningTask, err error) {
	e.mu.Lock()
	op := t.op
	t.finished = true
	op.running--
	e.running--
	e.reserved -= t.reserved
	t.reserved = 0
	for _, b := range t.inputs {
		e.held -= b.Meta.Bytes
		b.release()
	}
	t.inputs = nil
	if t.actor != nil {
		t.actor.inFlight--
		t.actor.idleSince = time.Now()
	}
	e.progress = time.Now()
	if err != nil && op.cut && errors.Is(err, rayo.ErrTaskCancelled) {
		err = nil // cancelled by a limit: its rows are not needed
	}
	if err != nil && e.err == nil && !e.closed {
		e.err = opError(op.label, err)
		e.signalOutLocked()
	}
	if err == nil {
		op.stats.Tasks++
	}
	e.room.Broadcast() // a new first task, or blocks freed
	// Deliver, in launch order, the outputs of finished tasks at the head.
	for len(op.tasks) > 0 && op.tasks[0].finished {
		op.tasks = op.tasks[1:]
		if len(op.tasks) > 0 {
			next := op.tasks[0]
			for _, b := range next.buf {
				e.held -= b.Meta.Bytes
				e.deliverLocked(op, b)
			}
			next.buf = nil
		}
	}
	e.mu.Unlock()
	e.poke()
}

// opError names the operator in a task's failure.
func opError(label string, err error) error {
	var ue *UDFError
	if errors.As(err, &ue) || errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("data: %s: %w", label, err)
}

// deliverLocked hands an operator's output block to the next operator or
// to the consumer.
func (e *executor) deliverLocked(op *opState, b blockRef) {
	op.stats.Rows += b.Meta.Rows
	op.stats.Blocks++
	op.stats.Bytes += b.Meta.Bytes
	e.held += b.Meta.Bytes
	if op.idx == len(e.ops)-1 {
		op.queued += b.Meta.Bytes
		e.out = append(e.out, b)
		e.signalOutLocked()
		return
	}
	next := e.ops[op.idx+1]
	if next.kind == physLimit {
		e.limitLocked(next, b)
		return
	}
	op.queued += b.Meta.Bytes
	next.in = append(next.in, b)
	next.inRows += b.Meta.Rows
}

// limitLocked passes b through a limit, slicing the block that crosses
// it, and cuts everything before the limit once it is reached.
func (e *executor) limitLocked(lim *opState, b blockRef) {
	switch {
	case lim.left <= 0:
		e.held -= b.Meta.Bytes
		b.release()
		return
	case b.Meta.Rows <= lim.left:
		lim.left -= b.Meta.Rows
		e.held -= b.Meta.Bytes
		e.deliverLocked(lim, b)
	default:
		n := lim.left
		lim.left = 0
		e.launchLocked(lim, []blockRef{b}, func() *rayo.ObjectRefStream[[]byte] {
			return mapTask.Remote(mapSpec{Ops: []opSpec{{Kind: opLimit, Label: lim.label, N: n}}, Target: e.cfg.targetBlock}, b.Ref)
		})
	}
	if lim.left <= 0 {
		e.cutBeforeLocked(lim.idx)
	}
}

// cutBeforeLocked stops every operator before idx: their queued inputs
// are dropped, their running tasks cancelled, and they launch no more.
func (e *executor) cutBeforeLocked(idx int) {
	for _, op := range e.ops[:idx] {
		if op.done {
			continue
		}
		op.units = nil
		op.cut = true
		for _, b := range op.in {
			e.held -= b.Meta.Bytes
			b.release()
		}
		e.takenLocked(op, op.in)
		op.in, op.inRows = nil, 0
		var streams []*rayo.ObjectRefStream[[]byte]
		for _, t := range op.tasks {
			if t.stream != nil {
				streams = append(streams, t.stream)
			}
		}
		if len(streams) > 0 {
			// Not under e.mu: a cancel may wait on a worker.
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				for _, st := range streams {
					_ = rayo.Cancel(st, false)
				}
			}()
		}
	}
	e.room.Broadcast()
	e.ops[idx].inDone = true
}

// finishOpLocked marks op done and tells the next operator.
func (e *executor) finishOpLocked(op *opState) {
	if op.done {
		return
	}
	op.done = true
	if !op.started.IsZero() {
		op.stats.Wall = time.Since(op.started)
	}
	if op.pool != nil {
		op.pool.shutdown(e)
	}
	if op.idx == len(e.ops)-1 {
		e.outDone = true
		e.signalOutLocked()
		return
	}
	e.ops[op.idx+1].inDone = true
	e.poke() // the next operator may start now (a barrier, a last bundle)
}

// notePeakLocked records the highest store use seen.
func (e *executor) notePeakLocked() {
	if u := e.held + e.reserved; u > e.peak {
		e.peak = u
	}
	for _, op := range e.ops {
		if op.queued > op.stats.PeakQueued {
			op.stats.PeakQueued = op.queued
		}
	}
}

// checkStallLocked fails a run in which nothing moved for the stall
// timeout while the consumer waited for it (a consumer slow to ask for
// more is not a stall).
func (e *executor) checkStallLocked() {
	if e.cfg.stall <= 0 || e.waiting == 0 || len(e.out) > 0 || time.Since(e.progress) < e.cfg.stall {
		return
	}
	// The operator waited on: the first, from the consumer back, that has
	// running tasks or queued input.
	for i := len(e.ops) - 1; i >= 0; i-- {
		op := e.ops[i]
		if op.done || (op.running == 0 && len(op.in) == 0) {
			continue
		}
		e.err = &StallError{Op: op.label, For: time.Since(e.progress).Round(time.Millisecond), Running: op.running, Queued: len(op.in)}
		e.signalOutLocked()
		return
	}
}

// next returns the next output block, io.EOF after the last. The caller
// owns it and gives it back with release.
func (e *executor) next(ctx context.Context) (blockRef, error) {
	for {
		e.mu.Lock()
		switch {
		case e.err != nil:
			err := e.err
			e.mu.Unlock()
			return blockRef{}, err
		case e.closed:
			e.mu.Unlock()
			return blockRef{}, ErrClosed
		case len(e.out) > 0:
			b := e.out[0]
			e.out = e.out[1:]
			e.ops[len(e.ops)-1].queued -= b.Meta.Bytes
			e.room.Broadcast()
			e.progress = time.Now()
			e.mu.Unlock()
			e.poke()
			return b, nil
		case e.outDone:
			e.mu.Unlock()
			return blockRef{}, io.EOF
		}
		wait := e.outWait
		if e.waiting == 0 {
			e.progress = time.Now() // the stall clock starts when someone waits
		}
		e.waiting++
		e.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
		}
		e.mu.Lock()
		e.waiting--
		e.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return blockRef{}, err
		}
	}
}

// release gives back a block the consumer took.
func (e *executor) release(b blockRef) {
	e.mu.Lock()
	e.held -= b.Meta.Bytes
	e.room.Broadcast()
	e.mu.Unlock()
	b.release()
	e.poke()
}

// adopt counts a block made outside the run (a slice of its output) as
// the run's: release gives it back.
func (e *executor) adopt(b blockRef) {
	e.mu.Lock()
	e.held += b.Meta.Bytes
	e.notePeakLocked()
	e.mu.Unlock()
}

// keep accounts for a block the consumer keeps beyond the run (Materialize):
// it leaves the executor's budget.
func (e *executor) keep(b blockRef) {
	e.mu.Lock()
	e.held -= b.Meta.Bytes
	e.room.Broadcast()
	e.mu.Unlock()
	e.poke()
}

// close stops the run: running tasks are cancelled, held blocks released,
// actors killed, and every goroutine waited for.
func (e *executor) close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.room.Broadcast()
	err := e.err
	for _, b := range e.out {
		b.release()
	}
	e.out = nil
	var streams []*rayo.ObjectRefStream[[]byte]
	for _, op := range e.ops {
		for _, b := range op.in {
			b.release()
		}
		op.in = nil
		for _, t := range op.tasks {
			if t.stream != nil && !t.finished {
				streams = append(streams, t.stream)
			}
			for _, b := range t.buf {
				b.release()
			}
			t.buf = nil
		}
		for _, b := range op.input {
			b.release()
		}
		op.input = nil
	}
	for _, op := range e.ops {
		if op.pool != nil {
			op.pool.shutdown(e)
		}
	}
	e.signalOutLocked()
	e.mu.Unlock()
	for _, s := range streams {
		_ = rayo.Cancel(s, false)
	}
	e.cancel()
	e.wg.Wait()
	if e.cfg.progress != nil {
		e.mu.Lock()
		snap := e.statsLocked()
		e.mu.Unlock()
		e.cfg.progress(*snap)
	}
	if e.onClose != nil {
		e.onClose()
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// runBarrier runs an all-to-all operator over its inputs.
func (e *executor) runBarrier(op *opState, in []blockRef) {
	defer e.wg.Done()
	emit := func(b blockRef) error {
		e.mu.Lock()
		defer e.mu.Unlock()
		if err := e.err; err != nil || e.closed || op.cut {
			b.release()
			switch {
			case op.cut:
				err = errLimitReached // a limit after it has its rows
			case err == nil:
				err = ErrClosed
			}
			return err
		}
		e.progress = time.Now()
		e.deliverLocked(op, b)
		e.notePeakLocked()
		e.poke()
		// Over the budget, wait until what this operator gave is taken.
		for e.held+e.reserved > e.limit && op.queued > 0 && !e.starvedAfterLocked(op) && e.err == nil && !e.closed {
			e.room.Wait()
		}
		return nil
	}
	err := op.barrier(e.ctx, e, in, emit)
	if errors.Is(err, errLimitReached) {
		err = nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	op.running--
	e.running--
	e.progress = time.Now()
	if err != nil {
		if e.err == nil && !e.closed {
			e.err = opError(op.label, err)
			e.signalOutLocked()
			e.room.Broadcast()
		}
		return
	}
	op.stats.Tasks++
	e.finishOpLocked(op)
	e.poke()
}

// runUnion streams the outputs of op's plans, one plan after another,
// each through an executor of its own with a share of this run's budget.
func (e *executor) runUnion(op *opState) {
	defer e.wg.Done()
	err := func() error {
		for _, p := range op.union {
			child := newExecutor(e.ctx, p, e.cfg.child())
			for {
				if err := e.waitBudget(op); err != nil {
					_ = child.close()
					return err
				}
				b, err := child.next(e.ctx)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					_ = child.close()
					return err
				}
				child.keep(b)
				e.mu.Lock()
				if e.closed || e.err != nil {
					e.mu.Unlock()
					b.release()
					_ = child.close()
					return ErrClosed
				}
				e.progress = time.Now()
				e.deliverLocked(op, b)
				e.mu.Unlock()
				e.poke()
			}
			if err := child.close(); err != nil {
				return err
			}
		}
		return nil
	}()
	e.mu.Lock()
	op.running--
	e.running--
	if err != nil && e.err == nil && !e.closed {
		e.err = err
		e.signalOutLocked()
	}
	if err == nil {
		e.finishOpLocked(op)
	}
	e.mu.Unlock()
	e.poke()
}

// waitBudget waits while the run holds more than its budget.
func (e *executor) waitBudget(op *opState) error {
	for {
		e.mu.Lock()
		over := e.held+e.reserved > e.limit && op.queued > 0 && !e.starvedAfterLocked(op)
		wait := e.outWait
		err := e.err
		if e.closed {
			err = ErrClosed
		}
		e.mu.Unlock()
		if err != nil {
			return err
		}
		if !over {
			return nil
		}
		select {
		case <-wait:
		case <-e.ctx.Done():
			return e.ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// child is the configuration of a nested run (a union's input): a
// quarter of the run's budget, so that the run and its input together
// stay near it (the run waits while over its own).
func (c execConfig) child() execConfig {
	c.progress = nil
	c.budget = max(c.budget/4, 2*c.targetBlock)
	return c
}

// statsLocked snapshots the run's figures.
func (e *executor) statsLocked() *RunStats {
	out := make([]OpStats, len(e.ops))
	for i, op := range e.ops {
		s := op.stats
		s.Running = op.running
		s.Queued = op.queued
		s.Done = op.done
		if !op.done && !op.started.IsZero() {
			s.Wall = time.Since(op.started)
		}
		out[i] = s
	}
	return &RunStats{Ops: out, Budget: e.cfg.budget, PeakBytes: e.peak}
}
