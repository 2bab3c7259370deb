package router

import (
	"fmt"
	"sync/atomic"
)

// Replica describes one replica of the deployment as Update receives it.
type Replica struct {
	// ID names the replica; it is what keeps a replica's in-flight count
	// across Updates. Must be non-empty and unique within one Update.
	ID string
	// MaxOngoing is the most requests the router lets run on the replica at
	// once (Ray's max_ongoing_requests). Must be at least 1.
	MaxOngoing int
	// Models are the multiplexed model IDs the replica has loaded.
	Models []string
	// Handle is the caller's value for reaching the replica (a client, an
	// actor handle); Ticket.Handle returns it so that the caller needs no
	// lookup by ID per request.
	Handle any
}

// validate checks one replica; i is its index in the Update, for messages.
func (r *Replica) validate(i int) error {
	if r.ID == "" {
		return fmt.Errorf("%w: replicas[%d].ID is empty", ErrInvalidReplica, i)
	}
	if r.MaxOngoing < 1 {
		return fmt.Errorf("%w: replicas[%d] (%q).MaxOngoing is %d, must be at least 1",
			ErrInvalidReplica, i, r.ID, r.MaxOngoing)
	}
	for j, m := range r.Models {
		if m == "" {
			return fmt.Errorf("%w: replicas[%d] (%q).Models[%d] is empty",
				ErrInvalidReplica, i, r.ID, j)
		}
	}
	return nil
}

// cacheLine is the size the in-flight counters are padded to, so that two
// replicas' counters never share a cache line and bounce between cores.
const cacheLine = 64

// state is the part of a replica that outlives Updates: its in-flight
// count. Tickets point at it, so a removed replica's count still drops
// when its requests end, and never below zero. The model hit and miss
// counters live here rather than in the Router because Pick has just
// written this cache line; one shared counter would be a line that every
// core writes on every pick.
type state struct {
	inFlight    atomic.Int64
	modelHits   atomic.Uint64
	modelMisses atomic.Uint64
	id          string
	_           [cacheLine - 3*8 - 16]byte
}

// entry is one replica in a snapshot: its shared state plus the
// configuration of that Update, immutable once published.
type entry struct {
	st     *state
	max    int64
	handle any
	idx    int32 // its own index in snapshot.entries
}

// tryAcquire reserves a slot if the replica is below its limit. It fails
// only after seeing the replica full, so a failure means "full just now".
func (e *entry) tryAcquire() bool {
	for {
		c := e.st.inFlight.Load()
		if c >= e.max {
			return false
		}
		if e.st.inFlight.CompareAndSwap(c, c+1) {
			return true
		}
	}
}
