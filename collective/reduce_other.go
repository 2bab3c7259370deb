//go:build !amd64

package collective

import "unsafe"

const haveAddBlocks = false

func addF32Blocks(dst, a, b, also unsafe.Pointer, blocks int) { panic("unreachable") }
func addF64Blocks(dst, a, b, also unsafe.Pointer, blocks int) { panic("unreachable") }
