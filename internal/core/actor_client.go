package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/sched"
)

// ActorOptions describe an actor to create.
type ActorOptions struct {
	Class          string
	Name           string
	Namespace      string
	Detached       bool
	GetIfExists    bool
	Resources      sched.Resources
	Strategy       sched.Strategy
	MaxRestarts    int
	MaxTaskRetries int
	MaxConcurrency int
	Env            []string // the actor's own environment (protocol.EnvList)
	// ConcurrencyGroups are named groups and their limits (Ray's
	// concurrency_groups), besides the default group of MaxConcurrency.
	ConcurrencyGroups map[string]int
}

// CreateActor registers an actor with the head, which places it and runs
// its constructor. Reference arguments are resolved first. It returns the
// actor's ID (an existing one's with GetIfExists) and its class.
func (rt *Runtime) CreateActor(ctx context.Context, o ActorOptions, args []TaskArg) (id, class string, err error) {
	vals, err := rt.resolveForCall(ctx, args)
	if err != nil {
		return "", "", fmt.Errorf("actor %s: constructor arguments: %w", o.Class, err)
	}
	// The head keeps the constructor's arguments to restart the actor:
	// what they refer to stays alive while the actor may restart (for an
	// actor whose handles this process counts, until it goes out of
	// scope; else as long as this process lives).
	held := argRefs(args)
	rt.addSubmitted(held)
	spec := &protocol.ActorSpec{ActorID: rt.nextID(), Class: o.Class, Name: o.Name, Namespace: o.Namespace,
		Detached: o.Detached, GetIfExists: o.GetIfExists, Args: vals, Resources: o.Resources, Strategy: o.Strategy,
		MaxRestarts: o.MaxRestarts, MaxTaskRetries: o.MaxTaskRetries, MaxConcurrency: o.MaxConcurrency,
		Job: rt.Job(), OwnerAddr: rt.Addr(), Env: o.Env, ConcurrencyGroups: o.ConcurrencyGroups}
	var reply protocol.CreateActorReply
	if err := rt.callHead(ctx, protocol.HeadCreateActor, spec, &reply); err != nil {
		rt.removeSubmitted(held) // no actor of these arguments
		if rpc.CodeOf(err) == protocol.CodeActorNameTaken {
			return "", "", fmt.Errorf("%w: %v", errs.ErrActorNameTaken, err)
		}
		if rpc.CodeOf(err) == protocol.CodeNodeAffinityUnavailable {
			return "", "", fmt.Errorf("%w: %v", errs.ErrNodeAffinityUnavailable, err)
		}
		return "", "", err
	}
	switch {
	case reply.Existed:
		rt.removeSubmitted(held) // GetIfExists found another: these were not used
	case !o.Detached:
		// This process owns the actor's lifetime: its handles count
		// (actor_scope.go), and the arguments go with it.
		rt.ownActorHandle(reply.ActorID, held)
	}
	return reply.ActorID, reply.Class, nil
}

// GetActor looks an actor up by ID, or by name and namespace.
func (rt *Runtime) GetActor(ctx context.Context, id, name, namespace string) (*protocol.ActorInfo, error) {
	var info protocol.ActorInfo
	if err := rt.callHead(ctx, protocol.HeadGetActor, &protocol.GetActorRequest{ActorID: id, Name: name, Namespace: namespace}, &info); err != nil {
		if rpc.CodeOf(err) == protocol.CodeActorNotFound {
			return nil, fmt.Errorf("%w: %v", errs.ErrActorNotFound, err)
		}
		return nil, err
	}
	return &info, nil
}

// WaitActorReady waits until the actor is alive; a dead actor returns its
// *errs.ActorDiedError.
func (rt *Runtime) WaitActorReady(ctx context.Context, id string) error {
	var after uint64
	for {
		var info protocol.ActorInfo
		if err := rt.callHead(ctx, protocol.HeadGetActor, &protocol.GetActorRequest{ActorID: id, AfterVersion: after}, &info); err != nil {
			if ctx.Err() != nil {
				return ctxErr(ctx)
			}
			return err
		}
		switch info.State {
		case protocol.ActorAlive:
			return nil
		case protocol.ActorDead:
			return diedError(&info)
		}
		after = info.Version
	}
}

