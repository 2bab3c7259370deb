package router

import "hash/maphash"

// snapshot is one published replica set. Pick reads it without a lock;
// Update builds a new one and swaps it in, so nothing in it ever changes
// after publication.
type snapshot struct {
	entries []entry
	// all indexes every entry; the tiers below index subsets, so that one
	// choose function serves each of them.
	all []int32
	// fewest indexes the replicas with the fewest models loaded (Ray's
	// second multiplexing tier); nil when that is every replica.
	fewest []int32
	// byModel indexes, per model ID, the replicas that have it loaded.
	byModel map[string][]int32
	byID    map[string]int32
	// changed is closed when the next snapshot replaces this one.
	changed chan struct{}
	// placed remembers where recent model misses went (placement.go).
	seed   maphash.Seed
	placed [placementSlots]placementSlot
}

// buildSnapshot makes the snapshot for replicas, taking each replica's
// state from stateFor (which reuses the old one where the ID stays).
func buildSnapshot(replicas []Replica, stateFor func(id string) *state) *snapshot {
	n := len(replicas)
	s := &snapshot{
		entries: make([]entry, n),
		all:     make([]int32, n),
		byModel: make(map[string][]int32),
		byID:    make(map[string]int32, n),
		changed: make(chan struct{}),
		seed:    maphash.MakeSeed(),
	}
	minModels := -1
	counts := make([]int, n)
	for i := range replicas {
		r := &replicas[i]
		s.entries[i] = entry{st: stateFor(r.ID), max: int64(r.MaxOngoing), handle: r.Handle, idx: int32(i)}
		s.all[i] = int32(i)
		s.byID[r.ID] = int32(i)
		for _, m := range r.Models {
			idx := s.byModel[m]
			if len(idx) > 0 && idx[len(idx)-1] == int32(i) {
				continue // the same model listed twice on one replica
			}
			s.byModel[m] = append(idx, int32(i))
			counts[i]++
		}
		if minModels < 0 || counts[i] < minModels {
			minModels = counts[i]
		}
	}
	for i, c := range counts {
		if c == minModels {
			s.fewest = append(s.fewest, int32(i))
		}
	}
	if len(s.fewest) == n {
		s.fewest = nil
	}
	return s
}
