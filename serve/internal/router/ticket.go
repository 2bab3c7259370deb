package router

import "sync/atomic"

// Ticket is a slot reserved on one replica by Pick. Keep it by pointer or
// in place (it must not be copied: copies would not share the done flag,
// and go vet reports copies). The zero Ticket is valid and Done on it does
// nothing.
type Ticket struct {
	st     *state
	handle any
	done   atomic.Bool
}

// ReplicaID returns the ID of the chosen replica ("" for the zero Ticket).
func (t *Ticket) ReplicaID() string {
	if t.st == nil {
		return ""
	}
	return t.st.id
}

// Handle returns the chosen replica's Replica.Handle as of the Update
// that Pick saw.
func (t *Ticket) Handle() any { return t.handle }

// Done gives the slot back. Only the first call counts, also when several
// goroutines call it at once, so a caller may both defer it and call it
// early. It works after the replica was removed by Update.
func (t *Ticket) Done() {
	if t.st != nil && t.done.CompareAndSwap(false, true) {
		t.st.inFlight.Add(-1)
	}
}
