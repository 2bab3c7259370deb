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

func (rt *Runtime) entryLocked(r Ref) *refEntry {
	e := rt.refs.m[r.ID]
	if e == nil {
		e = &refEntry{owner: r.Owner}
		rt.refs.m[r.ID] = e
	}
	return e
}

// AddLocal counts one more ObjectRef value in this process. A borrowed
// reference seen for the first time is queued for registration with its
// owner (FlushBorrows sends the queue).
func (rt *Runtime) AddLocal(r Ref) {
	rt.refs.mu.Lock()
	e := rt.entryLocked(r)
	e.local++
	if r.Owner != rt.Addr() && !e.registered {
		e.registered = true
		rt.refs.pending = append(rt.refs.pending, r)
	}
	rt.refs.mu.Unlock()
}

// RemoveLocal counts one ObjectRef value less (it was garbage collected).
func (rt *Runtime) RemoveLocal(r Ref) {
	rt.refs.mu.Lock()
	if e := rt.refs.m[r.ID]; e != nil && e.local > 0 {
		e.local--
		rt.maybeFreeLocked(r.ID)
	}
	rt.refs.mu.Unlock()
}

func (rt *Runtime) addSubmitted(refs []Ref) {
	if len(refs) == 0 {
		return
	}
	rt.refs.mu.Lock()
	for _, r := range refs {
		rt.entryLocked(r).submitted++
	}
	rt.refs.mu.Unlock()
}

func (rt *Runtime) removeSubmitted(refs []Ref) {
	if len(refs) == 0 {
		return
	}
	rt.refs.mu.Lock()
	for _, r := range refs {
		if e := rt.refs.m[r.ID]; e != nil && e.submitted > 0 {
			e.submitted--
			rt.maybeFreeLocked(r.ID)
		}
	}
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
	o := rt.entryLocked(Ref{ID: outer, Owner: rt.Addr()})
	o.contains = append(o.contains, nested...)
	for _, r := range nested {
		e := rt.entryLocked(r)
		e.contained++
		if r.Owner != rt.Addr() && !e.registered {
			e.registered = true
			if !adopted {
				rt.refs.pending = append(rt.refs.pending, r)
			}
		}
	}
	rt.refs.mu.Unlock()
}

// objectDone re-checks an owned object when its task finishes: one whose
// references all went while it was pending is freed now.
func (rt *Runtime) objectDone(id string) {
	rt.refs.mu.Lock()
	rt.maybeFreeLocked(id)
	rt.refs.mu.Unlock()
}

