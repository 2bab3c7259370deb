package core

import (
	"context"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// Reference counting, after Ray's ownership design. Every process counts,
// per object it refers to:
//
//   - local: live ObjectRef values in this process (tracked by the rayo
//     package with runtime.AddCleanup);
//   - submitted: pending tasks and actor calls it submitted that take the
//     object as an argument, at top level or nested;
//   - contained: live objects it owns whose values contain the reference.
//
// A process that is not the owner registers with the owner as a borrower
// while its counts are above zero. The owner frees the object (its memory
// entry, its store copies, and in turn the references its value holds)
// when its own counts are zero and no borrower is left.

type refEntry struct {
	owner      string
	local      int
	submitted  int
	contained  int
	borrowers  map[string]bool // owner: processes borrowing it
	registered bool            // borrower: the owner counts this process
	contains   []Ref           // owner: references nested in its value
}

type refTable struct {
	mu      sync.Mutex
	m       map[string]*refEntry
	pending []Ref // borrowed refs to register with their owners
	// out is the ordered queue of borrow messages borrowLoop sends (kick
	// wakes it); it is unbounded so that queueing under mu never blocks.
	// queued counts messages ever queued, processed those sent.
	out       []borrowMsg
	kick      chan struct{}
	queued    int64
	processed atomic.Int64
	// byPeer: owner side, borrowers registered over a connection, so a
	// borrower that dies stops counting.
	byPeer map[*rpc.Peer]map[string]string
	// task: references made while tasks run, counted out when they return.
	task taskRefs
	// actorHandles: owner side, the objects standing for the handles of
	// actors this process created, by actor ID (actor_scope.go).
	actorHandles map[string]string
	// actorArgs: the references in the constructor arguments of those
	// actors, held while the actor may restart (until it is out of scope).
	actorArgs map[string][]Ref
}

type borrowMsg struct {
	owner  string
	ids    []string
	remove bool
	done   chan struct{}
}

func newRefTable() *refTable {
	return &refTable{m: map[string]*refEntry{}, kick: make(chan struct{}, 1), byPeer: map[*rpc.Peer]map[string]string{}}
}

func (rt *Runtime) entryLocked(r Ref) *refEntry { return rt.refs.entry(r) }

// objectPending reports an owned object whose task has not finished
// (refEnv).
func (rt *Runtime) objectPending(id string) bool {
	o := rt.store.get(id)
	return o != nil && !o.ready()
}

// AddLocal counts one more ObjectRef value in this process. A borrowed
// reference seen for the first time is queued for registration with its
// owner (FlushBorrows sends the queue).
func (rt *Runtime) AddLocal(r Ref) {
	rt.refs.mu.Lock()
	rt.refs.addLocal(rt, r)
	rt.refs.mu.Unlock()
}

// RemoveLocal counts one ObjectRef value less (it was garbage collected).
func (rt *Runtime) RemoveLocal(r Ref) {
	var buf [2]refEffect
	rt.refs.mu.Lock()
	rt.applyRefEffectsLocked(rt.refs.removeLocal(rt, r, buf[:0]))
	rt.refs.mu.Unlock()
}

func (rt *Runtime) addSubmitted(refs []Ref) {
	if len(refs) == 0 {
		return
	}
	rt.refs.mu.Lock()
	rt.refs.addSubmitted(refs)
	rt.refs.mu.Unlock()
}

func (rt *Runtime) removeSubmitted(refs []Ref) {
	if len(refs) == 0 {
		return
	}
	var buf [2]refEffect
	rt.refs.mu.Lock()
	rt.applyRefEffectsLocked(rt.refs.removeSubmitted(rt, refs, buf[:0]))
	rt.refs.mu.Unlock()
}

// setContains records that an object this process owns holds nested
// references; they stay alive as long as it does. adopted marks borrowed
// ones the producing worker already registered on this process's behalf.
func (rt *Runtime) setContains(outer string, nested []Ref, adopted bool) {
	if len(nested) == 0 {
		return
	}
	rt.refs.mu.Lock()
	rt.refs.setContains(rt, outer, nested, adopted)
	rt.refs.mu.Unlock()
}

// objectDone re-checks an owned object when its task finishes: one whose
// references all went while it was pending is freed now.
func (rt *Runtime) objectDone(id string) {
	var buf [2]refEffect
	rt.refs.mu.Lock()
	rt.applyRefEffectsLocked(rt.refs.maybeFree(rt, id, buf[:0]))
	rt.refs.mu.Unlock()
}

// maybeFreeLocked frees an object, or ends this process's borrow of it,
// once nothing here refers to it.
func (rt *Runtime) maybeFreeLocked(id string) {
	var buf [2]refEffect
	rt.applyRefEffectsLocked(rt.refs.maybeFree(rt, id, buf[:0]))
}

// applyRefEffectsLocked does what the table's transitions decided, under
// the table's lock as before: what leaves the process (store deletes,
// pin releases, actor kills) goes on goroutines.
func (rt *Runtime) applyRefEffectsLocked(effs []refEffect) {
	for _, e := range effs {
		switch e.kind {
		case effFreed:
			o := rt.store.get(e.id)
			rt.actorHandleFreedLocked(e.id)
			rt.store.delete(e.id)
			rt.dropLineageLocked(e.id) // counts its arguments out: may free more
			if o != nil && o.loc != nil {
				id, loc := e.id, *o.loc
				rt.wg.Add(1)
				go func() {
					defer rt.wg.Done()
					rt.deleteStored(id, loc)
				}()
			}
			rt.releasePinsAsync([]string{e.id})
		case effBorrowEnded:
			rt.releasePinsAsync([]string{e.id})
		case effCollect:
			rt.collectGarbage()
		}
	}
}

func (rt *Runtime) deleteStored(id string, loc protocol.ObjectLocation) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := rt.node
	if loc.NodeID != rt.nodeID {
		var err error
		if c, err = rt.client(ctx, loc.NodeAddr); err != nil {
			return // the node is gone, and the copy with it
		}
	}
	_ = c.Call(ctx, protocol.NodeDeleteObjects, &protocol.DeleteObjectsRequest{ObjectIDs: []string{id}}, nil)
}

