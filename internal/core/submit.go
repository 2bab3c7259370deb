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
	// Stream makes the task a streaming one (stream.go).
	Stream *StreamOptions
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
}

// keyState is the submission state of one scheduling key (resource shape
// and strategy): its ready queue and the leases serving it.
type keyState struct {
	key        string
	res        sched.Resources
	strat      sched.Strategy
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
	node      *rpc.Client
	withdrawn bool
}

type leaseHandle struct {
	reply  protocol.LeaseReply
	node   *rpc.Client
	worker *rpc.Client
	timer  *time.Timer
	dead   bool
}

type submitter struct {
	rt     *Runtime
	mu     sync.Mutex
	keys   map[string]*keyState
	tasks  map[string]*task
	closed bool
	// running: the normal tasks this worker runs now, each with whether
	// it was cancelled recursively (force or not); see cancel.go.
	running map[string]*parentState
}

func newSubmitter(rt *Runtime) *submitter {
	return &submitter{rt: rt, keys: map[string]*keyState{}, tasks: map[string]*task{}}
}

// Submit submits a task and returns the reference to its result.
func (rt *Runtime) Submit(opts SubmitOptions, args []TaskArg) Ref {
	opts.NumReturns = 0
	return rt.SubmitN(opts, args)[0]
}

// SubmitN submits a task whose result is split into opts.NumReturns
// objects (at least one), and returns their references in order.
func (rt *Runtime) SubmitN(opts SubmitOptions, args []TaskArg) []Ref {
	id := rt.nextID()
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
	s := rt.sub
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.finishObjects(t, nil, errs.NewTaskError(t.name(), id, errs.ErrShutdown, errs.ErrShutdown, "", false).ToWire())
		return refs
	}
	s.tasks[id] = t
	cancelNow := s.adoptLocked(t)
	s.mu.Unlock()
	t.refs = argRefs(args)
	rt.addSubmitted(t.refs)
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
	vals := make([]protocol.Arg, len(t.args))
	for i, a := range t.args {
		if a.Ref != nil || int64(len(a.Value)) > rt.cfg.InlineLimit {
			return false
		}
		vals[i] = protocol.Arg{V: a.Value}
	}
	t.spec.Args = vals
	return true
}

// resolve waits for the task's reference arguments; a failed dependency
// fails the task with the dependency's error, as in Ray.
func (s *submitter) resolve(t *task) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-t.obj.done: // cancelled while waiting
		case <-s.rt.closed:
		case <-ctx.Done():
		}
		cancel()
	}()
	vals := make([]protocol.Arg, len(t.args))
	for i, a := range t.args {
		if a.Ref == nil {
			if int64(len(a.Value)) <= s.rt.cfg.InlineLimit {
				vals[i] = protocol.Arg{V: a.Value}
				continue
			}
			// A large value argument goes to the store once, like a Put.
			ref, err := s.rt.PutBytes(ctx, Encoded{Data: a.Value})
			if err != nil {
				s.finish(t, nil, errs.NewTaskError(t.name(), t.spec.TaskID, errs.ErrTaskFailed, fmt.Errorf("argument %d: %w", i, err), "", false).ToWire())
				return
			}
			a.Ref = &ref
		}
		v, err := s.rt.lookup(ctx, *a.Ref)
		if err != nil {
			var te *errs.TaskError
			if !errors.As(err, &te) {
				te = errs.NewTaskError(t.name(), t.spec.TaskID, causeOf(err), fmt.Errorf("argument %d: %w", i, err), "", false)
			}
			s.finish(t, nil, te.ToWire())
			return
		}
		vals[i] = v
	}
	t.spec.Args = vals
	s.rt.recordTask(t.event(protocol.TaskPendingNode))
	s.enqueue(t)
}

func causeOf(err error) error {
	for _, e := range []error{errs.ErrOwnerDied, errs.ErrObjectLost, errs.ErrShutdown, errs.ErrTaskCancelled} {
		if errors.Is(err, e) {
			return e
		}
	}
	return errs.ErrTaskFailed
}

func schedKey(res sched.Resources, st sched.Strategy) string {
	return fmt.Sprintf("%s|%d|%s|%t|%s", res.String(), st.Kind, st.NodeID, st.Soft, sched.FormatLabelSelector(st.Labels))
}

