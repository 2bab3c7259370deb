package dataset

import (
	"errors"
	"fmt"
)

var (
	// ErrBadScale means a scale name is neither "small" nor "full".
	ErrBadScale = errors.New("dataset: unknown scale")
	// ErrNoManifest means the directory holds no manifest: run gen first.
	ErrNoManifest = errors.New("dataset: no manifest (run gen first)")
	// ErrBadManifest means manifest.json could not be decoded or names
	// an unknown dataset.
	ErrBadManifest = errors.New("dataset: bad manifest")
	// ErrUnknownDataset means a name is not one of the manifest's datasets.
	ErrUnknownDataset = errors.New("dataset: unknown dataset")
)

// FileError names the file an I/O or encoding failure happened on.
type FileError struct {
	Path string
	Op   string // "create", "write", "close", "read"
	Err  error
}

func (e *FileError) Error() string { return fmt.Sprintf("dataset: %s %s: %v", e.Op, e.Path, e.Err) }

// Unwrap returns the underlying error.
func (e *FileError) Unwrap() error { return e.Err }
