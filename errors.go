package rayo

import "github.com/rayo-dev/rayo/internal/errs"

// Errors rayo returns. Test them with errors.Is; never match on strings.
var (
	// ErrTaskFailed: the task returned an error or panicked.
	ErrTaskFailed = errs.ErrTaskFailed
	// ErrWorkerCrashed: the task's worker died and retries ran out.
	ErrWorkerCrashed = errs.ErrWorkerCrashed
	// ErrTaskCancelled: the task was cancelled with Cancel.
	ErrTaskCancelled = errs.ErrTaskCancelled
	// ErrBadCall: a malformed call (unknown name, wrong arity or types).
	ErrBadCall = errs.ErrBadCall
	// ErrObjectLost: the object's value is gone.
	ErrObjectLost = errs.ErrObjectLost
	// ErrOwnerDied: the process that owns the object died.
	ErrOwnerDied = errs.ErrOwnerDied
	// ErrNotInitialized: Init has not run.
	ErrNotInitialized = errs.ErrNotInitialized
	// ErrShutdown: the runtime shut down before the call completed.
	ErrShutdown = errs.ErrShutdown
	// ErrUnauthenticated: the cluster refused the token.
	ErrUnauthenticated = errs.ErrUnauthenticated
	// ErrGetTimeout: a Get's context deadline passed first. It also
	// matches context.DeadlineExceeded.
	ErrGetTimeout = errs.ErrGetTimeout
	// ErrNodeDied: the node a call depended on died.
	ErrNodeDied = errs.ErrNodeDied
	// ErrBinaryMismatch: the job's executable cannot run on a node (other
	// OS or architecture).
	ErrBinaryMismatch = errs.ErrBinaryMismatch
	// ErrInvalidOption: an option's value is out of range.
	ErrInvalidOption = errs.ErrInvalidOption
)

// TaskError describes a failed task: the remote error's text, the stack
// of a panic, and where it ran. errors.As(err, &taskErr) works on any
// error a Get returns for a failed task.
type TaskError = errs.TaskError

// RegisterError names a sentinel error so that errors.Is matches it when a
// remote task's error wraps it. Register it at package level with the same
// name in every process (they all run the same binary, so package-level
// registration does that).
func RegisterError(name string, err error) { errs.RegisterError(name, err) }
