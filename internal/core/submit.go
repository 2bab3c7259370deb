package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/sched"
)

// TaskArg is one argument: an encoded value, or a reference resolved
// before the task is pushed.
type TaskArg struct {
	Value []byte
	Ref   *Ref
	// Nested are the references inside Value.
	Nested []Ref
}

// argRefs lists every reference the arguments hold, top-level and nested.
func argRefs(args []TaskArg) []Ref {
	var out []Ref
	for _, a := range args {
		if a.Ref != nil {
			out = append(out, *a.Ref)
		}
		out = append(out, a.Nested...)
	}
	return out
}

// SubmitOptions describe one task submission.
type SubmitOptions struct {
	Name            string
	Display         string
	Resources       sched.Resources
	Strategy        sched.Strategy
	MaxRetries      int // retries after a worker dies; -1 means without limit
	RetryExceptions bool
	// NumReturns > 0 splits the result (a slice of exactly that many
	// elements) into as many objects (see SubmitN).
	NumReturns int
	// Counted: each returned reference is already counted once as a local
	// reference, the caller's (which it takes over without AddLocal).
	// Counted before the task can finish, a result that holds references
	// (and so has a table entry at once) is never freed in the moment
	// between its completion and the caller's count.
	Counted bool
	// Env is the task's own environment (protocol.EnvList): it runs in
	// a worker started with it.
	Env []string
	// Stream makes the task a streaming one (stream.go).
	Stream *StreamOptions
	// ID is the task's ID when the caller reserved it (ReserveIDs), so
	// that it could name the result before submitting; "" takes the next.
	ID string
	// Parent names the running task or serial actor call of this worker
	// that submits, when the caller knows it (a Python worker's call
	// names its own: a pipelined actor's calls overlap here); "" means
	// the one this worker runs, if it runs exactly one.
	Parent string
}

// leaseLinger keeps an idle lease a moment before returning it, so that
// a submit-get-submit loop reuses its worker instead of asking the node
// for a new lease each time.
const leaseLinger = 20 * time.Millisecond

// maxLeaseRequests bounds the lease requests in flight per resource shape.
const maxLeaseRequests = 16

// task is a submitted task the owner tracks until it completes.
type task struct {
	spec       protocol.TaskSpec
	opts       SubmitOptions
	args       []TaskArg
	obj        *object
	extra      []*object // returns 1.. of a task with NumReturns > 1
	key        *keyState
	retriesOut int // worker-death retries left
	appRetries int // application-error retries left
	cancelled  bool
	force      bool
	running    *leaseHandle
	queued     bool
	refs       []Ref  // references the arguments hold, counted as submitted
	parent     string // the task of this worker that submitted it (recursive cancel)

	// finished is set, under s.mu, by whoever finishes the task first
	// (claimLocked): only that caller completes its objects and releases
	// its arguments.
	finished bool
	// stopResolve ends the wait for the task's arguments (set while
	// resolve waits).
	stopResolve context.CancelFunc
}

// keyState is the submission state of one scheduling key (resource shape
// and strategy): its ready queue and the leases serving it.
type keyState struct {
	key        string
	res        sched.Resources
	strat      sched.Strategy
	env        []string
	queue      []*task
	idle       []*leaseHandle
	leases     int
	requesting int // lease requests in flight and still wanted
	pending    map[string]*pendingLease
}

// pendingLease is a lease request in flight, with the node it is
// currently queued at, so that it can be withdrawn.
type pendingLease struct {
	id        string
	name      string // a task waiting for it, for warnings
	node      leaseClient
	withdrawn bool
}

type leaseHandle struct {
	reply  protocol.LeaseReply
	node   leaseClient
	worker workerClient
	timer  *time.Timer
	dead   bool
}

type submitter struct {
	rt     *Runtime
	conns  submitConns // the nodes and workers (fakes in unit tests)
	mu     sync.Mutex
	keys   map[string]*keyState
	tasks  map[string]*task
	closed bool
	// running: the normal tasks this worker runs now, each with whether
	// it was cancelled recursively (force or not); see cancel.go.
	running map[string]*parentState
}

func newSubmitter(rt *Runtime) *submitter {
	return &submitter{rt: rt, conns: rpcConns{rt}, keys: map[string]*keyState{}, tasks: map[string]*task{}}
}

