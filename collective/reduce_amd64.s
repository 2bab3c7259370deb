#include "textflag.h"

// The kernels of reduce.go. Each loop handles one 128-byte block in four
// 32-byte AVX2 registers. Loads and ordinary stores are unaligned: slices
// need not be 32-byte aligned, and an unaligned access within a cache line
// costs nothing on these CPUs. Streaming stores (VMOVNT*) need 32-byte
// aligned destinations (the Go side aligns them) and are fenced (SFENCE)
// before the kernel returns, so that they are ordered before the barrier
// that publishes them. The flags' tests are per block and always go the
// same way: the branch predictor makes them free beside the memory
// traffic.
//
// flags (kflags): 1 also streams, 2 divide by div.

// func sumF32(dst, a, b, also unsafe.Pointer, blocks int, flags kflags, div float32)
TEXT ·sumF32(SB), NOSPLIT, $0-52
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ also+24(FP), R8
	MOVQ blocks+32(FP), CX
	MOVQ flags+40(FP), R9
	VBROADCASTSS div+48(FP), Y15
	TESTQ CX, CX
	JZ   sumF32_done

sumF32_loop:
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VADDPS 0(DX), Y0, Y0
	VADDPS 32(DX), Y1, Y1
	VADDPS 64(DX), Y2, Y2
	VADDPS 96(DX), Y3, Y3
	TESTQ $2, R9
	JZ   sumF32_store
	VDIVPS Y15, Y0, Y0
	VDIVPS Y15, Y1, Y1
	VDIVPS Y15, Y2, Y2
	VDIVPS Y15, Y3, Y3

sumF32_store:
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	TESTQ R8, R8
	JZ   sumF32_next
	TESTQ $1, R9
	JNZ  sumF32_alsont
	VMOVUPS Y0, 0(R8)
	VMOVUPS Y1, 32(R8)
	VMOVUPS Y2, 64(R8)
	VMOVUPS Y3, 96(R8)
	ADDQ $128, R8
	JMP  sumF32_next

sumF32_alsont:
	VMOVNTPS Y0, 0(R8)
	VMOVNTPS Y1, 32(R8)
	VMOVNTPS Y2, 64(R8)
	VMOVNTPS Y3, 96(R8)
	ADDQ $128, R8

sumF32_next:
	ADDQ $128, SI
	ADDQ $128, DX
	ADDQ $128, DI
	DECQ CX
	JNZ  sumF32_loop

sumF32_done:
	SFENCE
	VZEROUPPER
	RET

// func sumF64(dst, a, b, also unsafe.Pointer, blocks int, flags kflags, div float64)
TEXT ·sumF64(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ also+24(FP), R8
	MOVQ blocks+32(FP), CX
	MOVQ flags+40(FP), R9
	VBROADCASTSD div+48(FP), Y15
	TESTQ CX, CX
	JZ   sumF64_done

sumF64_loop:
	VMOVUPD 0(SI), Y0
	VMOVUPD 32(SI), Y1
	VMOVUPD 64(SI), Y2
	VMOVUPD 96(SI), Y3
	VADDPD 0(DX), Y0, Y0
	VADDPD 32(DX), Y1, Y1
	VADDPD 64(DX), Y2, Y2
	VADDPD 96(DX), Y3, Y3
	TESTQ $2, R9
	JZ   sumF64_store
	VDIVPD Y15, Y0, Y0
	VDIVPD Y15, Y1, Y1
	VDIVPD Y15, Y2, Y2
	VDIVPD Y15, Y3, Y3

sumF64_store:
	VMOVUPD Y0, 0(DI)
	VMOVUPD Y1, 32(DI)
	VMOVUPD Y2, 64(DI)
	VMOVUPD Y3, 96(DI)
	TESTQ R8, R8
	JZ   sumF64_next
	TESTQ $1, R9
	JNZ  sumF64_alsont
	VMOVUPD Y0, 0(R8)
	VMOVUPD Y1, 32(R8)
	VMOVUPD Y2, 64(R8)
	VMOVUPD Y3, 96(R8)
	ADDQ $128, R8
	JMP  sumF64_next

sumF64_alsont:
	VMOVNTPD Y0, 0(R8)
	VMOVNTPD Y1, 32(R8)
	VMOVNTPD Y2, 64(R8)
	VMOVNTPD Y3, 96(R8)
	ADDQ $128, R8

sumF64_next:
	ADDQ $128, SI
	ADDQ $128, DX
	ADDQ $128, DI
	DECQ CX
	JNZ  sumF64_loop

sumF64_done:
	SFENCE
	VZEROUPPER
	RET

// func copyNTBlocks(dst, src unsafe.Pointer, blocks int)
TEXT ·copyNTBlocks(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ blocks+16(FP), CX
	TESTQ CX, CX
	JZ   copyNT_done

copyNT_loop:
	VMOVDQU 0(SI), Y0
	VMOVDQU 32(SI), Y1
	VMOVDQU 64(SI), Y2
	VMOVDQU 96(SI), Y3
	VMOVNTDQ Y0, 0(DI)
	VMOVNTDQ Y1, 32(DI)
	VMOVNTDQ Y2, 64(DI)
	VMOVNTDQ Y3, 96(DI)
	ADDQ $128, SI
	ADDQ $128, DI
	DECQ CX
	JNZ  copyNT_loop

copyNT_done:
	SFENCE
	VZEROUPPER
	RET