func (s *submitter) enqueue(t *task) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.cancelled || t.obj.ready() {
		return
	}
	k := schedKey(t.opts.Resources, t.opts.Strategy)
	ks := s.keys[k]
	if ks == nil {
		ks = &keyState{key: k, res: t.opts.Resources, strat: t.opts.Strategy, pending: map[string]*pendingLease{}}
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
		if t.spec.Stream != nil {
			t.spec.Stream.Skip = s.rt.streamSkip(t.spec.TaskID) // a retry leaves out what the owner holds
		}
		s.rt.wg.Add(1)
		go func() { defer s.rt.wg.Done(); s.push(ks, lh, t) }()
	}
	for want := len(ks.queue) - ks.requesting; want > 0 && ks.requesting < maxLeaseRequests; want-- {
		ks.requesting++
		pl := &pendingLease{id: s.rt.nextID(), node: s.rt.node, name: ks.queue[len(ks.queue)-1].name()}
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
					_ = node.Call(ctx, protocol.NodeCancelLease, &protocol.CancelLeaseRequest{RequestID: id}, nil)
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
	}
	s.mu.Unlock()
	if found {
		s.returnLease(lh, false)
	}
}

func (s *submitter) returnLease(lh *leaseHandle, disconnect bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = lh.node.Call(ctx, protocol.NodeReturnLease, &protocol.ReturnLeaseRequest{LeaseID: lh.reply.LeaseID, Disconnect: disconnect}, nil)
}