// Submit submits a task and returns the reference to its result.
func (rt *Runtime) Submit(opts SubmitOptions, args []TaskArg) Ref {
	opts.NumReturns = 0
	return rt.SubmitN(opts, args)[0]
}

// SubmitN submits a task whose result is split into opts.NumReturns
// objects (at least one), and returns their references in order.
func (rt *Runtime) SubmitN(opts SubmitOptions, args []TaskArg) []Ref {
	id := opts.ID
	if id == "" {
		id = rt.nextID()
	}
	obj := rt.store.create(id)
	t := &task{opts: opts, args: args, obj: obj, retriesOut: opts.MaxRetries, appRetries: opts.MaxRetries,
		spec: protocol.TaskSpec{TaskID: id, JobID: rt.job.Load().JobID, Name: opts.Name, Display: opts.Display,
			ReturnID: id, OwnerAddr: rt.Addr(), Resources: opts.Resources, NumReturns: opts.NumReturns,
			Depth: rt.submitDepth(), Stream: rt.openStream(id, opts.Stream)}}
	refs := []Ref{{ID: id, Owner: rt.Addr()}}
	for i := 1; i < opts.NumReturns; i++ {
		rid := protocol.ReturnID(id, i)
		t.extra = append(t.extra, rt.store.create(rid))
		refs = append(refs, Ref{ID: rid, Owner: rt.Addr()})
	}
	if opts.Counted {
		for _, r := range refs {
			rt.AddLocal(r)
		}
	}
	// The arguments are counted before the task is listed: once listed, a
	// recursive cancel of its parent or a shutdown may finish it (and its
	// forget release them) at once.
	t.refs = argRefs(args)
	rt.addSubmitted(t.refs)
	s := rt.sub
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.finishObjects(t, nil, errs.NewTaskError(t.name(), id, errs.ErrShutdown, errs.ErrShutdown, "", false).ToWire())
		rt.removeSubmitted(t.refs)
		return refs
	}
	s.tasks[id] = t
	cancelNow := s.adoptLocked(t, opts.Parent)
	s.mu.Unlock()
	if t.resolveInline(rt) {
		rt.recordTask(t.event(protocol.TaskPendingNode))
		s.enqueue(t)
	} else {
		rt.recordTask(t.event(protocol.TaskPendingArgs))
		rt.wg.Add(1)
		go func() { defer rt.wg.Done(); s.resolve(t) }()
	}
	if cancelNow != nil {
		// Submitted by a task already cancelled recursively.
		_ = rt.Cancel(refs[0], cancelNow.force, true)
	}
	return refs
}

// event is an owner's task event. Attempts count pushes from 1 (the
// spec's Attempt is incremented at each push): a pending task is about to
// make the next one, a failed one made the last (at least one).
func (t *task) event(state string) protocol.TaskEvent {
	att := max(t.spec.Attempt, 1)
	if state == protocol.TaskPendingArgs || state == protocol.TaskPendingNode {
		att = t.spec.Attempt + 1
	}
	return protocol.TaskEvent{TaskID: t.spec.TaskID, Attempt: att, Name: t.name(), Type: protocol.TaskTypeNormal,
		JobID: t.spec.JobID, State: state}
}

func (t *task) name() string { return t.spec.DisplayName() }

// resolveInline fills the spec's arguments if all are small values.
func (t *task) resolveInline(rt *Runtime) bool {
	vals, ok := resolvedValues(t.args, rt.cfg.InlineLimit)
	if ok {
		t.spec.Args = vals
	}
	return ok
}

// resolve waits for the task's reference arguments; a failed dependency
// fails the task with the dependency's error, as in Ray.
func (s *submitter) resolve(t *task) {
	ctx, cancel := context.WithCancel(s.rt.ctx)
	defer cancel()
	s.mu.Lock()
	if t.finished {
		s.mu.Unlock()
		return
	}
	t.stopResolve = cancel // a Cancel meanwhile ends the wait (claimLocked)
	s.mu.Unlock()
	vals, err := s.rt.resolveForCall(ctx, t.args)
	if err != nil {
		s.finish(t, nil, argFailure(t.name(), t.spec.TaskID, err))
		return
	}
	t.spec.Args = vals
	s.rt.recordTask(t.event(protocol.TaskPendingNode))
	s.enqueue(t)
}