// KillActor kills an actor through the head.
func (rt *Runtime) KillActor(ctx context.Context, id string, noRestart bool, cause string) error {
	err := rt.callHead(ctx, protocol.HeadKillActor, &protocol.KillActorRequest{ActorID: id, NoRestart: noRestart, Cause: cause}, nil)
	if rpc.CodeOf(err) == protocol.CodeActorNotFound {
		return fmt.Errorf("%w: %v", errs.ErrActorNotFound, err)
	}
	return err
}

func diedError(info *protocol.ActorInfo) error {
	d := info.Death
	if d == nil {
		d = &protocol.ActorDeath{Code: protocol.DeathCrashed, Message: "the actor died"}
	}
	return errs.NewActorDiedError(info.ActorID, info.Class, info.Name, d.Code, d.Message, d.Ctor)
}

// actorClient submits one caller's calls to one actor, in order: it
// resolves the actor's address through the head, sends calls on one
// connection, and after the actor's worker dies resends (up to the
// actor's MaxTaskRetries) what was in flight once the actor is back.
type actorClient struct {
	rt *Runtime
	id string

	// guarded by rt.actorsMu
	info      *protocol.ActorInfo
	conn      actorConn
	queue     []*actorCall
	inflight  []*actorCall
	lost      []*actorCall // in flight when the worker died, no retries left
	resolving bool
	failed    error // the actor is dead: every call fails with this
	// outbox: calls taken off the queue (already in inflight, marshalled
	// for conn) that wait to be written; sending: a goroutine writes a
	// batch of them outside the lock (flush), so that a slow peer blocks
	// only this caller's calls, which stay in order on the connection.
	// lossDeferred: the connection was lost while a batch was written; the
	// writer handles the loss once it knows which calls went out.
	outbox       []outgoing
	sending      bool
	lossDeferred bool
}

// actorConn is the connection calls are written on (an *rpc.Client; a
// fake in tests).
type actorConn interface {
	Done() <-chan struct{}
	GoSent(method string, body []byte, done func(reply []byte, err error)) bool
	Call(ctx context.Context, method string, req, resp any) error
}

// outgoing is a call waiting in the outbox, marshalled for conn.
type outgoing struct {
	c    *actorCall
	body []byte
	conn actorConn
}

type actorCall struct {
	refs    []Ref
	keep    any // kept reachable until the call is done (the caller's handle)
	req     protocol.ActorCallRequest
	args    []TaskArg
	obj     *object
	ready   bool
	retries int // resends left after the worker dies (-1: no limit)
	name    string
	// unsent: the request never reached the connection (it was already
	// closed, or the write failed), so the actor cannot have run it: it
	// is resent after a restart without using up a retry.
	unsent bool
	// retryExceptions resends the call after an application error while
	// retries are left (actor_cancel.go); cancelled: Cancel asked for it,
	// so it is never resent. Both guarded by rt.actorsMu.
	retryExceptions bool
	cancelled       bool
	cancelRecursive bool // the Cancel was recursive
	// parent is the task or actor call this process ran when it submitted
	// the call (cancel.go): a recursive Cancel of it cancels this call.
	parent string
	// done: the call is finished (guarded by rt.actorsMu). A reply may
	// race with the loss of its connection, or a failed argument with
	// the actor's death: only the first finishes the call.
	done bool
	ac   *actorClient
	// stopResolve ends the resolution of its arguments (nil when they
	// were ready at once): a call finished first (cancelled, its actor
	// dead) does not wait for them.
	stopResolve context.CancelFunc
}

func (rt *Runtime) actorClient(id string) *actorClient {
	rt.actorsMu.Lock()
	defer rt.actorsMu.Unlock()
	ac := rt.actors[id]
	if ac == nil {
		ac = &actorClient{rt: rt, id: id}
		rt.actors[id] = ac
	}
	return ac
}

// KeepReleaser is a call's keep (SubmitActorCallWith) that holds counts
// rather than Go values: Release runs once the call is done, possibly
// with actorsMu held, so it may take refs.mu (the documented order) and
// nothing before it.
type KeepReleaser interface{ Release() }

