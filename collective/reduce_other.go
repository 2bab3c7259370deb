//go:build !amd64

package collective

import "unsafe"

const haveKernels = false

func sumF32(dst, a, b, also unsafe.Pointer, blocks int, flags kflags, div float32) {
	panic("unreachable")
}

func sumF64(dst, a, b, also unsafe.Pointer, blocks int, flags kflags, div float64) {
	panic("unreachable")
}

func copyNTBlocks(dst, src unsafe.Pointer, blocks int) { panic("unreachable") }