func schedKey(res sched.Resources, st sched.Strategy) string {
	return fmt.Sprintf("%s|%d|%s|%t|%s", res.String(), st.Kind, st.NodeID, st.Soft, sched.FormatLabelSelector(st.Labels))
}

func (s *submitter) enqueue(t *task) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.cancelled || t.finished || t.obj.ready() {
		return
	}
	k := schedKey(t.opts.Resources, t.opts.Strategy)
	if len(t.opts.Env) > 0 {
		k += "|" + protocol.EnvKey(s.rt.cfg.Token, t.opts.Env) // no lease serves two environments
	}
	ks := s.keys[k]
	if ks == nil {
		ks = &keyState{key: k, res: t.opts.Resources, strat: t.opts.Strategy, env: t.opts.Env, pending: map[string]*pendingLease{}}
		s.keys[k] = ks
	}
	t.key, t.queued = ks, true
	ks.queue = append(ks.queue, t)
	s.pumpLocked(ks)
}

// pumpLocked hands queued tasks to idle leases and asks for more leases
// while tasks wait.
func (s *submitter) pumpLocked(ks *keyState) {
	if s.closed {
		return
	}
	for len(ks.queue) > 0 && len(ks.idle) > 0 {
		t := ks.queue[0]
		ks.queue[0] = nil
		ks.queue = ks.queue[1:]
		t.queued = false
		if t.cancelled || t.obj.ready() {
			continue
		}
		lh := ks.idle[len(ks.idle)-1]
		ks.idle = ks.idle[:len(ks.idle)-1]
		if lh.timer != nil {
			lh.timer.Stop()
			lh.timer = nil
		}
		t.running = lh
		t.spec.Attempt++
		t.spec.GPUIDs = lh.reply.GPUIDs
		if t.spec.Stream != nil && t.spec.Stream.ItemBase == "" {
			t.spec.Stream.Skip = s.rt.streamSkip(t.spec.TaskID) // a retry leaves out what the owner holds
		}
		s.rt.wg.Add(1)
		go func() { defer s.rt.wg.Done(); s.push(ks, lh, t) }()
	}
	for want := len(ks.queue) - ks.requesting; want > 0 && ks.requesting < maxLeaseRequests; want-- {
		ks.requesting++
		pl := &pendingLease{id: s.rt.nextID(), node: s.conns.localNode(), name: ks.queue[len(ks.queue)-1].name()}
		ks.pending[pl.id] = pl
		s.rt.wg.Add(1)
		go func() { defer s.rt.wg.Done(); s.requestLease(ks, pl) }()
	}
	if len(ks.queue) == 0 {
		// Nothing waits for this shape: withdraw the requests still
		// queued at nodes, so they neither hold a place nor show as
		// demand in rayo status.
		for _, pl := range ks.pending {
			if !pl.withdrawn {
				pl.withdrawn = true
				ks.requesting--
				node, id := pl.node, pl.id
				s.rt.wg.Add(1)
				go func() {
					defer s.rt.wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					_ = node.CancelLease(ctx, id)
				}()
			}
		}
		for _, lh := range ks.idle {
			if lh.timer == nil {
				lh := lh
				lh.timer = time.AfterFunc(leaseLinger, func() { s.lingerExpired(ks, lh) })
			}
		}
	}
}

func (s *submitter) lingerExpired(ks *keyState, lh *leaseHandle) {
	s.mu.Lock()
	found := false
	for i, x := range ks.idle {
		if x == lh {
			ks.idle = append(ks.idle[:i], ks.idle[i+1:]...)
			found = true
			break
		}
	}
	if found {
		ks.leases--
		s.dropIfUnusedLocked(ks)
	}
	s.mu.Unlock()
	if found {
		s.returnLease(lh, false)
	}
}

// dropIfUnusedLocked forgets a scheduling key nothing uses any more (no
// task queued, no lease held or asked for): keys are made per resource
// shape, strategy and environment, and a job that uses many (one
// environment per trial, say) would otherwise keep them all. A goroutine
// still holding the dropped state finds it empty; the next task of that
// shape makes a new one.
func (s *submitter) dropIfUnusedLocked(ks *keyState) {
	if len(ks.queue) == 0 && len(ks.idle) == 0 && ks.leases == 0 && ks.requesting == 0 && len(ks.pending) == 0 && s.keys[ks.key] == ks {
		delete(s.keys, ks.key)
	}
}

