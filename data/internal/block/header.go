package block

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/apache/arrow-go/v18/arrow/ipc"
)

// A block is a header of HeaderSize bytes followed by an Arrow IPC file
// (so b[HeaderSize:] is what any Arrow reader opens):
//
//	magic "RAYOBLK" + version 1 (8 bytes)
//	body offset, body length (uint64 each, little-endian, relative to
//	  the IPC file): where the record batch's column data lies
//	CRC-32C of the IPC file without that body (4 bytes), 4 zero bytes
//
// Why: arrow-go decodes the IPC metadata (flatbuffers) without bounds
// checks, and a damaged vector length there makes it allocate without
// limit, which no recover can catch. The checksum covers exactly that
// metadata (a few KiB, whatever the block's size), so damage is found
// before arrow reads it; the column data, which can be large, is not
// scanned (Decode stays in place and O(metadata)), and damage there is
// caught by validate (sizes and offsets) or reads as wrong values, as in
// Arrow itself. HeaderSize is a multiple of 8, keeping the IPC file's
// 8-byte alignment.
const HeaderSize = 32

var (
	magic      = [8]byte{'R', 'A', 'Y', 'O', 'B', 'L', 'K', 1}
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// metaCRC is the checksum of file without file[start:start+n].
func metaCRC(file []byte, start, n uint64) uint32 {
	c := crc32.Update(0, castagnoli, file[:start])
	return crc32.Update(c, castagnoli, file[start+n:])
}

// seal fills in the header of b, whose IPC file (written by Encode, so
// trusted) follows it: it walks the file's messages to find the record
// batch's body.
func seal(b []byte) error {
	file := b[HeaderSize:]
	off := uint64(8) // the file's leading magic, "ARROW1" and padding
	var start, n uint64
	found := false
	for !found {
		if off+8 > uint64(len(file)) {
			return fmt.Errorf("no record batch in the IPC file")
		}
		metaLen := uint64(binary.LittleEndian.Uint32(file[off+4:]))
		if binary.LittleEndian.Uint32(file[off:]) != 0xFFFFFFFF || metaLen == 0 {
			return fmt.Errorf("unexpected IPC framing at %d", off)
		}
		msg, err := ipc.NewMessageReader(bytes.NewReader(file[off:])).Message()
		if err != nil {
			return err
		}
		body := uint64(msg.BodyLen())
		if msg.Type() == ipc.MessageRecordBatch {
			start, n, found = off+8+metaLen, body, true
		}
		msg.Release()
		off += 8 + metaLen + body
	}
	h := b[:HeaderSize]
	copy(h, magic[:])
	binary.LittleEndian.PutUint64(h[8:], start)
	binary.LittleEndian.PutUint64(h[16:], n)
	binary.LittleEndian.PutUint32(h[24:], metaCRC(file, start, n))
	return nil
}

// unseal checks b's header and the checksum of its metadata and returns
// the IPC file.
func unseal(b []byte) ([]byte, error) {
	if !bytes.Equal(b[:8], magic[:]) {
		return nil, corrupt(len(b), "no block header (magic %q)", b[:8])
	}
	file := b[HeaderSize:]
	start, n := binary.LittleEndian.Uint64(b[8:]), binary.LittleEndian.Uint64(b[16:])
	if start > uint64(len(file)) || n > uint64(len(file))-start {
		return nil, corrupt(len(b), "body [%d, +%d) past the end: truncated", start, n)
	}
	if got, want := metaCRC(file, start, n), binary.LittleEndian.Uint32(b[24:]); got != want {
		return nil, corrupt(len(b), "metadata checksum %#08x, want %#08x", got, want)
	}
	return file, nil
}
