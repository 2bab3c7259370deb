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
	// ErrObjectReconstructionFailed: a lost object was not rebuilt: each
	// reconstruction re-runs its task and counts against the task's
	// MaxRetries, and those are spent (Ray's
	// ObjectReconstructionFailedMaxAttemptsExceededError).
	ErrObjectReconstructionFailed = errs.ErrObjectReconstructionFailed
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
	// ErrObjectTooLarge: a value larger than the node's object store and
	// its spill disk together can hold; nothing was stored.
	ErrObjectTooLarge = errs.ErrObjectTooLarge
	// ErrHeadUnavailable: a call that needs the head (creating or looking
	// up an actor, a placement group) waited for it longer than the bound
	// (WithHeadTimeout) while it was down or restarting.
	ErrHeadUnavailable = errs.ErrHeadUnavailable
	// ErrNodeAffinityUnavailable: a hard NodeAffinity names a node that is
	// dead or unknown; the task fails at once (an actor dies), naming the
	// node, instead of waiting for ever (Ray's TaskUnschedulableError).
	ErrNodeAffinityUnavailable = errs.ErrNodeAffinityUnavailable
	// ErrTaskUnschedulable: the task can never be scheduled (its placement
	// group was removed, its hard NodeAffinity names a dead node); matched
	// alongside that cause (Ray's TaskUnschedulableError).
	ErrTaskUnschedulable = errs.ErrTaskUnschedulable

	// ErrActorDied: the actor is dead; the *ActorDiedError also matches
	// one of the causes below.
	ErrActorDied = errs.ErrActorDied
	// ErrActorUnavailable: the actor's process died while the call ran
	// and the call may not be retried (MaxTaskRetries), though the actor
	// itself restarted.
	ErrActorUnavailable = errs.ErrActorUnavailable
	// ErrActorKilled: Kill ended the actor.
	ErrActorKilled = errs.ErrActorKilled
	// ErrActorCrashed: the actor's process died and no restarts were left.
	ErrActorCrashed = errs.ErrActorCrashed
	// ErrConstructorFailed: the constructor returned an error or panicked;
	// errors.As finds the constructor's *TaskError.
	ErrConstructorFailed = errs.ErrConstructorFailed
	// ErrActorOutOfScope: every handle to the actor was dropped.
	ErrActorOutOfScope = errs.ErrActorOutOfScope
	// ErrActorExited: the actor called ExitActor.
	ErrActorExited = errs.ErrActorExited
	// ErrActorNameTaken: New with a Name another live actor has.
	ErrActorNameTaken = errs.ErrActorNameTaken
	// ErrActorNotFound: no actor of that name or ID.
	ErrActorNotFound = errs.ErrActorNotFound
)

// ActorDiedError says that an actor is dead and why (its Cause: killed,
// crashed, node died, constructor failed, out of scope, exited, or its
// job ended, which is ErrOwnerDied). errors.As(err, &died) finds it in
// any error a call to a dead actor returns; it matches ErrActorDied and
// its Cause with errors.Is, and when the constructor failed it unwraps to
// the constructor's *TaskError.
type ActorDiedError struct {
	ActorID string
	Class   string
	Name    string
	Cause   error
	Message string
	Ctor    *TaskError
}

func (e *ActorDiedError) Error() string { return e.internal().Error() }

// Is matches ErrActorDied and the cause.
func (e *ActorDiedError) Is(target error) bool { return target == ErrActorDied || target == e.Cause }

// Unwrap exposes the constructor's error, if that is why the actor died.
func (e *ActorDiedError) Unwrap() error {
	if e.Ctor != nil {
		return e.Ctor
	}
	return nil
}

func (e *ActorDiedError) internal() *errs.ActorDiedError {
	return &errs.ActorDiedError{ActorID: e.ActorID, Class: e.Class, Name: e.Name, Cause: e.Cause, Message: e.Message}
}

// TaskError describes a failed task: the remote error's text, the stack
// of a panic, and where it ran. errors.As(err, &taskErr) works on any
// error a Get returns for a failed task. It unwraps to its Cause (one of
// the sentinels above, ErrTaskFailed for a returned error or a panic) and
// errors.Is also matches the errors registered with RegisterError that
// the remote error wrapped.
type TaskError struct {
	TaskName string
	TaskID   string
	Message  string
	Stack    string
	Panicked bool
	Pid      int
	NodeID   string
	Cause    error
	matches  []string
}

func (e *TaskError) Error() string { return e.internal().Error() }

// Unwrap exposes the cause, so errors.Is(err, rayo.ErrTaskFailed) works.
func (e *TaskError) Unwrap() error { return e.Cause }

// Is matches registered errors that the remote error wrapped.
func (e *TaskError) Is(target error) bool { return e.internal().Is(target) }

func (e *TaskError) internal() *errs.TaskError {
	return errs.WithMatches(&errs.TaskError{TaskName: e.TaskName, TaskID: e.TaskID, Message: e.Message, Stack: e.Stack,
		Panicked: e.Panicked, Pid: e.Pid, NodeID: e.NodeID, Cause: e.Cause}, e.matches)
}

// The core builds its own error types; errors.As with a *TaskError or
// *ActorDiedError target converts them (through their As methods) into
// this package's, wherever they sit in a chain.
func init() { errs.Export = exportError }

func exportError(err error, target any) bool {
	switch t := target.(type) {
	case **TaskError:
		if te, ok := err.(*errs.TaskError); ok {
			*t = exportTaskError(te)
			return true
		}
	case **ActorDiedError:
		if de, ok := err.(*errs.ActorDiedError); ok {
			*t = &ActorDiedError{ActorID: de.ActorID, Class: de.Class, Name: de.Name, Cause: de.Cause,
				Message: de.Message, Ctor: exportTaskError(de.Ctor)}
			return true
		}
	}
	return false
}

func exportTaskError(te *errs.TaskError) *TaskError {
	if te == nil {
		return nil
	}
	return &TaskError{TaskName: te.TaskName, TaskID: te.TaskID, Message: te.Message, Stack: te.Stack,
		Panicked: te.Panicked, Pid: te.Pid, NodeID: te.NodeID, Cause: te.Cause, matches: te.Matches()}
}

// RegisterError names a sentinel error so that errors.Is matches it when a
// remote task's error wraps it. Register it at package level with the same
// name in every process (they all run the same binary, so package-level
// registration does that).
func RegisterError(name string, err error) { errs.RegisterError(name, err) }

// Errors of values that travel between processes and of named lookups.
var (
	// ErrNotRegistered: a *Task, *ActorType or *Method received from
	// another process names a function or actor type that this binary
	// does not register, or registers with other types (a *Task[string]
	// for a task registered as Register[int]). Every use of such a value
	// (Remote, New, Options(...).Remote) returns it; it also matches
	// ErrBadCall.
	ErrNotRegistered = errs.ErrNotRegistered
	// ErrReleased: an ObjectRef (or a copy of it) was used after its
	// Release.
	ErrReleased = errs.ErrReleased
	// ErrPlacementGroupNotFound: GetPlacementGroup found no live group of
	// that name in the namespace.
	ErrPlacementGroupNotFound = errs.ErrPlacementGroupNotFound
)