func (s *submitter) returnLease(lh *leaseHandle, disconnect bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = lh.node.ReturnLease(ctx, lh.reply.LeaseID, disconnect)
}

// requestLease asks the local node for a worker, following spillback
// redirects to other nodes, until it gets one, the request is withdrawn,
// or the node refuses for good.
func (s *submitter) requestLease(ks *keyState, pl *pendingLease) {
	req := &protocol.LeaseRequest{RequestID: pl.id, Job: s.rt.Job(), Resources: ks.res, Strategy: ks.strat, Name: pl.name,
		Depth: s.rt.submitDepth(), Env: ks.env, EnvKey: protocol.EnvKey(s.rt.cfg.Token, ks.env)}
	ctx := s.rt.ctx
	// done ends the request's bookkeeping; it reports whether the request
	// was still wanted.
	done := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(ks.pending, pl.id)
		if pl.withdrawn {
			s.dropIfUnusedLocked(ks)
			return false
		}
		ks.requesting--
		return true
	}
	// at moves the request to another node; false if it was withdrawn.
	at := func(node leaseClient) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		pl.node = node
		return !pl.withdrawn
	}
	node := s.conns.localNode()
	backoff := 20 * time.Millisecond
	for {
		if !at(node) {
			done()
			return
		}
		reply, err := node.RequestLease(ctx, req)
		if err == nil && reply.Rejected {
			// The node we were sent to is busy: ask ours again, after a
			// moment for the cluster view to catch up.
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				done()
				return
			}
			backoff = min(backoff*2, 500*time.Millisecond)
			node, req.Spilled, req.QueueHere = s.conns.localNode(), false, false
			continue
		}
		if err == nil && reply.RetryAt != "" {
			c, derr := s.conns.dialNode(ctx, reply.RetryAt)
			if derr == nil {
				node = c
				req.Spilled, req.QueueHere = true, reply.QueueThere
				continue
			}
			err = derr
		}
		if err == nil {
			w, werr := s.conns.dialWorker(ctx, reply.WorkerAddr)
			if werr != nil {
				// The worker died between grant and dial: give the lease
				// back and ask again.
				s.returnLease(&leaseHandle{reply: reply, node: node}, true)
				node, req.Spilled, req.QueueHere = s.conns.localNode(), false, false
				continue
			}
			lh := &leaseHandle{reply: reply, node: node, worker: w}
			done()
			// Even a withdrawn request's grant is used: tasks may have
			// arrived since, and an unused lease goes back after the
			// linger.
			s.mu.Lock()
			ks.leases++
			ks.idle = append(ks.idle, lh)
			s.pumpLocked(ks)
			s.mu.Unlock()
			return
		}
		if ctx.Err() != nil || rpc.CodeOf(err) == protocol.CodeLeaseCancelled {
			if done() {
				s.mu.Lock()
				s.pumpLocked(ks)
				s.mu.Unlock()
			}
			return
		}
		if code := rpc.CodeOf(err); code != "" && code != protocol.CodeNodeStopping {
			// The node refused for good (job ended, binary cannot run):
			// fail what waits for this shape.
			if done() {
				s.failQueue(ks, err)
			}
			return
		}
		// Transport trouble: retry against the local node.
		s.rt.log.Warn("lease request failed; retrying", "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			done()
			return
		}
		backoff = min(backoff*2, 2*time.Second)
		node, req.Spilled, req.QueueHere = s.conns.localNode(), false, false
		select {
		case <-node.Done():
			if done() {
				s.failQueue(ks, fmt.Errorf("%w: connection to the node daemon lost", errs.ErrNodeDied))
			}
			return
		default:
		}
	}
}