// SubmitActorCallWith submits a method call with per-call options and
// returns its result's ref. keep stays reachable until the call is done:
// the caller passes its handle, so that an actor with calls pending never
// goes out of scope.
func (rt *Runtime) SubmitActorCallWith(actorID, class, method string, args []TaskArg, keep any, o ActorCallOptions) Ref {
	return rt.submitActorCall(actorID, class, method, args, keep, o, nil)
}

// submitActorCall submits a call, a streaming one if so is set.
func (rt *Runtime) submitActorCall(actorID, class, method string, args []TaskArg, keep any, o ActorCallOptions, so *StreamOptions) Ref {
	id := o.ID
	if id == "" {
		id = rt.nextID()
	}
	obj := rt.store.create(id)
	c := &actorCall{obj: obj, args: args, retries: -2, name: class + "." + method, keep: keep,
		req: protocol.ActorCallRequest{ActorID: actorID, TaskID: id, Method: method, OwnerAddr: rt.Addr(), Stream: rt.openStream(id, so)}}
	o.apply(c)
	if o.Counted {
		rt.AddLocal(Ref{ID: id, Owner: rt.Addr()})
	}
	parentCancelled := rt.sub.adoptCall(c, o.Parent)
	ac := rt.actorClient(actorID)
	c.refs = argRefs(args)
	rt.addSubmitted(c.refs)
	c.req.Args, c.ready = resolvedValues(args, rt.cfg.InlineLimit)
	var resolveCtx context.Context
	if !c.ready {
		resolveCtx, c.stopResolve = context.WithCancel(rt.ctx)
	}
	c.ac = ac
	rt.actorsMu.Lock()
	if rt.calls == nil {
		rt.calls = map[string]*actorCall{}
	}
	rt.calls[id] = c
	ac.queue = append(ac.queue, c)
	ac.pumpLocked()
	ac.unlockFlush()
	if !c.ready {
		rt.wg.Add(1)
		go func() { defer rt.wg.Done(); ac.resolveArgs(resolveCtx, c) }()
	}
	if !parentCancelled && c.parent != "" {
		// Asked again now that the call is listed: a recursive Cancel of
		// the parent that marked it after adoptCall looked, and searched
		// the calls before this one was listed, is seen here (it marks
		// before it searches).
		parentCancelled = rt.sub.parentCancelled(c.parent)
	}
	if parentCancelled {
		// Its parent was cancelled recursively: so is what it submits.
		rt.wg.Add(1)
		go func() { defer rt.wg.Done(); _, _ = rt.cancelActorCall(id, false, true) }()
	}
	return Ref{ID: id, Owner: rt.Addr()}
}

func (ac *actorClient) resolveArgs(ctx context.Context, c *actorCall) {
	if c.stopResolve != nil {
		defer c.stopResolve()
	}
	var failure *errs.WireTaskError
	vals, err := ac.rt.resolveForCall(ctx, c.args)
	if err != nil {
		failure = argFailure(c.name, c.req.TaskID, err)
	}
	ac.rt.actorsMu.Lock()
	defer ac.unlockFlush()
	if c.done {
		return // cancelled, or failed with the actor, meanwhile
	}
	if failure != nil {
		// The call fails, but keeps its place: later calls wait for it
		// only as long as it takes to drop it.
		for i, q := range ac.queue {
			if q == c {
				ac.queue = append(ac.queue[:i], ac.queue[i+1:]...)
				break
			}
		}
		ac.finishLocked(c, failure)
		ac.pumpLocked()
		return
	}
	c.req.Args, c.ready = vals, true
	ac.pumpLocked()
}

