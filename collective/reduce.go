package collective

import "unsafe"

// reduceTo sets dst[i] = a[i] op b[i] for i < len(dst) and, if also is
// not nil, also[i] = dst[i] (a second store from the same registers
// instead of a second pass: the shared-memory AllReduce publishes its
// chunk this way). dst may be a. Mean sums (the caller divides).
func reduceTo[T Float](op Op, dst, a, b, also []T) {
	n := len(dst)
	a, b = a[:n], b[:n]
	done := 0 // elements whose also was stored too
	switch op {
	case Sum, Mean:
		done = addBlocks(dst, a, b, also)
		for i := done; i < n; i++ {
			dst[i] = a[i] + b[i]
		}
	case Min:
		for i := range dst {
			dst[i] = min(a[i], b[i])
		}
	case Max:
		for i := range dst {
			dst[i] = max(a[i], b[i])
		}
	}
	if also != nil {
		copy(also[done:n], dst[done:])
	}
}

// reduce is reduceTo in place: dst = dst op src.
func reduce[T Float](op Op, dst, src []T) { reduceTo(op, dst, dst, src, nil) }

// addBlock is how many elements of size esz addBlocks takes at a time
// (128 bytes).
func addBlock(esz uintptr) int { return 128 / int(esz) }

// addBlocks adds the whole 128-byte blocks of a and b into dst (and
// also), with the vector kernel where there is one, and returns how many
// elements it did (0 without one). Min and Max stay in Go: the vector
// instructions' answers for NaN and signed zeros differ from Go's min and
// max, which the TCP path and users' own code follow.
func addBlocks[T Float](dst, a, b, also []T) int {
	if !haveAddBlocks {
		return 0
	}
	esz := unsafe.Sizeof(T(0))
	blocks := len(dst) / addBlock(esz)
	if blocks == 0 {
		return 0
	}
	d, x, y := unsafe.Pointer(&dst[0]), unsafe.Pointer(&a[0]), unsafe.Pointer(&b[0])
	var al unsafe.Pointer
	if also != nil {
		al = unsafe.Pointer(&also[0])
	}
	if esz == 4 {
		addF32Blocks(d, x, y, al, blocks)
	} else {
		addF64Blocks(d, x, y, al, blocks)
	}
	return blocks * addBlock(esz)
}
