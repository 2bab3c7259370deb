package collective

import (
	"encoding/binary"
	"fmt"
	"io"
	"unsafe"
)

// Every message between members is a frame: a 32-byte header, then count
// raw little-endian floats. The header says what the sender is doing, so a
// member that is doing something else (another operation, length, op,
// root, element type, or an operation further on) sees it at once as
// ErrMismatch instead of reading garbage or waiting forever:
//
//	kind u8 | elem size u8 | 0 u16 | param u32 | seq u64 | total u64 | count u64
//
// param is the reduction Op or the root; seq counts the Comm's operations;
// total is the operation's length (len(buf), or len(in)); count is the
// number of floats that follow.
const hdrSize = 32

type frameHdr struct {
	kind  uint8
	esz   uint8
	param uint32
	seq   uint64
	total uint64
	count uint64
}

func (h *frameHdr) put(b []byte) {
	b[0], b[1], b[2], b[3] = h.kind, h.esz, 0, 0
	binary.LittleEndian.PutUint32(b[4:], h.param)
	binary.LittleEndian.PutUint64(b[8:], h.seq)
	binary.LittleEndian.PutUint64(b[16:], h.total)
	binary.LittleEndian.PutUint64(b[24:], h.count)
}

func (h *frameHdr) get(b []byte) {
	h.kind, h.esz = b[0], b[1]
	h.param = binary.LittleEndian.Uint32(b[4:])
	h.seq = binary.LittleEndian.Uint64(b[8:])
	h.total = binary.LittleEndian.Uint64(b[16:])
	h.count = binary.LittleEndian.Uint64(b[24:])
}

// diff describes how got differs from want, or "".
func (want *frameHdr) diff(got *frameHdr) string {
	switch {
	case got.kind != want.kind || got.seq != want.seq:
		return fmt.Sprintf("it runs %s (operation %d), this member %s (operation %d)",
			opName(got.kind), got.seq, opName(want.kind), want.seq)
	case got.esz != want.esz:
		return fmt.Sprintf("it sends %d-byte floats, this member %d-byte", got.esz, want.esz)
	case got.param != want.param:
		return fmt.Sprintf("it uses op/root %d, this member %d", got.param, want.param)
	case got.total != want.total:
		return fmt.Sprintf("its length is %d, this member's %d", got.total, want.total)
	case got.count != want.count:
		return fmt.Sprintf("it sends %d elements, this member expects %d", got.count, want.count)
	}
	return ""
}

// Float is the element type of the operations.
type Float interface{ ~float32 | ~float64 }

// asBytes views s's memory as bytes (the wire format on a little-endian
// machine: Join refuses big-endian ones). Measured against encoding/binary
// in BenchmarkEncode.
func asBytes[T Float](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(s[0])))
}

// readFull reads len(b) bytes.
func readFull(r io.Reader, b []byte) error {
	_, err := io.ReadFull(r, b)
	return err
}
