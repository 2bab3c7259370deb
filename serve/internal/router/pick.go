package router

// Pick reserves a slot on one replica and returns its Ticket; the caller
// sends the request there and calls Ticket.Done when the request ends.
//
// Without a model ID it runs power of two choices over every replica. With
// one it tries, in order, the replicas that have the model loaded, the
// replica the last miss for this model went to (it is loading the model),
// the replicas with the fewest models loaded, then every replica, taking
// the first where some replica has room. Past the first tier the pick
// counts as an affinity miss in Stats.
//
// It returns ErrNoReplicas when there are no replicas and ErrNoCapacity
// when every replica was seen at its MaxOngoing; it never waits. It takes
// no lock and makes no heap allocation, except one small one when a model
// request misses (see placement).
func (r *Router) Pick(modelID string) (Ticket, error) {
	s := r.snap.Load()
	if len(s.entries) == 0 {
		return Ticket{}, ErrNoReplicas
	}
	var e *entry
	if modelID == "" {
		e = r.choose(s, s.all)
	} else {
		e = r.pickModel(s, modelID)
	}
	if e == nil {
		r.noCapacity.Add(1)
		return Ticket{}, ErrNoCapacity
	}
	return Ticket{st: e.st, handle: e.handle}, nil
}

// pickModel is Pick's path for a multiplexed model ID (Ray's
// MultiplexMixin order, plus the placement of the last miss).
func (r *Router) pickModel(s *snapshot, modelID string) *entry {
	if idx := s.byModel[modelID]; len(idx) > 0 {
		if e := r.choose(s, idx); e != nil {
			e.st.modelHits.Add(1)
			return e
		}
	}
	slot := s.placementSlot(modelID)
	if i, ok := slot.lookup(modelID); ok {
		if e := &s.entries[i]; e.tryAcquire() {
			e.st.modelMisses.Add(1)
			return e
		}
	}
	var e *entry
	if s.fewest != nil {
		e = r.choose(s, s.fewest)
	}
	if e == nil {
		e = r.choose(s, s.all)
	}
	if e == nil {
		return nil
	}
	e.st.modelMisses.Add(1)
	slot.store(modelID, e.idx)
	return e
}

// choose reserves a slot on one of the entries that idx names, or returns
// nil when all of them are full. Two distinct candidates are drawn with one
// random number (uniform over ordered pairs, so ties go either way); the
// one with fewer in flight is tried first. Only when both are full does it
// scan the whole tier.
func (r *Router) choose(s *snapshot, idx []int32) *entry {
	n := len(idx)
	if n == 1 {
		if e := &s.entries[idx[0]]; e.tryAcquire() {
			return e
		}
		return nil
	}
	k := r.rand(n * (n - 1))
	i, j := k/(n-1), k%(n-1)
	if j >= i {
		j++
	}
	a, b := &s.entries[idx[i]], &s.entries[idx[j]]
	if b.st.inFlight.Load() < a.st.inFlight.Load() {
		a, b = b, a
	}
	if a.tryAcquire() {
		return a
	}
	if b.tryAcquire() {
		return b
	}
	if n == 2 {
		return nil
	}
	return r.scan(s, idx)
}

// scan reserves a slot on the least loaded entry of idx with room, starting
// at a random place so that ties spread. If another goroutine fills that
// one first, it takes the first entry with room; nil means every entry was
// seen full.
func (r *Router) scan(s *snapshot, idx []int32) *entry {
	n := len(idx)
	start := r.rand(n)
	var best *entry
	var bestLoad int64
	for k := 0; k < n; k++ {
		e := &s.entries[idx[(start+k)%n]]
		if c := e.st.inFlight.Load(); c < e.max && (best == nil || c < bestLoad) {
			best, bestLoad = e, c
		}
	}
	if best == nil {
		return nil
	}
	if best.tryAcquire() {
		return best
	}
	for k := 0; k < n; k++ {
		if e := &s.entries[idx[(start+k)%n]]; e.tryAcquire() {
			return e
		}
	}
	return nil
}
