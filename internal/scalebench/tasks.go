package scalebench

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/rayo-dev/rayo"
)

// The harness's tasks. They are registered in the rayo binary's package
// graph (internal/cli imports this package), so that the workers, which
// run that binary, know them.
var (
	// where is the no-op task: it says where it ran.
	where = rayo.Register[string]("scalebench.where", func() string { return rayo.NodeID() })

	// blob is a result large enough to live in a node's store.
	blob = rayo.Register[[]byte]("scalebench.blob", func(seed, size int) []byte { return blobBytes(seed, size) })

	// makeBytes makes the object a transfer row moves.
	makeBytes = rayo.Register[[]byte]("scalebench.make", func(size int) []byte {
		b := make([]byte, size)
		for i := 0; i < len(b); i += 4096 {
			b[i] = byte(i >> 12)
		}
		return b
	})

	// size reads an object (its argument: resolving it pulls the object
	// to this task's node).
	size = rayo.Register[int]("scalebench.size", func(_ context.Context, b []byte) (int, error) { return len(b), nil })
)

// blobBytes is seed's content: every 8 bytes hold seed and the offset, so
// a wrong or mixed-up result shows.
func blobBytes(seed, size int) []byte {
	b := make([]byte, size)
	for off := 0; off+8 <= size; off += 8 {
		binary.LittleEndian.PutUint64(b[off:], uint64(seed)<<32|uint64(off))
	}
	return b
}

func checkBlob(seed, size int, b []byte) error {
	if len(b) != size {
		return fmt.Errorf("scalebench: result %d: %d bytes, want %d", seed, len(b), size)
	}
	for off := 0; off+8 <= size; off += 8 {
		if binary.LittleEndian.Uint64(b[off:]) != uint64(seed)<<32|uint64(off) {
			return fmt.Errorf("scalebench: result %d: wrong content at offset %d", seed, off)
		}
	}
	return nil
}
