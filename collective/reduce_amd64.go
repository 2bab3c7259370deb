package collective

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// haveKernels: the AVX2 kernels of reduce_amd64.s run here. Go does not
// vectorise loops: a scalar sum runs at half of memcpy's speed in cache,
// and Go has no streaming stores.
var haveKernels = cpu.X86.HasAVX2

// sumF32 sets dst[i] = a[i] + b[i] (divided by div with kDiv), and also[i]
// to the same if also is not nil, for blocks×32 float32s.
//
//go:noescape
func sumF32(dst, a, b, also unsafe.Pointer, blocks int, flags kflags, div float32)

// sumF64 is sumF32 for blocks×16 float64s.
//
//go:noescape
func sumF64(dst, a, b, also unsafe.Pointer, blocks int, flags kflags, div float64)

// copyNTBlocks copies blocks×128 bytes with streaming stores to dst
// (32-byte aligned).
//
//go:noescape
func copyNTBlocks(dst, src unsafe.Pointer, blocks int)