// pumpLocked sends, in order, the queued calls whose arguments are ready,
// while the actor is reachable.
func (ac *actorClient) pumpLocked() {
	if ac.failed != nil {
		for _, c := range ac.queue {
			ac.finishLocked(c, failedWire(c, ac.failed))
		}
		ac.queue = nil
		return
	}
	if ac.conn != nil {
		select {
		case <-ac.conn.Done():
			// The worker is gone: do not send into a dead connection
			// (the calls would count as lost in flight); find the
			// actor's next incarnation first.
			ac.connLostLocked()
		default:
		}
	}
	if ac.conn == nil {
		ac.resolveLocked()
		return
	}
	if ac.lossDeferred {
		return // the calls of the lost connection go first (flush pumps then)
	}
	for len(ac.queue) > 0 && ac.queue[0].ready {
		c := ac.queue[0]
		ac.queue[0] = nil
		ac.queue = ac.queue[1:]
		if c.retries == -2 {
			c.retries = ac.info.MaxTaskRetries
		}
		c.req.Incarnation = ac.info.Incarnation
		if c.req.Stream != nil {
			c.req.Stream.Skip = ac.rt.streamSkip(c.req.TaskID) // a resend leaves out what the owner holds
		}
		body, err := rpc.Marshal(&c.req)
		if err != nil {
			ac.finishLocked(c, errs.NewTaskError(c.name, c.req.TaskID, errs.ErrBadCall, err, "", false).ToWire())
			continue
		}
		// In flight from now: a reply or the connection's loss finds it
		// there. flush writes it, after the lock is released.
		ac.inflight = append(ac.inflight, c)
		ac.outbox = append(ac.outbox, outgoing{c, body, ac.conn})
	}
}

// flush writes the outbox's calls to their connection, in order, outside
// rt.actorsMu; every path that may pump calls runs it after unlocking.
// One goroutine writes at a time: one that finds a write under way leaves
// its calls to that writer, which takes batches until the outbox is empty.
func (ac *actorClient) flush() {
	ac.rt.actorsMu.Lock()
	ac.unlockFlush()
}

// unlockFlush is flush for a caller that holds rt.actorsMu: it releases
// it (the lock taken once on the path of a call).
func (ac *actorClient) unlockFlush() {
	rt := ac.rt
	for !ac.sending && len(ac.outbox) > 0 {
		batch := ac.outbox
		ac.outbox = nil
		ac.sending = true
		rt.actorsMu.Unlock()
		failed := -1 // the first call not written: the connection broke there
		for i, o := range batch {
			if !ac.write(o) {
				failed = i
				break
			}
		}
		rt.actorsMu.Lock()
		ac.sending = false
		written := batch
		if failed >= 0 {
			written = batch[:failed]
		}
		for _, o := range written {
			if o.c.cancelled && !o.c.done {
				// Cancelled while the batch was being written: its
				// cancel may have reached the worker before the call
				// did, and found nothing. Sent again, after it.
				id, recursive := o.c.req.TaskID, o.c.cancelRecursive
				rt.wg.Add(1)
				go func() { defer rt.wg.Done(); _, _ = rt.cancelActorCall(id, false, recursive) }()
			}
		}
		if failed >= 0 {
			// The peer cannot have run these: they are resent after a
			// restart without using up a retry (connLostLocked).
			for _, o := range batch[failed:] {
				o.c.unsent = true
			}
			if ac.conn == batch[failed].conn {
				ac.connLostLocked() // the write closed it: do not wait to notice
			}
		}
		if ac.lossDeferred {
			ac.lossDeferred = false
			ac.requeueLocked() // ac.conn is nil or a newer one already, unused meanwhile
		}
		ac.pumpLocked() // resolves the actor again if its connection is lost
	}
	rt.actorsMu.Unlock()
}

// dropOutboxLocked takes c out of the outbox if it waits there (taken
// from the queue, never written); true if it did.
func (ac *actorClient) dropOutboxLocked(c *actorCall) bool {
	for i, o := range ac.outbox {
		if o.c == c {
			ac.outbox = append(ac.outbox[:i], ac.outbox[i+1:]...)
			return true
		}
	}
	return false
}

// write sends one call on its connection; false if it was not written.
func (ac *actorClient) write(o outgoing) bool {
	c, conn := o.c, o.conn
	return conn.GoSent(protocol.WorkerActorCall, o.body, func(reply []byte, err error) {
		if err != nil {
			// May run on this goroutine (connection already closed,
			// whatever the error): handle it on another.
			if errors.Is(err, rpc.ErrClosed) {
				go ac.callFailed(conn, err)
			} else {
				go ac.replied(c, reply, err)
			}
			return
		}
		ac.replied(c, reply, err)
	})
}

func failedWire(c *actorCall, err error) *errs.WireTaskError {
	var de *errs.ActorDiedError
	if errors.As(err, &de) {
		return de.ToWire()
	}
	cause := errs.ErrActorUnavailable
	switch {
	case errors.Is(err, errs.ErrActorNotFound):
		cause = errs.ErrActorNotFound
	case errors.Is(err, errs.ErrHeadUnavailable):
		cause = errs.ErrHeadUnavailable
	}
	return errs.NewTaskError(c.name, c.req.TaskID, cause, err, "", false).ToWire()
}

