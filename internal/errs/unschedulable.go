package errs

import "errors"

// ErrTaskUnschedulable: the task can never be scheduled, e.g. its
// placement group was removed or its hard node affinity names a dead node
// (Ray's TaskUnschedulableError). errors.Is matches it alongside the
// specific cause, across processes.
var ErrTaskUnschedulable = errors.New("rayo: the task can never be scheduled")

func init() { RegisterError("rayo.ErrTaskUnschedulable", ErrTaskUnschedulable) }
