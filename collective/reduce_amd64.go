package collective

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// haveAddBlocks: the AVX2 kernels of reduce_amd64.s run here. Go does not
// vectorise loops, and a scalar sum runs at a third of memcpy's speed
// (docs/performance.md, "Train: collectives").
var haveAddBlocks = cpu.X86.HasAVX2

// addF32Blocks sets dst[i] = a[i] + b[i] (and also[i], if also is not
// nil) for blocks×32 float32s.
//
//go:noescape
func addF32Blocks(dst, a, b, also unsafe.Pointer, blocks int)

// addF64Blocks is addF32Blocks for blocks×16 float64s.
//
//go:noescape
func addF64Blocks(dst, a, b, also unsafe.Pointer, blocks int)
