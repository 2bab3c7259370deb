package train

import (
	"errors"
	"fmt"

	"github.com/rayo-dev/rayo"
)

// Errors of package train. Every error Train returns wraps one of them
// (errors.Is); a worker's failure is also a *WorkerError naming its rank.
var (
	// ErrInvalidConfig: a bad ScalingConfig, RunConfig or trainer field.
	ErrInvalidConfig = errors.New("train: invalid configuration")
	// ErrNotRegistered: a training loop the workers cannot run: nil, or
	// registered after rayo.Init (a closure made at run time).
	ErrNotRegistered = errors.New("train: training loop not registered at package level")
	// ErrInfeasible: the worker group can never be placed (a worker asks
	// for more than any node has, or the cluster holds fewer than
	// MinWorkers workers); reported at once rather than waited on.
	ErrInfeasible = errors.New("train: worker group is infeasible")
	// ErrPlacementTimeout: the cluster could hold the group but did not
	// reserve it within ScalingConfig.PlacementTimeout (other work holds
	// the resources).
	ErrPlacementTimeout = errors.New("train: worker group not placed in time")
	// ErrStorage: the storage path cannot be written or read, after
	// retries.
	ErrStorage = errors.New("train: storage")
	// ErrWorkerFailed: a training function returned an error or panicked,
	// or a script failed; not retried (a bug repeats).
	ErrWorkerFailed = errors.New("train: worker failed")
	// ErrWorkerLost: a worker's process or node died; the group restarts
	// from the latest checkpoint while FailureConfig.MaxFailures allows.
	ErrWorkerLost = errors.New("train: worker lost")
	// ErrWorkerHung: a rank did not take part in a collective within its
	// timeout while the others waited for it; counted as a failure.
	ErrWorkerHung = errors.New("train: worker hung")
	// ErrTooManyFailures: the group failed more often than
	// FailureConfig.MaxFailures allows; wraps the last failure.
	ErrTooManyFailures = errors.New("train: too many failures")
	// ErrNotInWorker: Report, GetContext, GetCheckpoint or DatasetShard
	// called outside a training worker.
	ErrNotInWorker = errors.New("train: not called from inside a training worker")
	// ErrNoDataset: DatasetShard names a dataset the trainer was not
	// given.
	ErrNoDataset = errors.New("train: no such dataset")
)

func init() {
	for name, err := range map[string]error{
		"rayo.train.ErrInvalidConfig": ErrInvalidConfig, "rayo.train.ErrNotRegistered": ErrNotRegistered,
		"rayo.train.ErrStorage": ErrStorage, "rayo.train.ErrNotInWorker": ErrNotInWorker, "rayo.train.ErrNoDataset": ErrNoDataset,
	} {
		rayo.RegisterError(name, err)
	}
}

// WorkerError is one rank's failure.
type WorkerError struct {
	Rank int
	// Kind is ErrWorkerFailed, ErrWorkerLost or ErrWorkerHung.
	Kind error
	// Message is the error's text; Stack a panic's stack or a script's
	// traceback.
	Message string
	Stack   string
	// Err is the error as the driver saw it (a *rayo.ActorDiedError for a
	// lost worker, a *rayo.TaskError...), when there is one.
	Err error
}

func (e *WorkerError) Error() string {
	return fmt.Sprintf("%v: rank %d: %s", e.Kind, e.Rank, e.Message)
}

// Unwrap exposes the kind and the underlying error.
func (e *WorkerError) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}
