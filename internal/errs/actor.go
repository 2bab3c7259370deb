package errs

import (
	"errors"
	"fmt"
)

// Actor sentinels. An *ActorDiedError matches ErrActorDied and one cause.
var (
	ErrActorDied         = errors.New("rayo: actor died")
	ErrActorUnavailable  = errors.New("rayo: actor unavailable")
	ErrActorKilled       = errors.New("rayo: actor was killed")
	ErrActorCrashed      = errors.New("rayo: actor's process crashed")
	ErrConstructorFailed = errors.New("rayo: actor's constructor failed")
	ErrActorOutOfScope   = errors.New("rayo: every handle to the actor went out of scope")
	ErrActorExited       = errors.New("rayo: actor exited")
	ErrActorNameTaken    = errors.New("rayo: actor name already taken")
	ErrActorNotFound     = errors.New("rayo: no such actor")
)

// deathCauses maps the head's death codes (protocol's Death* constants)
// to sentinels, and deathCodes back; internal/protocol's codes.go fills
// both at init through RegisterDeathCause.
var (
	deathCauses = map[string]error{}
	deathCodes  = map[error]string{}
)

// RegisterDeathCause records an actor death code and its sentinel (Ray's
// ActorDeathCause and the ActorDiedError it becomes). Only
// internal/protocol's init calls it.
func RegisterDeathCause(code string, sentinel error) {
	deathCauses[code] = sentinel
	deathCodes[sentinel] = code
}

// ActorDiedError says that an actor is dead and why. It matches
// ErrActorDied and its Cause with errors.Is; when the constructor failed,
// it also unwraps to the constructor's *TaskError.
type ActorDiedError struct {
	ActorID string
	Class   string
	Name    string
	Cause   error
	Message string
	Ctor    *TaskError
}

// NewActorDiedError builds the error from the head's death record.
func NewActorDiedError(id, class, name, code, message string, ctor *WireTaskError) *ActorDiedError {
	e := &ActorDiedError{ActorID: id, Class: class, Name: name, Message: message, Cause: deathCauses[code]}
	if e.Cause == nil {
		e.Cause = ErrActorCrashed
	}
	if ctor != nil {
		e.Ctor = ctor.FromWire()
	}
	return e
}

// ToWire flattens the error for the object store and the wire.
func (e *ActorDiedError) ToWire() *WireTaskError {
	code, ok := "", false
	if hashable(e.Cause) {
		code, ok = deathCodes[e.Cause]
	}
	if !ok {
		code = deathCodes[ErrActorCrashed]
	}
	w := &WireActorDeath{ActorID: e.ActorID, Class: e.Class, Name: e.Name, Code: code, Message: e.Message}
	if e.Ctor != nil {
		w.Ctor = e.Ctor.ToWire()
	}
	return &WireTaskError{Code: CodeOf(ErrActorDied), Message: e.Error(), Actor: w}
}

func (e *ActorDiedError) Error() string {
	who := e.Class
	if e.Name != "" {
		who += " " + fmt.Sprintf("%q", e.Name)
	}
	s := fmt.Sprintf("rayo: actor %s (%s) died: %s", who, e.ActorID, e.Message)
	return s
}

func (e *ActorDiedError) Is(target error) bool {
	return target == ErrActorDied || target == e.Cause
}

// As converts e for errors.As with a target of the public package's type.
func (e *ActorDiedError) As(target any) bool { return Export != nil && Export(e, target) }

// Unwrap exposes the constructor's error, if that is why the actor died.
func (e *ActorDiedError) Unwrap() error {
	if e.Ctor != nil {
		return e.Ctor
	}
	return nil
}

// Rayo's own sentinels are registered like user errors, so that errors.Is
// sees them through a task that returned them (a task whose own call to an
// actor failed with ErrActorDied, say).
func init() {
	for name, err := range map[string]error{
		"rayo.ErrTaskFailed": ErrTaskFailed, "rayo.ErrWorkerCrashed": ErrWorkerCrashed,
		"rayo.ErrTaskCancelled": ErrTaskCancelled, "rayo.ErrBadCall": ErrBadCall,
		"rayo.ErrObjectLost": ErrObjectLost, "rayo.ErrOwnerDied": ErrOwnerDied,
		"rayo.ErrNodeDied": ErrNodeDied, "rayo.ErrGetTimeout": ErrGetTimeout,
		"rayo.ErrActorDied": ErrActorDied, "rayo.ErrActorUnavailable": ErrActorUnavailable,
		"rayo.ErrActorKilled": ErrActorKilled, "rayo.ErrActorCrashed": ErrActorCrashed,
		"rayo.ErrConstructorFailed": ErrConstructorFailed, "rayo.ErrActorOutOfScope": ErrActorOutOfScope,
		"rayo.ErrActorExited": ErrActorExited, "rayo.ErrActorNotFound": ErrActorNotFound,
		"rayo.ErrNodeAffinityUnavailable": ErrNodeAffinityUnavailable,
	} {
		RegisterError(name, err)
	}
}