// failQueue fails the tasks waiting for a shape after a lease request was
// refused for good, unless other requests for it are still in flight.
func (s *submitter) failQueue(ks *keyState, err error) {
	s.mu.Lock()
	var q []*task
	if ks.requesting == 0 { // else other requests may still succeed
		for _, t := range ks.queue {
			t.queued = false
			if s.claimLocked(t) {
				q = append(q, t)
			}
		}
		ks.queue = nil
	}
	s.mu.Unlock()
	cause := errs.ErrTaskFailed
	switch {
	case rpc.CodeOf(err) == protocol.CodeBinaryMismatch:
		cause = errs.ErrBinaryMismatch
	case rpc.CodeOf(err) == protocol.CodePGRemoved:
		cause = errs.ErrPlacementGroupRemoved
	case rpc.CodeOf(err) == protocol.CodeNodeAffinityUnavailable:
		cause = errs.ErrNodeAffinityUnavailable
	case errors.Is(err, errs.ErrNodeDied):
		cause = errs.ErrNodeDied
	}
	if cause == errs.ErrPlacementGroupRemoved || cause == errs.ErrNodeAffinityUnavailable {
		err = fmt.Errorf("%w: %w", errs.ErrTaskUnschedulable, err) // matched as well as the cause
	}
	for _, t := range q {
		s.settle(t, nil, errs.NewTaskError(t.name(), t.spec.TaskID, cause, err, "", false).ToWire())
	}
}

// push runs one task on a leased worker and handles its outcome. The
// outcome is decided under s.mu, in one step with clearing t.running: a
// Cancel that comes after finds the task requeued or claimed, never half
// way (see claimLocked).
func (s *submitter) push(ks *keyState, lh *leaseHandle, t *task) {
	var reply protocol.PushTaskReply
	err := lh.worker.PushTask(context.Background(), &t.spec, &reply)
	s.mu.Lock()
	t.running = nil
	if err != nil {
		// The worker is gone (crashed, killed, or its node died).
		lh.dead = true
		ks.leases--
		switch {
		case t.cancelled:
			claimed := s.claimLocked(t)
			s.dropIfUnusedLocked(ks)
			s.mu.Unlock()
			if claimed {
				s.settle(t, nil, cancelledWire(t))
			}
		case t.retriesOut != 0:
			if t.retriesOut > 0 {
				t.retriesOut--
			}
			s.rt.log.Warn("worker died; retrying task", "task", t.name(), "pid", lh.reply.WorkerPid, "err", err)
			t.queued = true
			ks.queue = append([]*task{t}, ks.queue...)
			s.pumpLocked(ks)
			s.mu.Unlock()
		default:
			claimed := s.claimLocked(t)
			s.dropIfUnusedLocked(ks)
			s.mu.Unlock()
			if claimed {
				te := errs.NewTaskError(t.name(), t.spec.TaskID, errs.ErrWorkerCrashed,
					fmt.Errorf("the worker process died (pid %d) and retries are exhausted: %v", lh.reply.WorkerPid, err), "", false)
				te.Pid, te.NodeID = lh.reply.WorkerPid, lh.reply.NodeID
				s.settle(t, nil, te.ToWire())
			}
		}
		s.returnLease(lh, true)
		return
	}
	spread := ks.strat.Kind == sched.StrategySpread
	if spread {
		// SPREAD places every task anew: a lease is not reused, or a
		// burst of short tasks would stay on the first nodes granted.
		ks.leases--
		s.rt.wg.Add(1)
		go func() { defer s.rt.wg.Done(); s.returnLease(lh, false) }()
	} else {
		ks.idle = append(ks.idle, lh)
	}
	cancelled := t.cancelled
	retry := reply.Err != nil && t.opts.RetryExceptions && t.appRetries != 0 && !cancelled &&
		reply.Err.Code == protocol.CodeTaskFailed && !reply.Err.NoRetry
	// lost: a stored argument was gone; rebuilt and run again below.
	lost := !retry && !cancelled && reply.Err != nil && reply.Err.Code == protocol.CodeObjectLost && t.retriesOut != 0
	claimed := false
	switch {
	case retry:
		if t.appRetries > 0 {
			t.appRetries--
		}
		t.queued = true
		ks.queue = append([]*task{t}, ks.queue...)
	case lost:
		if t.retriesOut > 0 {
			t.retriesOut--
		}
	default:
		claimed = s.claimLocked(t)
	}
	s.pumpLocked(ks)
	s.dropIfUnusedLocked(ks) // a SPREAD lease went back at once
	s.mu.Unlock()
	if !retry && reply.Err == nil {
		s.adopt(t, reply.Nested)
		if !claimed {
			// Finished by another (a shutdown): the result's references
			// adopted above go when nothing refers to the result.
			s.rt.objectDone(t.spec.ReturnID)
		}
	}
	if lost {
		s.rt.wg.Add(1)
		go func() {
			defer s.rt.wg.Done()
			if !s.retryLostArgs(t) {
				s.finish(t, nil, reply.Err)
			}
		}()
		return
	}
	if !claimed {
		return
	}
	switch {
	case cancelled:
		s.settle(t, nil, cancelledWire(t))
	case t.spec.NumReturns > 0 && reply.Err == nil:
		s.finishReturns(t, reply.Returns)
	case reply.Loc != nil && reply.Err == nil:
		s.finishStored(t, reply.Loc)
	default:
		s.settle(t, reply.Value, reply.Err)
	}
}

