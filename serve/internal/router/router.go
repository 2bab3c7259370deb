package router

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// Options configures a Router.
type Options struct {
	// Rand returns a uniform integer in [0, n) for n > 0 and must be safe
	// for concurrent use. Nil means math/rand/v2's IntN, which is
	// goroutine-safe and allocation-free. Tests pass a seeded or scripted
	// source to make picks deterministic.
	Rand func(n int) int
}

// Router picks replicas of one deployment. Its zero value is not usable;
// call New. All methods are safe for concurrent use; Pick and Ticket.Done
// take no lock.
type Router struct {
	rand func(n int) int
	snap atomic.Pointer[snapshot]

	// mu serialises Update, Ongoing and Stats; it guards draining and
	// retired. It is the only lock in the package; Pick never takes it.
	mu sync.Mutex
	// draining holds removed replicas that still have requests in flight,
	// so Ongoing can report them until they finish (as Ray does).
	draining map[string]*state

	// retired holds the model counters of replicas that are gone.
	retired Stats

	// noCapacity counts refusals; padded off the fields Pick reads.
	_          [cacheLine]byte
	noCapacity atomic.Uint64
	_          [cacheLine - 8]byte
}

// New returns a Router with no replicas.
func New(opts Options) *Router {
	r := &Router{rand: opts.Rand, draining: make(map[string]*state)}
	if r.rand == nil {
		r.rand = rand.IntN
	}
	r.snap.Store(buildSnapshot(nil, nil))
	return r
}

// Update replaces the replica set. A replica whose ID stays keeps its
// in-flight count and takes the new MaxOngoing, Models and Handle; a new
// one starts at zero; a removed one takes no new requests and is forgotten
// once its in-flight requests end. Lowering a replica's MaxOngoing below
// its current count lets the count drain down to the new limit.
//
// A bad replica (empty ID, duplicate ID, MaxOngoing below 1, empty model
// ID) returns an error wrapping ErrInvalidReplica and changes nothing.
func (r *Router) Update(replicas []Replica) error {
	seen := make(map[string]struct{}, len(replicas))
	for i := range replicas {
		if err := replicas[i].validate(i); err != nil {
			return err
		}
		if _, dup := seen[replicas[i].ID]; dup {
			return fmt.Errorf("%w: replicas[%d].ID %q appears twice", ErrInvalidReplica, i, replicas[i].ID)
		}
		seen[replicas[i].ID] = struct{}{}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.snap.Load()
	next := buildSnapshot(replicas, func(id string) *state {
		if i, ok := old.byID[id]; ok {
			return old.entries[i].st
		}
		if st, ok := r.draining[id]; ok {
			delete(r.draining, id) // back in service with its count
			return st
		}
		return &state{id: id}
	})
	for i := range old.entries {
		st := old.entries[i].st
		if _, stays := next.byID[st.id]; !stays {
			r.draining[st.id] = st // pruned below if nothing runs on it
		}
	}
	r.pruneDrainingLocked()
	r.snap.Store(next)
	close(old.changed)
	return nil
}

// pruneDrainingLocked forgets removed replicas whose requests have ended,
// keeping their counters in retired. A Pick that loaded the old snapshot
// just before Update may still put one request on a removed replica; its
// Ticket still gives the slot back, only Ongoing may no longer list it and
// Stats may miss its hit or miss.
func (r *Router) pruneDrainingLocked() {
	for id, st := range r.draining {
		if st.inFlight.Load() <= 0 {
			delete(r.draining, id)
			r.retired.ModelHits += st.modelHits.Load()
			r.retired.ModelMisses += st.modelMisses.Load()
		}
	}
}

// Len returns the number of current replicas.
func (r *Router) Len() int { return len(r.snap.Load().entries) }

// Changed returns a channel that is closed by the next Update. To wait for
// replicas without missing one, take the channel before calling Pick.
func (r *Router) Changed() <-chan struct{} { return r.snap.Load().changed }
