package peers

import (
	"errors"
	"fmt"
)

var (
	// ErrSchema means an input file lacks a column the work needs, or has
	// it with another type.
	ErrSchema = errors.New("peers: input schema mismatch")
	// ErrNulls means an input column holds nulls: the generated data has
	// none, and the floor does not pay for null handling it never needs.
	ErrNulls = errors.New("peers: input column holds nulls")
	// ErrNoInput means a peer was given no input file.
	ErrNoInput = errors.New("peers: no input")
	// ErrPandas means the pandas script failed or printed no result.
	ErrPandas = errors.New("peers: pandas script failed")
	// ErrNoArrow means DuckDB's Arrow interface was asked for in a build
	// without the duckdb_arrow tag.
	ErrNoArrow = errors.New("peers: built without DuckDB's Arrow interface")
	// ErrDuckDB means a DuckDB statement failed.
	ErrDuckDB = errors.New("peers: duckdb failed")
)

// FileError names the file a peer failed on.
type FileError struct {
	Path string
	Err  error
}

func (e *FileError) Error() string { return fmt.Sprintf("peers: %s: %v", e.Path, e.Err) }

// Unwrap returns the underlying error.
func (e *FileError) Unwrap() error { return e.Err }