// claimLocked makes the caller the one that finishes t (true, once): it
// alone then completes t's objects and releases its arguments (settle,
// finishReturns, finishStored). A push's outcome, a Cancel, a failed
// dependency, a refused lease and a shutdown may all try at once.
func (s *submitter) claimLocked(t *task) bool {
	if t.finished {
		return false
	}
	t.finished = true
	delete(s.tasks, t.spec.TaskID)
	if t.stopResolve != nil {
		t.stopResolve() // no I/O: it only ends the wait for arguments
	}
	return true
}

func cancelledWire(t *task) *errs.WireTaskError {
	return errs.NewTaskError(t.name(), t.spec.TaskID, errs.ErrTaskCancelled, errs.ErrTaskCancelled, "", false).ToWire()
}

// finish finishes t with a value or an error, unless another finished
// it first.
func (s *submitter) finish(t *task, value []byte, err *errs.WireTaskError) {
	s.mu.Lock()
	claimed := s.claimLocked(t)
	s.mu.Unlock()
	if claimed {
		s.settle(t, value, err)
	}
}

// settle finishes a task the caller claimed.
func (s *submitter) settle(t *task, value []byte, err *errs.WireTaskError) {
	if err != nil {
		// Failures the executor did not see (a dependency failed, the
		// worker died, the task was cancelled) are reported here.
		s.rt.recordTaskEnd(t.event(""), err)
	}
	s.finishObjects(t, value, err)
	s.forget(t)
}

// finishObjects completes the task's objects: the value (or the error)
// for its one result; the error for each of several.
func (s *submitter) finishObjects(t *task, value []byte, err *errs.WireTaskError) {
	t.obj.complete(value, err)
	if t.spec.Stream != nil && t.spec.Stream.ItemBase == "" {
		// The lineage first: a consumer woken by the end may close the
		// stream (and forget its items) or rebuild a lost item at once.
		if err == nil && s.rt.keepStreamLineage(t) {
			t.refs = nil // the items' lineage holds them now
		}
		s.rt.endStream(t.spec.TaskID, value, err)
	}
	for _, o := range t.extra {
		o.complete(nil, err)
	}
}

// finishReturns completes the objects of a task with several results
// (claimed by the caller). They keep no lineage: a lost one is lost
// (ErrObjectLost).
func (s *submitter) finishReturns(t *task, rets []protocol.ReturnValue) {
	if len(rets) != max(t.spec.NumReturns, 1) {
		s.settle(t, nil, errs.NewTaskError(t.name(), t.spec.TaskID, errs.ErrTaskFailed,
			fmt.Errorf("the worker returned %d results, want %d", len(rets), t.spec.NumReturns), "", false).ToWire())
		return
	}
	objs := append([]*object{t.obj}, t.extra...)
	for i, rv := range rets {
		rid := protocol.ReturnID(t.spec.TaskID, i)
		if len(rv.Nested) > 0 {
			s.rt.setContains(rid, nestedRefs(rv.Nested), true)
		}
		if rv.Loc != nil {
			objs[i].completeArg(protocol.Arg{ID: rid, Loc: rv.Loc})
		} else {
			objs[i].complete(rv.Value, nil)
		}
	}
	s.forget(t)
}

