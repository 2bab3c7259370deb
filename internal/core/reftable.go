package core

import "github.com/rayo-dev/rayo/internal/rpc"

// The reference table's transitions, after Ray's reference_count.h: the
// table only counts, and queues the borrow messages its counts imply; it
// returns what else must happen (refEffect) for the Runtime to apply
// (applyRefEffectsLocked): the store, lineage, pins and actor lifetimes
// are not its business. Every method runs with t.mu held. Those that may
// free take the caller's effects slice and append to it, so that a
// transition without an effect allocates nothing.

// refEnv is what the table asks of its process.
type refEnv interface {
	// Addr is this process's address: the owner of what it owns.
	Addr() string
	// objectPending reports an owned object whose task has not finished:
	// it is freed when it does (objectDone), not before.
	objectPending(id string) bool
}

// refEffectKind is what the Runtime does for an effect.
type refEffectKind uint8

const (
	// effFreed: an owned object is freed; its value, store copies, pins
	// and lineage go, and its actor if it stands for an actor's handles.
	// The references its value held are counted out already.
	effFreed refEffectKind = iota + 1
	// effBorrowEnded: this process no longer borrows the object (the
	// removal is queued for its owner); its pins are released.
	effBorrowEnded
	// effCollect: the last borrower of an owned object left but local
	// refs remain; they may be garbage the collector should find now.
	effCollect
)

// refEffect is one thing the Runtime must do after a transition.
type refEffect struct {
	kind refEffectKind
	id   string
}

// entry returns r's entry, made if missing.
func (t *refTable) entry(r Ref) *refEntry {
	e := t.m[r.ID]
	if e == nil {
		e = &refEntry{owner: r.Owner}
		t.m[r.ID] = e
	}
	return e
}

// addLocal counts one more ObjectRef value in this process. A borrowed
// reference seen for the first time is queued for registration.
func (t *refTable) addLocal(env refEnv, r Ref) {
	e := t.entry(r)
	e.local++
	if r.Owner != env.Addr() && !e.registered {
		e.registered = true
		t.pending = append(t.pending, r)
	}
}

// removeLocal counts one ObjectRef value less; an extra removal is
// ignored.
func (t *refTable) removeLocal(env refEnv, r Ref, effs []refEffect) []refEffect {
	if e := t.m[r.ID]; e != nil && e.local > 0 {
		e.local--
		effs = t.maybeFree(env, r.ID, effs)
	}
	return effs
}

// addSubmitted counts a submitted task's arguments.
func (t *refTable) addSubmitted(refs []Ref) {
	for _, r := range refs {
		t.entry(r).submitted++
	}
}

// removeSubmitted counts a finished task's arguments out.
func (t *refTable) removeSubmitted(env refEnv, refs []Ref, effs []refEffect) []refEffect {
	for _, r := range refs {
		if e := t.m[r.ID]; e != nil && e.submitted > 0 {
			e.submitted--
			effs = t.maybeFree(env, r.ID, effs)
		}
	}
	return effs
}

// setContains records references nested in an owned object's value;
// adopted ones were registered with their owners by the producer.
func (t *refTable) setContains(env refEnv, outer string, nested []Ref, adopted bool) {
	self := env.Addr()
	o := t.entry(Ref{ID: outer, Owner: self})
	o.contains = append(o.contains, nested...)
	for _, r := range nested {
		e := t.entry(r)
		e.contained++
		if r.Owner != self && !e.registered {
			e.registered = true
			if !adopted {
				t.pending = append(t.pending, r)
			}
		}
	}
}