// requestLease asks the local node for a worker, following spillback
// redirects to other nodes, until it gets one, the request is withdrawn,
// or the node refuses for good.
func (s *submitter) requestLease(ks *keyState, pl *pendingLease) {
	req := &protocol.LeaseRequest{RequestID: pl.id, Job: s.rt.Job(), Resources: ks.res, Strategy: ks.strat, Name: pl.name,
		Depth: s.rt.submitDepth()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.rt.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	// done ends the request's bookkeeping; it reports whether the request
	// was still wanted.
	done := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(ks.pending, pl.id)
		if pl.withdrawn {
			return false
		}
		ks.requesting--
		return true
	}
	// at moves the request to another node; false if it was withdrawn.
	at := func(node *rpc.Client) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		pl.node = node
		return !pl.withdrawn
	}
	node := s.rt.node
	backoff := 20 * time.Millisecond
	for {
		if !at(node) {
			done()
			return
		}
		var reply protocol.LeaseReply
		err := node.Call(ctx, protocol.NodeRequestLease, req, &reply)
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
			node, req.Spilled, req.QueueHere = s.rt.node, false, false
			continue
		}
		if err == nil && reply.RetryAt != "" {
			c, derr := s.rt.client(ctx, reply.RetryAt)
			if derr == nil {
				node = c
				req.Spilled, req.QueueHere = true, reply.QueueThere
				continue
			}
			err = derr
		}
		if err == nil {
			w, werr := s.rt.client(ctx, reply.WorkerAddr)
			if werr != nil {
				// The worker died between grant and dial: give the lease
				// back and ask again.
				s.returnLease(&leaseHandle{reply: reply, node: node}, true)
				node, req.Spilled, req.QueueHere = s.rt.node, false, false
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
		if ctx.Err() != nil || rpc.CodeOf(err) == "lease_cancelled" {
			if done() {
				s.mu.Lock()
				s.pumpLocked(ks)
				s.mu.Unlock()
			}
			return
		}
		if code := rpc.CodeOf(err); code != "" && code != "node_stopping" {
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
		node, req.Spilled, req.QueueHere = s.rt.node, false, false
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
	q := ks.queue
	if ks.requesting > 0 {
		q = nil // other requests may still succeed
	} else {
		ks.queue = nil
	}
	s.mu.Unlock()
	cause := errs.ErrTaskFailed
	switch {
	case rpc.CodeOf(err) == "binary_mismatch":
		cause = errs.ErrBinaryMismatch
	case rpc.CodeOf(err) == "pg_removed":
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
		s.finish(t, nil, errs.NewTaskError(t.name(), t.spec.TaskID, cause, err, "", false).ToWire())
	}
}

// push runs one task on a leased worker and handles its outcome.
func (s *submitter) push(ks *keyState, lh *leaseHandle, t *task) {
	var reply protocol.PushTaskReply
	err := lh.worker.Call(context.Background(), protocol.WorkerPushTask, &t.spec, &reply)
	s.mu.Lock()
	t.running = nil
	if err != nil {
		// The worker is gone (crashed, killed, or its node died).
		lh.dead = true
		ks.leases--
		switch {
		case t.cancelled:
			s.mu.Unlock()
			s.finishCancelled(t)
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
			s.mu.Unlock()
			te := errs.NewTaskError(t.name(), t.spec.TaskID, errs.ErrWorkerCrashed,
				fmt.Errorf("the worker process died (pid %d) and retries are exhausted: %v", lh.reply.WorkerPid, err), "", false)
			te.Pid, te.NodeID = lh.reply.WorkerPid, lh.reply.NodeID
			s.finish(t, nil, te.ToWire())
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
	retry := reply.Err != nil && t.opts.RetryExceptions && t.appRetries != 0 && !t.cancelled &&
		reply.Err.Code == errs.CodeTaskFailed
	if retry {
		if t.appRetries > 0 {
			t.appRetries--
		}
		t.queued = true
		ks.queue = append([]*task{t}, ks.queue...)
	}
	s.pumpLocked(ks)
	s.mu.Unlock()
	if !retry && reply.Err == nil {
		s.adopt(t, reply.Nested)
	}
	if !retry && !t.cancelled && reply.Err != nil && reply.Err.Code == "object_lost" && t.retriesOut != 0 {
		if t.retriesOut > 0 {
			t.retriesOut--
		}
		s.rt.wg.Add(1)
		go func() {
			defer s.rt.wg.Done()
			if !s.retryLostArgs(t) {
				s.finish(t, nil, reply.Err)
			}
		}()
		return
	}
	switch {
	case retry:
	case t.cancelled:
		s.finishCancelled(t)
	case t.spec.NumReturns > 0 && reply.Err == nil:
		s.finishReturns(t, reply.Returns)
	case reply.Loc != nil && reply.Err == nil:
		s.finishStored(t, reply.Loc)
	default:
		s.finish(t, reply.Value, reply.Err)
	}
}

func (s *submitter) finish(t *task, value []byte, err *errs.WireTaskError) {
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
	if t.spec.Stream != nil {
		s.rt.endStream(t.spec.TaskID, value, err)
	}
	for _, o := range t.extra {
		o.complete(nil, err)
	}
}

// finishReturns completes the objects of a task with several results.
// They keep no lineage: a lost one is lost (ErrObjectLost).
func (s *submitter) finishReturns(t *task, rets []protocol.ReturnValue) {
	if len(rets) != max(t.spec.NumReturns, 1) {
		s.finish(t, nil, errs.NewTaskError(t.name(), t.spec.TaskID, errs.ErrTaskFailed,
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

// finishStored completes a task whose result the worker put in its
// node's store.
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

func (s *submitter) forget(t *task) {
	for i := range t.extra {
		defer s.rt.objectDone(protocol.ReturnID(t.spec.TaskID, i+1))
	}
	defer s.rt.objectDone(t.spec.ReturnID)
	defer s.rt.removeSubmitted(t.refs)
	s.mu.Lock()
	delete(s.tasks, t.spec.TaskID)
	s.mu.Unlock()
}

func (s *submitter) finishCancelled(t *task) {
	s.finish(t, nil, errs.NewTaskError(t.name(), t.spec.TaskID, errs.ErrTaskCancelled, errs.ErrTaskCancelled, "", false).ToWire())
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
	s := rt.sub
	s.mu.Lock()
	t := s.tasks[ref.ID]
	if t == nil || t.obj.ready() {
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
	s.mu.Unlock()
	if lh == nil {
		s.finishCancelled(t)
		return nil
	}
	if force && recursive {
		// The worker cancels what the task submitted before it dies
		// (best effort: the kill follows whatever the answer).
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = lh.worker.Call(cctx, protocol.WorkerCancelTask, &protocol.CancelTaskRequest{TaskID: ref.ID, Force: true, Recursive: true}, nil)
		ccancel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if force {
		return lh.node.Call(ctx, protocol.NodeKillWorker, &protocol.KillWorkerRequest{WorkerID: lh.reply.WorkerID}, nil)
	}
	return lh.worker.Call(ctx, protocol.WorkerCancelTask, &protocol.CancelTaskRequest{TaskID: ref.ID, Recursive: recursive}, nil)
}

func (s *submitter) close() {
	s.mu.Lock()
	s.closed = true
	var ts []*task
	for _, t := range s.tasks {
		ts = append(ts, t)
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
