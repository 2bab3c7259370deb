package sink

import (
	"errors"
	"fmt"
	"github.com/rayo-dev/rayo/data/internal/dataerr"
	"strings"
)

// Errors of package sink. Every error the package returns wraps one of
// them (errors.Is); most are an *Error that also names the file and
// column at fault and wraps the underlying cause (an *os.PathError, an
// arrow-go error).
var (
	// ErrExists: the output directory already holds output (ModeError),
	// or a final file already exists where the write would put its own.
	// Ray raises ValueError for an existing path with mode="error".
	ErrExists = errors.New("data: output already exists")
	// ErrWrite: a file could not be written, moved or removed (disk full,
	// permission denied, a vanished staging directory); the OS or
	// arrow-go error is wrapped too.
	ErrWrite = errors.New("data: write failed")
	// ErrNoColumn: a partition column is not in the data.
	ErrNoColumn = dataerr.ErrNoColumn
	// ErrUnsupported: a column's type cannot be held by the format (a
	// list column in CSV) or used as a partition column.
	ErrUnsupported = errors.New("data: unsupported column type")
	// ErrSchemaMismatch: a record batch's schema differs from the file's.
	ErrSchemaMismatch = dataerr.ErrSchemaMismatch
	// ErrInvalid: a bad argument (unknown format, mode or compression, a
	// bad write ID or file name, a row range outside the records).
	ErrInvalid = errors.New("data: invalid argument")
	// ErrAborted: the write's staging directory is gone (the write was
	// aborted or committed) when a task tried to write into it.
	ErrAborted = errors.New("data: write aborted")
)

// RegisterErrors registers the package's sentinels with register (the
// public rayo.RegisterError), so that errors.Is keeps working when a write
// task fails with one of them and the driver gets a *rayo.TaskError. The
// package that runs write tasks calls it at init, in the driver and in
// every worker; sink itself does not import rayo.
func RegisterErrors(register func(name string, err error)) {
	register("rayo.data.sink.ErrExists", ErrExists)
	register("rayo.data.sink.ErrWrite", ErrWrite)
	register("rayo.data.sink.ErrNoColumn", ErrNoColumn)
	register("rayo.data.sink.ErrUnsupported", ErrUnsupported)
	register("rayo.data.sink.ErrSchemaMismatch", ErrSchemaMismatch)
	register("rayo.data.sink.ErrInvalid", ErrInvalid)
	register("rayo.data.sink.ErrAborted", ErrAborted)
}

// Error is an error of package sink that says where it happened. Unwrap
// gives both the sentinel (Err) and the cause, so errors.Is works for
// either (errors.Is(err, ErrWrite), errors.Is(err, fs.ErrPermission)).
type Error struct {
	Op     string // "write", "commit", "abort", "begin", "partition", "slice"
	Path   string // the file or directory at fault, if any
	Column string // the column at fault, if any
	Err    error  // one of the package's sentinels
	Cause  error  // the underlying error, if any
	Detail string // what is wrong, when there is no Cause to say it
}

// Error says what failed, where: the sentinel's text, the operation, the
// path, the column and the cause.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	if e.Op != "" {
		b.WriteString(": ")
		b.WriteString(e.Op)
	}
	if e.Path != "" {
		b.WriteString(" ")
		b.WriteString(e.Path)
	}
	if e.Column != "" {
		fmt.Fprintf(&b, ": column %q", e.Column)
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Cause != nil {
		b.WriteString(": ")
		b.WriteString(e.Cause.Error())
	}
	return b.String()
}

// Unwrap returns the sentinel and the cause.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

func invalid(op, path, format string, args ...any) error {
	return &Error{Op: op, Path: path, Err: ErrInvalid, Detail: fmt.Sprintf(format, args...)}
}

func writeErr(op, path string, cause error) error {
	return &Error{Op: op, Path: path, Err: ErrWrite, Cause: cause}
}