// maybeFree frees an object, or ends this process's borrow of it, once
// nothing here refers to it; what its value held is counted out in turn.
func (t *refTable) maybeFree(env refEnv, id string, effs []refEffect) []refEffect {
	e := t.m[id]
	if e == nil || e.local+e.submitted+e.contained > 0 {
		return effs
	}
	if e.owner != env.Addr() {
		delete(t.m, id)
		if e.registered {
			// References seen in this object's value (still pending
			// registration) are registered first: the owner may free
			// what the value holds as soon as the removal arrives.
			t.queueBorrows()
			t.enqueue(borrowMsg{owner: e.owner, ids: []string{id}, remove: true})
		}
		return append(effs, refEffect{effBorrowEnded, id})
	}
	if len(e.borrowers) > 0 || env.objectPending(id) {
		return effs
	}
	delete(t.m, id)
	effs = append(effs, refEffect{effFreed, id})
	for _, r := range e.contains {
		if in := t.m[r.ID]; in != nil && in.contained > 0 {
			in.contained--
			effs = t.maybeFree(env, r.ID, effs)
		}
	}
	return effs
}

// addBorrower records a borrower of an owned object; false if the table
// has no such object (already freed: the borrower will find it lost).
func (t *refTable) addBorrower(env refEnv, id, borrower string) bool {
	e := t.m[id]
	if e == nil || e.owner != env.Addr() {
		return false
	}
	if e.borrowers == nil {
		e.borrowers = map[string]bool{}
	}
	e.borrowers[borrower] = true
	return true
}

// addPeerBorrow remembers that borrower registered id over p, so that it
// stops counting when p closes (peerGone); first reports p's first.
func (t *refTable) addPeerBorrow(p *rpc.Peer, id, borrower string) (first bool) {
	set := t.byPeer[p]
	if set == nil {
		set = map[string]string{}
		t.byPeer[p] = set
		first = true
	}
	set[id] = borrower
	return first
}

// removeBorrower ends a borrower's hold on an owned object.
func (t *refTable) removeBorrower(env refEnv, id, borrower string, effs []refEffect) []refEffect {
	e := t.m[id]
	if e == nil || e.borrowers == nil {
		return effs
	}
	delete(e.borrowers, borrower)
	effs = t.maybeFree(env, id, effs)
	if e := t.m[id]; e != nil && e.owner == env.Addr() && len(e.borrowers) == 0 && e.local > 0 {
		effs = append(effs, refEffect{effCollect, id})
	}
	return effs
}

// peerGone ends the borrows registered over a closed connection.
func (t *refTable) peerGone(env refEnv, p *rpc.Peer, effs []refEffect) []refEffect {
	for id, b := range t.byPeer[p] {
		if e := t.m[id]; e != nil {
			// As removeBorrower, but an entry without borrowers counts too.
			delete(e.borrowers, b)
			effs = t.maybeFree(env, id, effs)
			if e := t.m[id]; e != nil && e.owner == env.Addr() && len(e.borrowers) == 0 && e.local > 0 {
				effs = append(effs, refEffect{effCollect, id})
			}
		}
	}
	delete(t.byPeer, p)
	return effs
}

// queueBorrows moves the pending registrations to the ordered queue of
// borrow messages, one per owner; under the table's lock, so that no
// removal made after a reference was seen can overtake its registration.
func (t *refTable) queueBorrows() {
	pending := t.pending
	t.pending = nil
	if len(pending) == 0 {
		return
	}
	byOwner := map[string][]string{}
	var owners []string // in first-seen order, so the queue is deterministic
	for _, r := range pending {
		if _, ok := byOwner[r.Owner]; !ok {
			owners = append(owners, r.Owner)
		}
		byOwner[r.Owner] = append(byOwner[r.Owner], r.ID)
	}
	for _, owner := range owners {
		t.enqueue(borrowMsg{owner: owner, ids: byOwner[owner]})
	}
}

// enqueue adds a borrow message to the queue borrowLoop sends in order.
func (t *refTable) enqueue(m borrowMsg) {
	t.out = append(t.out, m)
	t.queued++
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// counts reports an object's counts; ok is false when it has no entry.
func (t *refTable) counts(id string) (local, submitted, contained, borrowers int, ok bool) {
	e := t.m[id]
	if e == nil {
		return 0, 0, 0, 0, false
	}
	return e.local, e.submitted, e.contained, len(e.borrowers), true
}
