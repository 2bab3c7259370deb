// Package dataerr holds the sentinel errors that several of Data's
// internal packages report, so that one errors.Is(err, data.ErrNoColumn)
// matches a missing column whichever package found it (a reader's
// projection, a sort key, a partition column, a typed batch's field).
package dataerr

import "errors"

var (
	// ErrNoColumn: a column named by an operator is not in the data.
	ErrNoColumn = errors.New("data: no such column")
	// ErrSchemaMismatch: inputs that should share a schema do not.
	ErrSchemaMismatch = errors.New("data: schemas do not match")
)