func (ac *actorClient) replied(c *actorCall, body []byte, err error) {
	var reply protocol.PushTaskReply
	if err == nil {
		err = rpc.Unmarshal(body, &reply)
	}
	ac.rt.actorsMu.Lock()
	if c.done {
		ac.rt.actorsMu.Unlock()
		return
	}
	n := len(ac.inflight)
	if ac.inflight = dropCall(ac.inflight, c); len(ac.inflight) == n {
		// The reply won over the loss of its connection, noticed first,
		// which put the call back in the queue or aside.
		ac.queue = dropCall(ac.queue, c)
		ac.lost = dropCall(ac.lost, c)
	}
	if err == nil && ac.retryExceptionLocked(c, reply.Err) {
		ac.unlockFlush() // resent: not finished
		return
	}
	ac.markDoneLocked(c)
	ac.rt.actorsMu.Unlock()
	if err != nil {
		c.obj.complete(nil, errs.NewTaskError(c.name, c.req.TaskID, errs.ErrTaskFailed, err, "", false).ToWire())
		ac.rt.callDone(c)
		return
	}
	if reply.Err == nil {
		ac.rt.setContains(c.req.TaskID, nestedRefs(reply.Nested), true)
	}
	if reply.Loc != nil && reply.Err == nil {
		c.obj.completeArg(protocol.Arg{ID: c.req.TaskID, Loc: reply.Loc})
	} else {
		c.obj.complete(reply.Value, reply.Err)
	}
	ac.rt.callDone(c)
}

// callFailed handles the loss of the connection a call was sent on: the
// calls in flight on it go back to the front of the queue (those with
// retries left) or wait to learn whether the actor is dead.
func (ac *actorClient) callFailed(conn actorConn, err error) {
	ac.rt.actorsMu.Lock()
	defer ac.unlockFlush()
	if ac.conn != conn {
		return // already handled
	}
	ac.rt.log.Debug("actor connection lost", "actor", ac.id, "err", err)
	ac.connLostLocked()
	ac.resolveLocked()
}

// connLostLocked puts the calls in flight on the lost connection back in
// the queue (those never sent, and those with retries left) or aside
// until the actor's fate is known.
func (ac *actorClient) connLostLocked() {
	ac.conn = nil
	if ac.sending {
		// A batch is being written: which of its calls went out is known
		// when flush returns to the lock, and it handles the loss then.
		ac.lossDeferred = true
		return
	}
	ac.requeueLocked()
}

// requeueLocked sorts the calls in flight on a lost connection: back to
// the queue or aside (connLostLocked). Those still in the outbox were
// never written.
func (ac *actorClient) requeueLocked() {
	for _, o := range ac.outbox {
		o.c.unsent = true
	}
	ac.outbox = nil
	var again []*actorCall
	for _, c := range ac.inflight {
		if c.cancelled {
			// Cancelled calls are not resent (Ray's): it may have run.
			ac.finishLocked(c, cancelledCallError(c.name, c.req.TaskID).ToWire())
			continue
		}
		if c.unsent {
			c.unsent = false
			again = append(again, c)
			continue
		}
		if c.retries != 0 {
			if c.retries > 0 {
				c.retries--
			}
			again = append(again, c)
		} else {
			ac.lost = append(ac.lost, c)
		}
	}
	ac.inflight = nil
	ac.queue = append(again, ac.queue...)
}

// resolveLocked starts finding the actor's current address, unless that
// is under way.
func (ac *actorClient) resolveLocked() {
	if ac.resolving {
		return
	}
	select {
	case <-ac.rt.closed:
		// Closing: Close closes rt.closed under actorsMu, before it
		// waits for rt.wg, so no Add may come after that Wait began.
		return
	default:
	}
	ac.resolving = true
	var after uint64
	var stale int = -1
	if ac.info != nil {
		after = ac.info.Version
		stale = ac.info.Incarnation
		if ac.info.State != protocol.ActorAlive {
			stale = -1
		}
	}
	ac.rt.wg.Add(1)
	go func() { defer ac.rt.wg.Done(); ac.resolve(after, stale) }()
}

