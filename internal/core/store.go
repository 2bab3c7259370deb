package core

import (
	"sync"
	"sync/atomic"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
)

// object is one owned object: pending until its task finishes or its
// value is put.
type object struct {
	done  chan struct{}
	value []byte
	loc   *protocol.ObjectLocation // set instead of value for stored objects
	err   *errs.WireTaskError
	owner *memStore
	// sealed is won by the first completion: the fields are written, and
	// done closed, by that caller alone (a task may be finished by its
	// push and by a Cancel at once).
	sealed atomic.Bool
}

// memStore holds the objects this process owns.
type memStore struct {
	mu   sync.Mutex
	objs map[string]*object
	// changed is closed (and replaced) when an object completes while a
	// Wait watches it (watched); completions nobody waits for cost nothing.
	changed chan struct{}
	watched bool
}

func newMemStore() *memStore {
	return &memStore{objs: map[string]*object{}, changed: make(chan struct{})}
}

// changedChan returns a channel closed at the next completion.
func (s *memStore) changedChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watched = true
	return s.changed
}

// notify wakes Waits after a completion.
func (s *memStore) notify() {
	s.mu.Lock()
	if s.watched {
		close(s.changed)
		s.changed, s.watched = make(chan struct{}), false
	}
	s.mu.Unlock()
}

// create registers a pending object.
func (s *memStore) create(id string) *object {
	o := &object{done: make(chan struct{}), owner: s}
	s.mu.Lock()
	s.objs[id] = o
	s.mu.Unlock()
	return o
}

func (s *memStore) get(id string) *object {
	s.mu.Lock()
	o := s.objs[id]
	s.mu.Unlock()
	return o
}

// complete seals an object with its value or its error. Only the first
// completion counts.
func (o *object) complete(value []byte, err *errs.WireTaskError) bool {
	if !o.sealed.CompareAndSwap(false, true) {
		return false
	}
	o.value, o.err = value, err
	close(o.done)
	if o.owner != nil {
		o.owner.notify()
	}
	return true
}

// completeArg seals an object with a resolved argument's form.
func (o *object) completeArg(a protocol.Arg) bool {
	if !o.sealed.CompareAndSwap(false, true) {
		return false
	}
	o.value, o.loc = a.V, a.Loc
	close(o.done)
	if o.owner != nil {
		o.owner.notify()
	}
	return true
}

func (o *object) ready() bool {
	select {
	case <-o.done:
		return true
	default:
		return false
	}
}

func (s *memStore) delete(id string) {
	s.mu.Lock()
	delete(s.objs, id)
	s.mu.Unlock()
}

func (s *memStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.objs)
}
