package data

import (
	"errors"
	"fmt"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/data/internal/block"
	"github.com/rayo-dev/rayo/data/internal/cols"
	"github.com/rayo-dev/rayo/data/internal/compute"
	"github.com/rayo-dev/rayo/data/internal/dataerr"
	"github.com/rayo-dev/rayo/data/internal/rows"
)

// Errors of package data. Every error a Dataset returns wraps one of them
// (errors.Is), also when it comes from a worker inside a *rayo.TaskError.
var (
	// ErrNotRegistered: a user function (a *Fn) that the process running
	// it does not have: it was registered after rayo.Init (a closure made
	// in the driver's main), so workers, which only run package-level
	// registrations, cannot run it. Data never runs it locally instead.
	ErrNotRegistered = errors.New("data: function not registered at package level")
	// ErrWrongKind: a function passed where another kind is needed (a
	// filter function to Map, a row function to MapBatches...).
	ErrWrongKind = errors.New("data: wrong kind of function")
	// ErrUDF: a user function failed or panicked. The *UDFError names the
	// operator, the function and the rows of its batch.
	ErrUDF = errors.New("data: user function failed")
	// ErrBadBatch: a user function returned a batch of the wrong shape: nil,
	// columns of different lengths, or a column whose length is not the
	// batch's.
	ErrBadBatch = errors.New("data: bad batch from a user function")
	// ErrNoColumn: an operator names a column the data does not have
	// (whichever stage found it: a read, a sort, a key, a typed batch).
	ErrNoColumn = dataerr.ErrNoColumn
	// ErrStalled: the pipeline made no progress for the stall timeout; the
	// *StallError names the operator it waited on.
	ErrStalled = errors.New("data: pipeline stalled")
	// ErrInvalidArgument: a bad argument to a Dataset method (a negative
	// limit, an empty key list, a min above a max...).
	ErrInvalidArgument = errors.New("data: invalid argument")
	// ErrClosed: an iterator or split used after it was closed.
	ErrClosed = errors.New("data: closed")
)

// UDFError is a failure of a user function: Ray Data's UserCodeException.
type UDFError struct {
	Op       string // the operator, e.g. "MapBatches(normalize)"
	Fn       string // the function's registered name
	FirstRow int64  // the batch's first row within the task's input
	Rows     int64  // the batch's number of rows
	Err      error  // what the function returned, or the panic
}

func (e *UDFError) Error() string {
	return fmt.Sprintf("data: %s: function %q failed on rows [%d, %d) of its input: %v", e.Op, e.Fn, e.FirstRow, e.FirstRow+e.Rows, e.Err)
}

// Unwrap returns ErrUDF and the function's own error.
func (e *UDFError) Unwrap() []error { return []error{ErrUDF, e.Err} }

// StallError reports a pipeline that made no progress for the stall
// timeout (Ray Data hangs silently instead).
type StallError struct {
	Op      string        // the operator the pipeline waited on
	For     time.Duration // how long nothing moved
	Running int           // its tasks running at the time
	Queued  int           // its inputs waiting at the time
}

func (e *StallError) Error() string {
	return fmt.Sprintf("data: pipeline stalled: no progress for %v, waiting on %s (%d tasks running, %d inputs queued)", e.For, e.Op, e.Running, e.Queued)
}

// Unwrap returns ErrStalled.
func (e *StallError) Unwrap() error { return ErrStalled }

// The package's errors are registered with rayo at init, in the driver
// and in every worker, so that errors.Is matches them through a task.
func init() {
	for name, err := range map[string]error{
		"ErrNotRegistered": ErrNotRegistered, "ErrWrongKind": ErrWrongKind, "ErrUDF": ErrUDF,
		"ErrBadBatch": ErrBadBatch, "ErrNoColumn": ErrNoColumn, "ErrStalled": ErrStalled,
		"ErrInvalidArgument": ErrInvalidArgument, "ErrClosed": ErrClosed,
		"rows.ErrUnsupportedType": rows.ErrUnsupportedType, "rows.ErrNotStruct": rows.ErrNotStruct,
		"rows.ErrMissingColumn": rows.ErrMissingColumn, "rows.ErrTypeMismatch": rows.ErrTypeMismatch,
		"rows.ErrNull": rows.ErrNull, "rows.ErrNilRecord": rows.ErrNilRecord,
		"cols.ErrNotBatch": cols.ErrNotBatch, "cols.ErrUnsupported": cols.ErrUnsupported,
		"cols.ErrNoColumn": cols.ErrNoColumn, "cols.ErrType": cols.ErrType, "cols.ErrLength": cols.ErrLength,
		"cols.ErrNull": cols.ErrNull, "cols.ErrNilRecord": cols.ErrNilRecord,
	} {
		rayo.RegisterError("rayo.data."+name, err)
	}
	block.RegisterErrors(rayo.RegisterError)
	compute.RegisterErrors(rayo.RegisterError)
}