// maybeFreeLocked frees an object, or ends this process's borrow of it,
// once nothing here refers to it.
func (rt *Runtime) maybeFreeLocked(id string) {
	e := rt.refs.m[id]
	if e == nil || e.local+e.submitted+e.contained > 0 {
		return
	}
	if e.owner != rt.Addr() {
		delete(rt.refs.m, id)
		if e.registered {
			// References seen in this object's value (still pending
			// registration) are registered first: the owner may free
			// what the value holds as soon as the removal arrives.
			rt.queueBorrowsLocked()
			rt.sendBorrow(borrowMsg{owner: e.owner, ids: []string{id}, remove: true})
		}
		rt.releasePinsAsync([]string{id})
		return
	}
	if len(e.borrowers) > 0 {
		return
	}
	o := rt.store.get(id)
	if o != nil && !o.ready() {
		return // freed when its task finishes (objectDone)
	}
	delete(rt.refs.m, id)
	rt.actorHandleFreedLocked(id)
	rt.store.delete(id)
	rt.dropLineageLocked(id)
	if o != nil && o.loc != nil {
		loc := *o.loc
		rt.wg.Add(1)
		go func() {
			defer rt.wg.Done()
			rt.deleteStored(id, loc)
		}()
	}
	rt.releasePinsAsync([]string{id})
	for _, r := range e.contains {
		if in := rt.refs.m[r.ID]; in != nil && in.contained > 0 {
			in.contained--
			rt.maybeFreeLocked(r.ID)
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

// collectIfOnlyLocalLocked runs the collector when the last borrower of an
// owned object left but this process still counts local refs: they may be
// garbage that an idle process would otherwise not collect for minutes.
func (rt *Runtime) collectIfOnlyLocalLocked(id string) {
	if e := rt.refs.m[id]; e != nil && e.owner == rt.Addr() && len(e.borrowers) == 0 && e.local > 0 {
		rt.collectGarbage()
	}
}

// FlushBorrows registers, with their owners, the borrowed references this
// process has started to hold. It returns once the owners have them, so
// that the value they came in may then be freed safely: once every borrow
// message queued so far is sent, including registrations another call
// queued a moment ago.
func (rt *Runtime) FlushBorrows(ctx context.Context) {
	rt.refs.mu.Lock()
	rt.queueBorrowsLocked()
	if rt.refs.processed.Load() >= rt.refs.queued {
		rt.refs.mu.Unlock()
		return
	}
	done := make(chan struct{})
	rt.sendBorrow(borrowMsg{done: done}) // a barrier: sent in order, after the rest
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

// queueBorrowsLocked moves the pending registrations to the ordered queue
// of borrow messages, one per owner. It runs under the table's lock, so
// that no removal made after a reference was seen can overtake its
// registration.
func (rt *Runtime) queueBorrowsLocked() {
	pending := rt.refs.pending
	rt.refs.pending = nil
	if len(pending) == 0 {
		return
	}
	byOwner := map[string][]string{}
	for _, r := range pending {
		byOwner[r.Owner] = append(byOwner[r.Owner], r.ID)
	}
	for owner, ids := range byOwner {
		rt.sendBorrow(borrowMsg{owner: owner, ids: ids})
	}
}

// sendBorrow queues a borrow message (the caller holds the table's lock);
// one goroutine sends them in order, so that a borrower's add and remove
// reach the owner in the order made. A message without an owner is a
// barrier: its done closes once everything before it is sent.
func (rt *Runtime) sendBorrow(m borrowMsg) {
	rt.refs.out = append(rt.refs.out, m)
	rt.refs.queued++
	select {
	case rt.refs.kick <- struct{}{}:
	default:
	}
}

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
		e := rt.refs.m[id]
		if e == nil || e.owner != rt.Addr() {
			continue // already freed: the borrower will find it lost
		}
		if e.borrowers == nil {
			e.borrowers = map[string]bool{}
		}
		e.borrowers[borrower] = true
		if self && p != nil {
			set := rt.refs.byPeer[p]
			if set == nil {
				set = map[string]string{}
				rt.refs.byPeer[p] = set
				p.OnClose(func() { rt.borrowerGone(p) })
			}
			set[id] = borrower
		}
	}
}

func (rt *Runtime) borrowerGone(p *rpc.Peer) {
	rt.refs.mu.Lock()
	defer rt.refs.mu.Unlock()
	for id, b := range rt.refs.byPeer[p] {
		if e := rt.refs.m[id]; e != nil {
			delete(e.borrowers, b)
			rt.maybeFreeLocked(id)
			rt.collectIfOnlyLocalLocked(id)
		}
	}
	delete(rt.refs.byPeer, p)
}

func (rt *Runtime) serveAddBorrower(ctx context.Context, req *protocol.BorrowRequest) (*protocol.Empty, error) {
	rt.registerBorrowers(rpc.PeerFrom(ctx), req.ObjectIDs, req.Borrower, req.Borrower != "" && !req.OnBehalf)
	return &protocol.Empty{}, nil
}

func (rt *Runtime) serveRemoveBorrower(ctx context.Context, req *protocol.BorrowRequest) (*protocol.Empty, error) {
	rt.refs.mu.Lock()
	defer rt.refs.mu.Unlock()
	for _, id := range req.ObjectIDs {
		if e := rt.refs.m[id]; e != nil && e.borrowers != nil {
			delete(e.borrowers, req.Borrower)
			rt.maybeFreeLocked(id)
			rt.collectIfOnlyLocalLocked(id)
		}
	}
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
	e := rt.refs.m[id]
	if e == nil {
		return 0, 0, 0, 0, false
	}
	return e.local, e.submitted, e.contained, len(e.borrowers), true
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
