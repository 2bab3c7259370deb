package compute

import (
	"errors"
	"fmt"
	"github.com/rayo-dev/rayo/data/internal/dataerr"
	"strings"
)

// Errors of package compute. Every error a kernel returns wraps one of
// them (errors.Is) and names the column, aggregation or field at fault.
var (
	// ErrNoColumn: a key, aggregation or sort column is not in the
	// record. The error lists the record's columns.
	ErrNoColumn = dataerr.ErrNoColumn
	// ErrUnsupported: a column's type cannot take the operation (the sum
	// of a string column, a list column as a key).
	ErrUnsupported = errors.New("data: unsupported column type")
	// ErrSchemaMismatch: records that must share a schema do not (Concat,
	// the blocks of one Sort or Aggregate, join keys of different types).
	ErrSchemaMismatch = dataerr.ErrSchemaMismatch
	// ErrBadArgument: an argument is out of range (n < 1 parts, an
	// unknown join kind or aggregation, a quantile outside [0, 1], no
	// records where some are needed, a join that would repeat a column
	// name).
	ErrBadArgument = errors.New("data: bad argument")
)

// ColumnError names the column (and, for an aggregation, the
// aggregation) an error is about; Ray Data raises a ValueError or
// pyarrow's ArrowInvalid/KeyError with the column's name. It wraps one of
// the package's sentinels.
type ColumnError struct {
	Err     error    // ErrNoColumn, ErrUnsupported or ErrSchemaMismatch
	Column  string   // the column at fault
	Op      string   // the operation, e.g. "sum(x)", "sort key", "group key"
	Detail  string   // what is wrong, e.g. the column's type
	Columns []string // for ErrNoColumn: the columns there are
}

// Error reads as `data: no such column: key column "k" (columns: a, b)`.
func (e *ColumnError) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	b.WriteString(": ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(" ")
	}
	fmt.Fprintf(&b, "column %q", e.Column)
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Columns != nil {
		fmt.Fprintf(&b, " (columns: %s)", strings.Join(e.Columns, ", "))
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrX) hold.
func (e *ColumnError) Unwrap() error { return e.Err }

func badArg(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadArgument, fmt.Sprintf(format, args...))
}

// RegisterErrors registers the package's sentinels with register (the
// public rayo.RegisterError), so that errors.Is keeps working when a task
// running a kernel fails and the caller gets a *rayo.TaskError. The data
// package calls it at init; compute itself does not import rayo.
func RegisterErrors(register func(name string, err error)) {
	register("rayo.data.compute.ErrNoColumn", ErrNoColumn)
	register("rayo.data.compute.ErrUnsupported", ErrUnsupported)
	register("rayo.data.compute.ErrSchemaMismatch", ErrSchemaMismatch)
	register("rayo.data.compute.ErrBadArgument", ErrBadArgument)
}

// maxRows is the most rows a kernel takes in one call: row indices are
// int32, as a block of rayo Data (128 MiB by default) is far smaller.
const maxRows = 1<<31 - 1

func checkRows(n int64) error {
	if n > maxRows {
		return badArg("%d rows in one call: at most %d (split the block)", n, int64(maxRows))
	}
	return nil
}
