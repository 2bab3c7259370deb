package source

import (
	"errors"
	"fmt"
	"github.com/rayo-dev/rayo/data/internal/dataerr"
	"strings"
)

// Errors of package source. Every error from Plan or Read wraps one of them
// (errors.Is) in an *Error that names the file, and the column or row range
// where they are known. Ray Data raises Python's FileNotFoundError and
// pyarrow's ArrowInvalid for these; here they are sentinels that survive
// the trip from a worker (RegisterErrors).
var (
	// ErrNotFound: a path does not exist, or a glob or directory matches no
	// file.
	ErrNotFound = errors.New("data: file not found")
	// ErrCorrupt: a file does not parse as its format (a damaged or
	// truncated Parquet file, a CSV row with the wrong number of fields, a
	// JSON line that is not an object, an image that does not decode).
	ErrCorrupt = errors.New("data: corrupt file")
	// ErrSchemaMismatch: two files of one read disagree on their columns
	// (or on their hive partition keys).
	ErrSchemaMismatch = dataerr.ErrSchemaMismatch
	// ErrNoColumn: a projection or a filter names a column the files do
	// not have.
	ErrNoColumn = dataerr.ErrNoColumn
	// ErrUnsupported: a format, option, operator or column type this
	// package does not read or compare.
	ErrUnsupported = errors.New("data: unsupported")
	// ErrEmitPanicked: the emit callback given to Read panicked; the
	// fault is the caller's, not the file's, so it is not ErrCorrupt.
	ErrEmitPanicked = errors.New("data: read's emit callback panicked")
)

// RegisterErrors registers the package's sentinels with register (the
// public rayo.RegisterError), so that errors.Is keeps working when a read
// task fails in a worker and the caller gets a *rayo.TaskError. The
// package that runs read tasks (data) calls it at init; source itself does
// not import rayo.
func RegisterErrors(register func(name string, err error)) {
	register("rayo.data.source.ErrNotFound", ErrNotFound)
	register("rayo.data.source.ErrCorrupt", ErrCorrupt)
	register("rayo.data.source.ErrSchemaMismatch", ErrSchemaMismatch)
	register("rayo.data.source.ErrNoColumn", ErrNoColumn)
	register("rayo.data.source.ErrUnsupported", ErrUnsupported)
	register("rayo.data.source.ErrEmitPanicked", ErrEmitPanicked)
}

// Error is the typed error of Plan and Read: Kind is one of the package's
// sentinels, and the other fields say where (Ray Data puts the path in
// its exception's message; here it is a field).
type Error struct {
	Kind   error  // ErrNotFound, ErrCorrupt, ...
	Path   string // the file (or the path or glob as given)
	Other  string // ErrSchemaMismatch: the file Path disagrees with
	Column string // the column at fault, if any
	// FirstRow and LastRow bound the rows at fault (0-based, inclusive,
	// counted from the start of the file); -1 when unknown.
	FirstRow, LastRow int64
	Detail            string // what is wrong, in words
	Err               error  // the underlying cause, if any
}

// Error says the kind, the file, the rows and column, and the cause.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.Error())
	if e.Path != "" {
		fmt.Fprintf(&b, ": %s", e.Path)
	}
	if e.Other != "" {
		fmt.Fprintf(&b, " vs %s", e.Other)
	}
	if e.FirstRow >= 0 {
		if e.LastRow > e.FirstRow {
			fmt.Fprintf(&b, " rows %d-%d", e.FirstRow, e.LastRow)
		} else {
			fmt.Fprintf(&b, " row %d", e.FirstRow)
		}
	}
	if e.Column != "" {
		fmt.Fprintf(&b, " column %q", e.Column)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, ": %s", e.Detail)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap gives errors.Is both the sentinel and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// newErr builds an *Error of kind about path, rows unknown.
func newErr(kind error, path, format string, args ...any) *Error {
	return &Error{Kind: kind, Path: path, FirstRow: -1, LastRow: -1, Detail: fmt.Sprintf(format, args...)}
}

// wrapErr builds an *Error of kind about path with cause err.
func wrapErr(kind error, path string, err error, format string, args ...any) *Error {
	e := newErr(kind, path, format, args...)
	e.Err = err
	return e
}

// noColumn is ErrNoColumn naming the column and listing those there are.
func noColumn(path, col string, have []string) *Error {
	e := newErr(ErrNoColumn, path, "the columns are [%s]", strings.Join(have, ", "))
	e.Column = col
	return e
}

// recovered turns a panic from arrow-go on damaged input into ErrCorrupt:
// no panic escapes to the caller. Use as defer recovered(path, &err).
func recovered(path string, err *error) {
	if r := recover(); r != nil {
		*err = newErr(ErrCorrupt, path, "reader panicked: %v", r)
	}
}
