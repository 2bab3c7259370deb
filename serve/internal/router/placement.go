package router

import (
	"hash/maphash"
	"sync/atomic"
)

// Where a request for a model that no replica has (or none with room) goes,
// that replica starts loading the model; until the next Update reports it
// loaded, the router would otherwise send the next requests for the model
// to other replicas, and each would load it too. Ray avoids this by making
// concurrent requests for an unmatched model wait for the first one's
// replica; here nothing waits, so instead the router remembers, per
// snapshot, the replica the last miss for a model went to and tries it
// right after the replicas known to have the model.
//
// The memory is a small fixed table of slots indexed by a hash of the model
// ID; two models sharing a slot only lose some stickiness. A new snapshot
// starts empty, since Update brings the replicas' real model lists.

// placementSlots is the table size; a power of two.
const placementSlots = 64

// placement says that requests for model last went to entries[idx].
type placement struct {
	model string
	idx   int32
}

type placementSlot struct{ p atomic.Pointer[placement] }

// placementSlot returns the slot for model.
func (s *snapshot) placementSlot(model string) *placementSlot {
	return &s.placed[maphash.String(s.seed, model)&(placementSlots-1)]
}

func (sl *placementSlot) lookup(model string) (int32, bool) {
	if p := sl.p.Load(); p != nil && p.model == model {
		return p.idx, true
	}
	return 0, false
}

// store records a miss's replica; it allocates, which is small next to the
// model load the miss causes. An unchanged slot is left alone.
func (sl *placementSlot) store(model string, idx int32) {
	if p := sl.p.Load(); p != nil && p.model == model && p.idx == idx {
		return
	}
	sl.p.Store(&placement{model: model, idx: idx})
}
