package mlp

import (
	"errors"
	"fmt"
)

var (
	// ErrFormat means a file is not a model file (wrong magic).
	ErrFormat = errors.New("mlp: not a model file")
	// ErrCorrupt means a model file is truncated, too long, has
	// impossible dimensions or fails its checksum.
	ErrCorrupt = errors.New("mlp: corrupt model file")
	// ErrShape means an input's length does not match its rows and the
	// model's dimensions, or a dimension or label is out of range.
	ErrShape = errors.New("mlp: shape mismatch")
	// ErrBadParam means a training parameter (epochs, learning rate) is
	// out of range.
	ErrBadParam = errors.New("mlp: bad parameter")
)

// FileError names the model file that Load or Save failed on.
type FileError struct {
	Path string
	Err  error
}

func (e *FileError) Error() string { return fmt.Sprintf("mlp: %s: %v", e.Path, e.Err) }

// Unwrap returns the underlying error.
func (e *FileError) Unwrap() error { return e.Err }
