package objstore

import "fmt"

// Alignment is the alignment, in bytes, of every allocation in the main
// segment: offsets and reserved sizes are multiples of it (a cache line,
// as in plasma).
const Alignment = 64

// alignUp rounds n up to a multiple of Alignment. n must be >= 0 and small
// enough not to overflow (callers compare against the capacity first).
func alignUp(n int64) int64 {
	return (n + Alignment - 1) &^ (Alignment - 1)
}

// span is a half-open byte range [off, off+size) of the main segment.
type span struct {
	off, size int64
}

func (s span) end() int64 { return s.off + s.size }

// allocator hands out aligned ranges of a segment of fixed size. It keeps
// the free ranges in a slice sorted by offset, never adjacent to one
// another (freeing coalesces with both neighbours), and allocates best-fit:
// the smallest free range that fits, the lowest offset among equals. Every
// operation is O(number of free ranges), which stays small in practice.
//
// The allocator is not safe for concurrent use; the Store guards it.
type allocator struct {
	capacity int64
	used     int64
	free     []span
}

// newAllocator returns an allocator over [0, capacity); capacity must be a
// multiple of Alignment.
func newAllocator(capacity int64) *allocator {
	a := &allocator{capacity: capacity}
	if capacity > 0 {
		a.free = []span{{0, capacity}}
	}
	return a
}

// clone returns an independent copy, used to simulate frees before doing
// them.
func (a *allocator) clone() *allocator {
	c := *a
	c.free = append([]span(nil), a.free...)
	return &c
}

// find returns the index of the best-fitting free range for an aligned
// size, or -1.
func (a *allocator) find(need int64) int {
	best := -1
	for i, f := range a.free {
		if f.size >= need && (best < 0 || f.size < a.free[best].size) {
			best = i
			if f.size == need {
				break
			}
		}
	}
	return best
}

// canAlloc reports whether alloc(size) would succeed.
func (a *allocator) canAlloc(size int64) bool {
	if size <= 0 {
		return true
	}
	if size > a.capacity {
		return false
	}
	return a.find(alignUp(size)) >= 0
}

// alloc reserves alignUp(size) bytes and returns their offset. A size of 0
// reserves nothing and returns offset 0.
func (a *allocator) alloc(size int64) (int64, bool) {
	if size <= 0 {
		return 0, true
	}
	if size > a.capacity {
		return 0, false
	}
	need := alignUp(size)
	i := a.find(need)
	if i < 0 {
		return 0, false
	}
	off := a.free[i].off
	if a.free[i].size == need {
		a.free = append(a.free[:i], a.free[i+1:]...)
	} else {
		a.free[i].off += need
		a.free[i].size -= need
	}
	a.used += need
	return off, true
}

// release returns the range reserved by alloc(size) at off, merging it with
// free neighbours. Releasing a range that is not wholly allocated is a bug
// in the caller and panics.
func (a *allocator) release(off, size int64) {
	if size <= 0 {
		return
	}
	s := span{off, alignUp(size)}
	if off < 0 || off%Alignment != 0 || s.end() > a.capacity {
		panic(fmt.Sprintf("objstore: release of bad range [%d, %d) in a segment of %d bytes", off, s.end(), a.capacity))
	}
	// i: the first free range after s.
	i := 0
	for i < len(a.free) && a.free[i].off < off {
		i++
	}
	if (i < len(a.free) && a.free[i].off < s.end()) || (i > 0 && a.free[i-1].end() > off) {
		panic(fmt.Sprintf("objstore: release of [%d, %d), which is (partly) free", off, s.end()))
	}
	a.used -= s.size
	mergePrev := i > 0 && a.free[i-1].end() == off
	mergeNext := i < len(a.free) && a.free[i].off == s.end()
	switch {
	case mergePrev && mergeNext:
		a.free[i-1].size += s.size + a.free[i].size
		a.free = append(a.free[:i], a.free[i+1:]...)
	case mergePrev:
		a.free[i-1].size += s.size
	case mergeNext:
		a.free[i].off = off
		a.free[i].size += s.size
	default:
		a.free = append(a.free, span{})
		copy(a.free[i+1:], a.free[i:])
		a.free[i] = s
	}
}

// largestFree returns the size of the largest free range.
func (a *allocator) largestFree() int64 {
	var m int64
	for _, f := range a.free {
		m = max(m, f.size)
	}
	return m
}