func (rt *Runtime) releasePinsAsync(ids []string) {
	rt.objs.mu.Lock()
	held := false
	for _, id := range ids {
		if rt.objs.pins[id] > 0 {
			held = true
		}
	}
	rt.objs.mu.Unlock()
	if !held {
		return
	}
	rt.wg.Add(1)
	go func() { defer rt.wg.Done(); rt.releaseAllPins(ids) }()
}

// FlushBorrows registers, with their owners, the borrowed references this
// process has started to hold. It returns once the owners have them, so
// that the value they came in may then be freed safely: once every borrow
// message queued so far is sent, including registrations another call
// queued a moment ago.
func (rt *Runtime) FlushBorrows(ctx context.Context) {
	rt.refs.mu.Lock()
	rt.refs.queueBorrows()
	if rt.refs.processed.Load() >= rt.refs.queued {
		rt.refs.mu.Unlock()
		return
	}
	done := make(chan struct{})
	rt.refs.enqueue(borrowMsg{done: done}) // a barrier: sent in order, after the rest
	rt.refs.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
	case <-rt.closed:
	}
}

// flushBorrowsAfter is FlushBorrows under a task's context that may be
// cancelled already (a cancelled task's reply still follows its borrows),
// bounded as a call to an owner is.
func (rt *Runtime) flushBorrowsAfter(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	rt.FlushBorrows(ctx)
}

// A borrow message without an owner is a barrier: its done closes once
// everything before it is sent. One goroutine sends them in order, so
// that a borrower's add and remove reach the owner in the order made.
func (rt *Runtime) borrowLoop() {
	for {
		select {
		case <-rt.closed:
			rt.refs.mu.Lock()
			rest := rt.refs.out
			rt.refs.out = nil
			rt.refs.mu.Unlock()
			for _, m := range rest {
				if m.done != nil {
					close(m.done)
				}
			}
			return
		case <-rt.refs.kick:
		}
		rt.refs.mu.Lock()
		batch := rt.refs.out
		rt.refs.out = nil
		rt.refs.mu.Unlock()
		for _, m := range batch {
			if m.owner != "" {
				rt.sendBorrowNow(m)
			}
			rt.refs.processed.Add(1)
			if m.done != nil {
				close(m.done)
			}
		}
	}
}

