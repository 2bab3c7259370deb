package multiplex

import "context"

// state is where an entry is in its life.
type state uint8

const (
	loading state = iota // in entries and the LRU list; its load runs
	ready                // in entries and the LRU list; model is set
	gone                 // out of both: load failed, or evicted
)

// entry is one model ID's slot. Fields other than model and err are guarded
// by Cache.mu; model and err are written once, under mu, before done is
// closed, and read without the lock after <-done or under mu.
type entry[M any] struct {
	id    string
	state state
	model M
	err   error
	pins  int // Acquire callers holding it, plus callers waiting for its load

	done     chan struct{}      // closed when the load ends
	cancel   context.CancelFunc // cancels the load
	unloaded chan struct{}      // set at eviction, closed when Unload returns
	release  func()             // made once, so that Acquire's hit does not allocate

	prev, next *entry[M] // LRU list links
}

// lru is an intrusive doubly linked list of the resident entries, most
// recently used first; moving an entry allocates nothing.
type lru[M any] struct {
	root entry[M] // sentinel: root.next is the front, root.prev the back
	n    int
}

func (l *lru[M]) init() { l.root.next, l.root.prev = &l.root, &l.root }

func (l *lru[M]) pushFront(e *entry[M]) {
	e.prev, e.next = &l.root, l.root.next
	l.root.next.prev = e
	l.root.next = e
	l.n++
}

func (l *lru[M]) remove(e *entry[M]) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
	l.n--
}

func (l *lru[M]) moveToFront(e *entry[M]) {
	if l.root.next == e {
		return
	}
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = &l.root, l.root.next
	l.root.next.prev = e
	l.root.next = e
}

// oldestIdle is the least recently used loaded entry, other than keep,
// that nobody pins, or nil.
func (l *lru[M]) oldestIdle(keep *entry[M]) *entry[M] {
	for e := l.root.prev; e != &l.root; e = e.prev {
		if e.state == ready && e.pins == 0 && e != keep {
			return e
		}
	}
	return nil
}
