package collective

import "unsafe"

// kflags say how a kernel stores its results.
type kflags int

const (
	// kNTAlso: also's stores stream past the caches (non-temporal): for
	// data that another core reads next (a slot of the shared segment).
	// On the 2-core VM of docs/performance.md, 512 KiB written on one core
	// and copied out on the other go at 9.7 GB/s so, at 4.2 GB/s when the
	// reader takes them from the writer's cache (BenchmarkHandoff).
	kNTAlso kflags = 1 << iota
	// kDiv: divide the sums (Mean's last pass).
	kDiv
)

// reduceTo sets dst[i] = a[i] op b[i] for i < len(dst) (divided by div
// with kDiv) and, if also is not nil, also[i] = dst[i]: a second store
// from the same registers instead of a second pass (the shared-memory
// AllReduce publishes its chunk this way). dst may be a, also may be a.
func reduceTo[T Float](op Op, dst, a, b, also []T, fl kflags, div int) {
	n := len(dst)
	a, b = a[:n], b[:n]
	if also != nil {
		also = also[:n]
	}
	if fl&kDiv == 0 {
		div = 1
	}
	lo, hi := 0, 0 // [lo, hi): done by the vector kernel, also included
	switch op {
	case Sum, Mean:
		if haveKernels && fl&kNTAlso != 0 && also != nil {
			lo = min(n, alignHead(also)) // streaming stores need alignment
		}
		sumScalar(dst[:lo], a, b, div)
		hi = lo + sumBlocks(dst[lo:], a[lo:], b[lo:], tail(also, lo), fl, div)
		sumScalar(dst[hi:], a[hi:], b[hi:], div)
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
		copy(also[:lo], dst[:lo])
		copy(also[hi:], dst[hi:])
	}
}

func sumScalar[T Float](dst, a, b []T, div int) {
	a, b = a[:len(dst)], b[:len(dst)]
	if div == 1 {
		for i := range dst {
			dst[i] = a[i] + b[i]
		}
		return
	}
	d := T(div)
	for i := range dst {
		dst[i] = (a[i] + b[i]) / d
	}
}

// reduce is reduceTo in place: dst = dst op src.
func reduce[T Float](op Op, dst, src []T) { reduceTo(op, dst, dst, src, nil, 0, 1) }

func tail[T Float](s []T, i int) []T {
	if s == nil {
		return nil
	}
	return s[i:]
}

// alignHead is how many elements of s precede the first 32-byte aligned
// one.
func alignHead[T Float](s []T) int {
	mis := int(uintptr(unsafe.Pointer(unsafe.SliceData(s))) % 32)
	if mis == 0 {
		return 0
	}
	return (32 - mis) / int(unsafe.Sizeof(T(0)))
}

// copyOut is copy(dst, src), with streaming stores if nt (for a slot of
// the shared segment: kNTAlso).
func copyOut[T Float](dst, src []T, nt bool) {
	n := min(len(dst), len(src))
	if !nt || !haveKernels {
		copy(dst, src[:n])
		return
	}
	lo := min(n, alignHead(dst))
	copy(dst[:lo], src[:lo])
	esz := int(unsafe.Sizeof(T(0)))
	blocks := (n - lo) * esz / 128
	if blocks > 0 {
		copyNTBlocks(unsafe.Pointer(&dst[lo]), unsafe.Pointer(&src[lo]), blocks)
	}
	hi := lo + blocks*128/esz
	copy(dst[hi:n], src[hi:n])
}

// sumBlocks runs the kernel on the whole 128-byte blocks of dst and
// returns how many elements it did (0 without a kernel).
func sumBlocks[T Float](dst, a, b, also []T, fl kflags, div int) int {
	esz := int(unsafe.Sizeof(T(0)))
	blocks := len(dst) * esz / 128
	if !haveKernels || blocks == 0 {
		return 0
	}
	d, x, y := unsafe.Pointer(&dst[0]), unsafe.Pointer(&a[0]), unsafe.Pointer(&b[0])
	var al unsafe.Pointer
	if also != nil {
		al = unsafe.Pointer(&also[0])
	}
	if esz == 4 {
		sumF32(d, x, y, al, blocks, fl, float32(div))
	} else {
		sumF64(d, x, y, al, blocks, fl, float64(div))
	}
	return blocks * 128 / esz
}
