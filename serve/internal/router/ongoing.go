package router

// Ongoing returns the number of requests in flight through this router and,
// if each is not nil, calls it once per replica with its count: current
// replicas first, in Update's order, then removed replicas that still have
// requests running (as Ray's router reports running requests per replica
// until a removed one reaches zero). It costs one short lock and a pass
// over the replicas; it is meant for the autoscaling metrics interval, not
// for every request. each runs under the Router's lock and must not call
// the Router.
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

// Stats returns the counters, summed over current, draining and removed
// replicas. Each counter is read atomically; the set is not one snapshot.
func (r *Router) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.retired
	add := func(s *state) {
		st.ModelHits += s.modelHits.Load()
		st.ModelMisses += s.modelMisses.Load()
	}
	snap := r.snap.Load()
	for i := range snap.entries {
		add(snap.entries[i].st)
	}
	for _, s := range r.draining {
		add(s)
	}
	st.NoCapacity = r.noCapacity.Load()
	return st
}
