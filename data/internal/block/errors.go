package block

import "github.com/rayo-dev/rayo"

// The sentinels keep errors.Is working when a task that reads a block
// fails with one of them and the caller gets a *rayo.TaskError.
func init() {
	rayo.RegisterError("rayo.data.block.ErrCorrupt", ErrCorrupt)
	rayo.RegisterError("rayo.data.block.ErrMisaligned", ErrMisaligned)
	rayo.RegisterError("rayo.data.block.ErrUnsupportedType", ErrUnsupportedType)
	rayo.RegisterError("rayo.data.block.ErrNilRecord", ErrNilRecord)
}
