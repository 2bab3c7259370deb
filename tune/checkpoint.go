package tune

import "fmt"

// A Checkpoint is a trial's saved state: bytes, or a directory of files
// (Ray's Checkpoint). A directory made on another node reaches the
// driver's storage through the object store, packed as a tar stream, so
// no shared filesystem is needed.
type Checkpoint struct {
	data []byte // bytes form
	dir  string // directory form
	// Iteration is the trial's training_iteration when it was made (set
	// by Tune).
	Iteration int
	// local: dir is a copy Tune made for a trial, removed when it stops.
	local bool
	// stored is the checkpoint's directory on the experiment's storage,
	// for one a ResultGrid hands out.
	stored string
}

// Path is the directory on the experiment's storage where Tune keeps the
// checkpoint ("" for one not from a ResultGrid): a bytes checkpoint is
// the file checkpoint.bin in it.
func (c *Checkpoint) Path() string { return c.stored }

// CheckpointFromBytes makes a checkpoint of b (not copied).
func CheckpointFromBytes(b []byte) *Checkpoint { return &Checkpoint{data: b} }

// CheckpointFromDir makes a checkpoint of the directory at path. It is
// read when reported: the directory may change or go after Report returns.
func CheckpointFromDir(path string) *Checkpoint { return &Checkpoint{dir: path} }

// IsDir reports whether c is a directory checkpoint.
func (c *Checkpoint) IsDir() bool { return c.dir != "" }

// Bytes returns a bytes checkpoint's bytes.
func (c *Checkpoint) Bytes() ([]byte, error) {
	if c.dir != "" {
		return nil, fmt.Errorf("%w: a directory checkpoint has no bytes; use Dir", ErrInvalidConfig)
	}
	return c.data, nil
}

// Dir returns a directory checkpoint's path, on the machine that reads
// it (a trial gets a local copy).
func (c *Checkpoint) Dir() (string, error) {
	if c.dir == "" {
		return "", fmt.Errorf("%w: a bytes checkpoint has no directory; use Bytes", ErrInvalidConfig)
	}
	return c.dir, nil
}
