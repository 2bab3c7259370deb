package router

import "sync/atomic"

// Ongoing returns the number of requests in flight through this router and,
// if each is not nil, calls it once per replica with its count: current
// replicas first, in Update's order, then removed replicas that still have
// requests running (as Ray's router reports running requests per replica
// until a removed one reaches zero). It costs one short lock and a pass
// over the replicas; it is meant for the autoscaling metrics interval, not
// for every request.
func (r *Router) Ongoing(each func(replicaID string, inFlight int)) (total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.snap.Load()
	for i := range s.entries {
		n := int(s.entries[i].st.inFlight.Load())
		total += n
		if each != nil {
			each(s.entries[i].st.id, n)
		}
	}
	r.pruneDrainingLocked()
	for id, st := range r.draining {
		n := int(st.inFlight.Load())
		total += n
		if each != nil {
			each(id, n)
		}
	}
	return total
}

// Stats are the router's counters since New.
type Stats struct {
	// ModelHits counts picks with a model ID that went to a replica having
	// the model loaded.
	ModelHits uint64
	// ModelMisses counts picks with a model ID that went to a replica
	// without it (none with the model had room, or none had it).
	ModelMisses uint64
	// NoCapacity counts picks that returned ErrNoCapacity.
	NoCapacity uint64
}

// Stats returns the counters; each is read atomically, the set is not a
// single snapshot.
func (r *Router) Stats() Stats {
	return Stats{
		ModelHits:   r.stats.modelHits.Load(),
		ModelMisses: r.stats.modelMisses.Load(),
		NoCapacity:  r.stats.noCapacity.Load(),
	}
}

// counters are padded apart: picks from many cores bump them, and sharing
// a cache line would make unrelated counters contend.
type counters struct {
	modelHits   atomic.Uint64
	_           [cacheLine - 8]byte
	modelMisses atomic.Uint64
	_           [cacheLine - 8]byte
	noCapacity  atomic.Uint64
	_           [cacheLine - 8]byte
}