// finishStored completes a task (claimed by the caller) whose result the
// worker put in its node's store.
func (s *submitter) finishStored(t *task, loc *protocol.ObjectLocation) {
	t.obj.completeArg(protocol.Arg{ID: t.spec.ReturnID, Loc: loc})
	if s.rt.keepLineage(t) {
		t.refs = nil // the lineage holds them now
	}
	s.forget(t)
}

// adopt records the references a result holds (the worker registered
// this process as their borrower) before the arguments are released.
func (s *submitter) adopt(t *task, nested []protocol.NestedRef) {
	s.rt.setContains(t.spec.ReturnID, nestedRefs(nested), true)
}

func nestedRefs(n []protocol.NestedRef) []Ref {
	out := make([]Ref, len(n))
	for i, r := range n {
		out[i] = Ref{ID: r.ID, Owner: r.Owner}
	}
	return out
}

func wireNested(n []Ref) []protocol.NestedRef {
	if len(n) == 0 {
		return nil
	}
	out := make([]protocol.NestedRef, len(n))
	for i, r := range n {
		out[i] = protocol.NestedRef{ID: r.ID, Owner: r.Owner}
	}
	return out
}

// forget releases what a finished (claimed) task held: its arguments,
// and its results if nothing refers to them any more.
func (s *submitter) forget(t *task) {
	s.rt.removeSubmitted(t.refs)
	s.rt.objectDone(t.spec.ReturnID)
	for i := range t.extra {
		s.rt.objectDone(protocol.ReturnID(t.spec.TaskID, i+1))
	}
}

// Cancel cancels a task by its result's reference. A queued task never
// runs; a running one sees its context cancelled, or with force, its
// worker is killed; recursive also cancels the tasks it submitted, as
// Ray's default. A process that does not own the task forwards the
// request to the owner. Cancelling a finished task does nothing.
func (rt *Runtime) Cancel(ref Ref, force, recursive bool) error {
	if ref.Owner != rt.Addr() {
		return rt.forwardCancel(ref, force, recursive)
	}
	if found, err := rt.cancelActorCall(ref.ID, force, recursive); found {
		return err
	}
	s := rt.sub
	s.mu.Lock()
	t := s.tasks[ref.ID]
	if t == nil || t.finished || t.obj.ready() {
		s.mu.Unlock()
		return nil
	}
	t.cancelled, t.force = true, force
	lh := t.running
	if t.queued && t.key != nil {
		q := t.key.queue
		for i, x := range q {
			if x == t {
				t.key.queue = append(q[:i], q[i+1:]...)
				break
			}
		}
		t.queued = false
		s.pumpLocked(t.key) // withdraws lease requests nothing waits for now
	}
	// Not running: queued, resolving its arguments, or between attempts;
	// it is finished here, unless another finisher came first.
	claimed := lh == nil && s.claimLocked(t)
	s.mu.Unlock()
	if lh == nil {
		if claimed {
			s.settle(t, nil, cancelledWire(t))
		}
		return nil
	}
	if force && recursive {
		// The worker cancels what the task submitted before it dies
		// (best effort: the kill follows whatever the answer).
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = lh.worker.CancelTask(cctx, &protocol.CancelTaskRequest{TaskID: ref.ID, Force: true, Recursive: true})
		ccancel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if force {
		return lh.node.KillWorker(ctx, lh.reply.WorkerID)
	}
	return lh.worker.CancelTask(ctx, &protocol.CancelTaskRequest{TaskID: ref.ID, Recursive: recursive})
}

func (s *submitter) close() {
	s.mu.Lock()
	s.closed = true
	var ts []*task
	for _, t := range s.tasks {
		if s.claimLocked(t) {
			ts = append(ts, t)
		}
	}
	var idle []*leaseHandle
	for _, ks := range s.keys {
		for _, lh := range ks.idle {
			if lh.timer != nil {
				lh.timer.Stop()
			}
		}
		idle = append(idle, ks.idle...)
		ks.idle = nil
	}
	s.mu.Unlock()
	for _, lh := range idle {
		s.returnLease(lh, false)
	}
	for _, t := range ts {
		s.finishObjects(t, nil, errs.NewTaskError(t.name(), t.spec.TaskID, errs.ErrShutdown, errs.ErrShutdown, "", false).ToWire())
	}
}
