package errs

import (
	"errors"
	"fmt"
)

// ErrNotRegistered: a task, actor type or method passed as a value (a
// *Task, *ActorType, *Method decoded in another process) names no
// registration of that name and type in the receiving binary. It is a
// malformed call, so errors wrapping it also match ErrBadCall.
var ErrNotRegistered = errors.New("rayo: not registered in this binary")

// ErrPlacementGroupNotFound: no placement group of that name (in the
// namespace) or ID (Ray's get_placement_group finding none).
var ErrPlacementGroupNotFound = errors.New("rayo: no such placement group")

// NotRegistered builds the error for a name this binary lacks or holds
// with other types: it matches ErrNotRegistered and ErrBadCall.
func NotRegistered(format string, args ...any) error {
	return &notRegisteredError{msg: fmt.Sprintf(format, args...)}
}

type notRegisteredError struct{ msg string }

func (e *notRegisteredError) Error() string { return "rayo: not registered in this binary: " + e.msg }

func (e *notRegisteredError) Is(target error) bool {
	return target == ErrNotRegistered || target == ErrBadCall
}

func init() {
	// Registered as user errors are, so that errors.Is matches them
	// through a task that returned them.
	RegisterError("rayo.ErrNotRegistered", ErrNotRegistered)
	RegisterError("rayo.ErrPlacementGroupNotFound", ErrPlacementGroupNotFound)
	// A worker's New that finds the name taken (an *ActorType passed to
	// it with a Name) returns it to its caller.
	RegisterError("rayo.ErrActorNameTaken", ErrActorNameTaken)
	// A call a worker made with a misplaced option (a *Method whose
	// concurrency group its actor lacks, say) reports it to its caller.
	RegisterError("rayo.ErrInvalidOption", ErrInvalidOption)
}

// ErrReleased: an ObjectRef used after its Release (or a copy's).
var ErrReleased = errors.New("rayo: the ObjectRef was released")

func init() { RegisterError("rayo.ErrReleased", ErrReleased) }