// resolve waits for the actor to be alive in an incarnation other than
// stale (the one whose connection broke), or dead.
func (ac *actorClient) resolve(after uint64, stale int) {
	ctx := ac.rt.ctx
	backoff := 50 * time.Millisecond
	for {
		info, err := ac.fetch(ctx, after)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if errors.Is(err, errs.ErrActorNotFound) {
				ac.fail(err)
				return
			}
			if errors.Is(err, errs.ErrHeadUnavailable) {
				// The head stayed away past the bound: the calls waiting
				// for the actor's new address fail; later calls ask again.
				ac.failWaiting(err)
				return
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		after = info.Version
		switch {
		case info.State == protocol.ActorDead:
			ac.fail(diedError(info))
			return
		case info.State == protocol.ActorAlive && info.Incarnation != stale:
			conn, err := ac.rt.client(ctx, info.Addr)
			if err != nil {
				stale = info.Incarnation // it died already; wait for the next
				continue
			}
			ac.rt.actorsMu.Lock()
			ac.info, ac.conn, ac.resolving = info, conn, false
			lost := ac.lost
			ac.lost = nil
			for _, c := range lost {
				ac.finishLocked(c, failedWire(c, fmt.Errorf("%w: the actor's worker died while the call ran, and the actor has no task retries left",
					errs.ErrActorUnavailable)))
			}
			ac.pumpLocked()
			ac.unlockFlush()
			return
		}
	}
}

func (ac *actorClient) fetch(ctx context.Context, after uint64) (*protocol.ActorInfo, error) {
	var info protocol.ActorInfo
	err := ac.rt.callHead(ctx, protocol.HeadGetActor, &protocol.GetActorRequest{ActorID: ac.id, AfterVersion: after}, &info)
	if rpc.CodeOf(err) == protocol.CodeActorNotFound {
		return nil, fmt.Errorf("%w: %v", errs.ErrActorNotFound, err)
	}
	return &info, err
}

// fail makes every pending and future call fail with err.
func (ac *actorClient) fail(err error) {
	ac.rt.actorsMu.Lock()
	defer ac.rt.actorsMu.Unlock()
	ac.failed, ac.resolving = err, false
	ac.outbox = nil // failed below: never to be written
	for _, c := range append(ac.lost, ac.inflight...) {
		ac.finishLocked(c, failedWire(c, err))
	}
	ac.lost, ac.inflight = nil, nil
	ac.pumpLocked()
}

// failWaiting fails the calls that wait for the actor's address (queued,
// or lost with a connection that broke) with err, and lets the next call
// look the actor up again.
func (ac *actorClient) failWaiting(err error) {
	ac.rt.actorsMu.Lock()
	defer ac.rt.actorsMu.Unlock()
	ac.resolving = false
	for _, c := range append(ac.lost, ac.queue...) {
		ac.finishLocked(c, failedWire(c, err))
	}
	ac.lost, ac.queue = nil, nil
}

// finishLocked fails a call that none of ac's lists holds any more.
func (ac *actorClient) finishLocked(c *actorCall, w *errs.WireTaskError) {
	if c.done {
		return
	}
	ac.markDoneLocked(c)
	c.obj.complete(nil, w)
	ac.rt.callDone(c)
}

// markDoneLocked records that c is finished: it leaves the index of
// unfinished calls, and stops waiting for its arguments.
func (ac *actorClient) markDoneLocked(c *actorCall) {
	c.done = true
	delete(ac.rt.calls, c.req.TaskID)
	if c.stopResolve != nil {
		c.stopResolve()
	}
}

// dropCall removes c from calls, if it is there.
func dropCall(calls []*actorCall, c *actorCall) []*actorCall {
	for i, x := range calls {
		if x == c {
			return append(calls[:i], calls[i+1:]...)
		}
	}
	return calls
}

// callDone releases what a finished call held: its arguments' references,
// and its result if nothing refers to it any more.
func (rt *Runtime) callDone(c *actorCall) {
	rt.streamCallDone(c)
	rt.removeSubmitted(c.refs)
	if r, ok := c.keep.(KeepReleaser); ok {
		r.Release()
	}
	c.refs, c.keep = nil, nil
	rt.objectDone(c.req.TaskID)
}