// sendBorrowNow tells an owner of one borrow message.
func (rt *Runtime) sendBorrowNow(m borrowMsg) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := rt.client(ctx, m.owner)
	if err != nil {
		return
	}
	method := protocol.OwnerAddBorrower
	if m.remove {
		method = protocol.OwnerRemoveBorrower
	}
	_ = c.Call(ctx, method, &protocol.BorrowRequest{ObjectIDs: m.ids, Borrower: rt.Addr()}, nil)
}

// registerBorrowers records borrowers of objects this process owns. Those
// that registered themselves stop counting when their connection closes.
func (rt *Runtime) registerBorrowers(p *rpc.Peer, ids []string, borrower string, self bool) {
	rt.refs.mu.Lock()
	defer rt.refs.mu.Unlock()
	for _, id := range ids {
		if rt.refs.addBorrower(rt, id, borrower) && self && p != nil && rt.refs.addPeerBorrow(p, id, borrower) {
			p.OnClose(func() { rt.borrowerGone(p) })
		}
	}
}

func (rt *Runtime) borrowerGone(p *rpc.Peer) {
	rt.refs.mu.Lock()
	defer rt.refs.mu.Unlock()
	rt.applyRefEffectsLocked(rt.refs.peerGone(rt, p, nil))
}

func (rt *Runtime) serveAddBorrower(ctx context.Context, req *protocol.BorrowRequest) (*protocol.Empty, error) {
	rt.registerBorrowers(rpc.PeerFrom(ctx), req.ObjectIDs, req.Borrower, req.Borrower != "" && !req.OnBehalf)
	return &protocol.Empty{}, nil
}

func (rt *Runtime) serveRemoveBorrower(ctx context.Context, req *protocol.BorrowRequest) (*protocol.Empty, error) {
	rt.refs.mu.Lock()
	defer rt.refs.mu.Unlock()
	var effs []refEffect
	for _, id := range req.ObjectIDs {
		effs = rt.refs.removeBorrower(rt, id, req.Borrower, effs)
	}
	rt.applyRefEffectsLocked(effs)
	return &protocol.Empty{}, nil
}

// lendNested keeps the references nested in a result alive for the
// caller that will own the result: the caller is registered as their
// borrower (by this process for the ones it owns, through their owners
// for the others) before the result is delivered.
func (rt *Runtime) lendNested(ctx context.Context, caller string, nested []Ref) {
	byOwner := map[string][]string{}
	for _, r := range nested {
		if r.Owner == caller {
			continue // the caller owns it and keeps it for this call
		}
		byOwner[r.Owner] = append(byOwner[r.Owner], r.ID)
	}
	for owner, ids := range byOwner {
		if owner == rt.Addr() {
			rt.registerBorrowers(nil, ids, caller, false)
			continue
		}
		if c, err := rt.client(ctx, owner); err == nil {
			_ = c.Call(ctx, protocol.OwnerAddBorrower, &protocol.BorrowRequest{ObjectIDs: ids, Borrower: caller, OnBehalf: true}, nil)
		}
	}
}

// RefCounts reports this process's counts for an object (for tests and
// rayo memory).
func (rt *Runtime) RefCounts(id string) (local, submitted, contained, borrowers int, ok bool) {
	rt.refs.mu.Lock()
	defer rt.refs.mu.Unlock()
	return rt.refs.counts(id)
}

func (rt *Runtime) serveListRefs(context.Context, *protocol.Empty) (*protocol.ListRefsReply, error) {
	reply := &protocol.ListRefsReply{Addr: rt.Addr(), Pid: os.Getpid(), NodeID: rt.nodeID}
	rt.refs.mu.Lock()
	for id, e := range rt.refs.m {
		ri := protocol.RefInfo{ObjectID: id, Owner: e.owner, IsOwner: e.owner == rt.Addr(), Local: e.local,
			Submitted: e.submitted, Contained: e.contained, Borrowers: len(e.borrowers)}
		if ri.IsOwner {
			if o := rt.store.get(id); o != nil {
				if !o.ready() {
					ri.Pending = true
				} else if o.loc != nil {
					ri.Stored, ri.Size = o.loc, o.loc.Size
				} else {
					ri.Inline, ri.Size = true, int64(len(o.value))
				}
			}
		}
		reply.Refs = append(reply.Refs, ri)
	}
	rt.refs.mu.Unlock()
	sort.Slice(reply.Refs, func(i, j int) bool { return reply.Refs[i].ObjectID < reply.Refs[j].ObjectID })
	return reply, nil
}
