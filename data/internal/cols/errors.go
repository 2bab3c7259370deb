package cols

import (
	"errors"
	"fmt"
	"github.com/rayo-dev/rayo/data/internal/dataerr"
)

// Errors of package cols. Every error SchemaOf, FromRecord or ToRecord
// returns wraps one of them (errors.Is) and names the field or column.
var (
	// ErrNotBatch: the type is not a struct, or a field of it is not a
	// slice, or it has no column field.
	ErrNotBatch = errors.New("data: not a column batch type")
	// ErrUnsupported: a field's element type has no Arrow equivalent
	// (the error also wraps package rows' ErrUnsupportedType).
	ErrUnsupported = errors.New("data: unsupported column element type")
	// ErrNoColumn: the record has no column a field names.
	ErrNoColumn = dataerr.ErrNoColumn
	// ErrType: a column's Arrow type is not the one the field's element
	// type maps to.
	ErrType = errors.New("data: column type mismatch")
	// ErrLength: ToRecord's slices do not all have the same length.
	ErrLength = errors.New("data: column lengths differ")
	// ErrNull: a null inside a value (a list item, a struct field) whose
	// Go type cannot hold it. Top-level nulls become zero values.
	ErrNull = errors.New("data: null in a non-nullable element")
	// ErrNilRecord: FromRecord was given a nil record.
	ErrNilRecord = errors.New("data: nil record")
)

// ColumnError is the error about one column of a batch: a field that has
// no column, a column of the wrong type, an element type with no Arrow
// equivalent. It wraps Err (one of this package's sentinels) and Cause
// (package rows' error, if any).
type ColumnError struct {
	Field  string // the batch field, as "Batch.X"
	Column string // the column name
	Err    error  // the sentinel: ErrNoColumn, ErrType, ErrUnsupported, ErrNull, ErrNotBatch
	Detail string // what is wrong
	Cause  error  // the underlying error, or nil
}

// Error names the field, its column and what is wrong.
func (e *ColumnError) Error() string {
	s := fmt.Sprintf("%v: field %s (column %q)", e.Err, e.Field, e.Column)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap makes errors.Is hold for Err and for Cause.
func (e *ColumnError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

// LengthError is ToRecord's error for two column slices of different
// lengths (Ray Data's equivalent: the ValueError for a UDF's batch whose
// arrays differ in length). It wraps ErrLength.
type LengthError struct {
	Field    string // the first field, as "Batch.X"
	Len      int    // its length
	Other    string // the field whose length differs
	OtherLen int    // that length
}

// Error names both fields and their lengths.
func (e *LengthError) Error() string {
	return fmt.Sprintf("%v: %s has %d rows, %s has %d", ErrLength, e.Field, e.Len, e.Other, e.OtherLen)
}

// Unwrap makes errors.Is(err, ErrLength) hold.
func (e *LengthError) Unwrap() error { return ErrLength }
