package errs

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
)

// Sentinels. Every error rayo returns wraps one of them.
var (
	ErrTaskFailed            = errors.New("rayo: task failed")
	ErrWorkerCrashed         = errors.New("rayo: worker crashed")
	ErrTaskCancelled         = errors.New("rayo: task cancelled")
	ErrBadCall               = errors.New("rayo: malformed call")
	ErrObjectLost            = errors.New("rayo: object lost")
	ErrOwnerDied             = errors.New("rayo: owner died")
	ErrNotInitialized        = errors.New("rayo: not initialized; call rayo.Init first")
	ErrShutdown              = errors.New("rayo: runtime is shut down")
	ErrInfeasible            = errors.New("rayo: no node can ever satisfy the resource request")
	ErrUnauthenticated       = errors.New("rayo: unauthenticated: missing or wrong cluster token")
	ErrGetTimeout            = errors.New("rayo: get timed out")
	ErrNodeDied              = errors.New("rayo: node died")
	ErrBinaryMismatch        = errors.New("rayo: job binary cannot run on this node")
	ErrInvalidOption         = errors.New("rayo: invalid option")
	ErrPlacementGroupRemoved = errors.New("rayo: placement group removed")
	ErrObjectTooLarge        = errors.New("rayo: object larger than the object store and the spill disk can hold")
	ErrHeadUnavailable       = errors.New("rayo: the head is unreachable")
)

// ErrNodeAffinityUnavailable: a hard node affinity names a node that is
// dead or unknown, so the task or actor can never run (Ray's
// TaskUnschedulableError and ActorUnschedulableError).
var ErrNodeAffinityUnavailable = errors.New("rayo: the node a hard node affinity names is dead or unknown")

// Wire codes, one per sentinel that can cross a process boundary. The
// table itself is internal/protocol's codes.go, which fills these maps at
// init through RegisterCode (errs is below protocol and cannot import it).
var (
	codes     = map[string]error{}
	codeNames = map[error]string{}
)

// RegisterCode records a wire code and its sentinel for TaskError's wire
// form (Ray serialises the exception class instead). Only
// internal/protocol's init calls it.
func RegisterCode(code string, sentinel error) {
	codes[code] = sentinel
	codeNames[sentinel] = code
}

// CodeOf returns the wire code of a sentinel ("" if it has none).
func CodeOf(sentinel error) string {
	if !hashable(sentinel) {
		return "" // no sentinel is of such a type, and a map lookup would panic
	}
	return codeNames[sentinel]
}

// hashable reports whether err can be a map key (nil is).
func hashable(err error) bool {
	return err == nil || reflect.TypeOf(err).Comparable()
}

// SentinelOf returns the sentinel for a wire code, ErrTaskFailed if unknown.
func SentinelOf(code string) error {
	if e, ok := codes[code]; ok {
		return e
	}
	return ErrTaskFailed
}

// TaskError is how a failed task reaches its caller: the remote error's
// text and stack, where it ran, and why it failed (Cause is one of the
// sentinels above). errors.Is also matches user errors registered with
// RegisterError that the remote error wrapped.
type TaskError struct {
	TaskName string
	TaskID   string
	Message  string
	Stack    string
	Panicked bool
	Pid      int
	NodeID   string
	Cause    error
	// Data is the error in its own language's form when that is not Go's
	// (a pickled Python exception), for a caller in that language.
	Data []byte
	// NoRetry: the failure is not one the call's retry_exceptions names
	// (a Python caller's list of exception classes), so it is final.
	NoRetry bool
	matches []string
}

func (e *TaskError) Error() string {
	what := "failed"
	switch {
	case e.Panicked:
		what = "panicked"
	case e.Cause == ErrWorkerCrashed:
		what = "lost its worker"
	case e.Cause == ErrTaskCancelled:
		what = "was cancelled"
	case e.Cause == ErrBadCall:
		what = "was called wrongly"
	}
	s := fmt.Sprintf("rayo: task %s %s", e.TaskName, what)
	if e.Pid != 0 {
		s += fmt.Sprintf(" (pid=%d", e.Pid)
		if e.NodeID != "" {
			s += " node=" + e.NodeID
		}
		s += ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Unwrap exposes the cause, so errors.Is(err, rayo.ErrTaskFailed) works.
func (e *TaskError) Unwrap() error { return e.Cause }

// Is matches registered user errors that the remote error wrapped.
func (e *TaskError) Is(target error) bool {
	name, ok := registeredName(target)
	if !ok {
		return false
	}
	for _, m := range e.matches {
		if m == name {
			return true
		}
	}
	return false
}

// Matches lists the registered error names the remote error wrapped.
func (e *TaskError) Matches() []string { return e.matches }

// WithMatches sets the registered error names e matches and returns e
// (for the public package's copy of a TaskError).
func WithMatches(e *TaskError, matches []string) *TaskError {
	e.matches = matches
	return e
}

// Export converts this package's error types into the public package's
// own, which package rayo sets once at init: errors.As with a target of
// rayo's types reaches it through the As methods below, so libraries and
// users never name an internal type.
var Export func(err error, target any) bool

// As converts e for errors.As with a target of the public package's type.
func (e *TaskError) As(target any) bool { return Export != nil && Export(e, target) }

// WireTaskError is TaskError's form on the wire.
type WireTaskError struct {
	Code     string   `msgpack:"c"`
	TaskName string   `msgpack:"n"`
	TaskID   string   `msgpack:"i"`
	Message  string   `msgpack:"m"`
	Stack    string   `msgpack:"s,omitempty"`
	Panicked bool     `msgpack:"p,omitempty"`
	Pid      int      `msgpack:"pid,omitempty"`
	NodeID   string   `msgpack:"node,omitempty"`
	Matches  []string `msgpack:"x,omitempty"`
	Data     []byte   `msgpack:"d,omitempty"`
	NoRetry  bool     `msgpack:"nr,omitempty"`
	// Actor is set when the call failed because its actor is dead.
	Actor *WireActorDeath `msgpack:"actor,omitempty"`
}

// WireActorDeath carries an ActorDiedError.
type WireActorDeath struct {
	ActorID string         `msgpack:"id"`
	Class   string         `msgpack:"class"`
	Name    string         `msgpack:"name,omitempty"`
	Code    string         `msgpack:"code"`
	Message string         `msgpack:"msg"`
	Ctor    *WireTaskError `msgpack:"ctor,omitempty"`
}

// Err rebuilds the error the wire form carries: an *ActorDiedError for a
// dead actor, else a *TaskError.
func (w *WireTaskError) Err() error {
	if a := w.Actor; a != nil {
		return NewActorDiedError(a.ActorID, a.Class, a.Name, a.Code, a.Message, a.Ctor)
	}
	return w.FromWire()
}

// ToWire flattens a TaskError.
func (e *TaskError) ToWire() *WireTaskError {
	return &WireTaskError{Code: CodeOf(e.Cause), TaskName: e.TaskName, TaskID: e.TaskID, Message: e.Message,
		Stack: e.Stack, Panicked: e.Panicked, Pid: e.Pid, NodeID: e.NodeID, Matches: e.matches, Data: e.Data, NoRetry: e.NoRetry}
}

// FromWire rebuilds a TaskError.
func (w *WireTaskError) FromWire() *TaskError {
	return &TaskError{TaskName: w.TaskName, TaskID: w.TaskID, Message: w.Message, Stack: w.Stack,
		Panicked: w.Panicked, Pid: w.Pid, NodeID: w.NodeID, Cause: SentinelOf(w.Code), Data: w.Data, NoRetry: w.NoRetry, matches: w.Matches}
}

// NewTaskError builds a TaskError from an error raised by user code,
// recording which registered errors it wraps.
func NewTaskError(name, id string, cause error, err error, stack string, panicked bool) *TaskError {
	te := &TaskError{TaskName: name, TaskID: id, Cause: cause, Stack: stack, Panicked: panicked}
	if err != nil {
		te.Message = err.Error()
		registry.RLock()
		for n, reg := range registry.byName {
			if errors.Is(err, reg) {
				te.matches = append(te.matches, n)
			}
		}
		registry.RUnlock()
	}
	return te
}

var registry = struct {
	sync.RWMutex
	byName map[string]error
}{byName: map[string]error{}}

// RegisterError names a user sentinel error so that errors.Is matches it
// across processes. Register at package level, in every process, with the
// same name.
func RegisterError(name string, err error) {
	if name == "" || err == nil {
		panic("rayo: RegisterError needs a name and an error")
	}
	registry.Lock()
	registry.byName[name] = err
	registry.Unlock()
}

func registeredName(target error) (string, bool) {
	registry.RLock()
	defer registry.RUnlock()
	for n, e := range registry.byName {
		if e == target {
			return n, true
		}
	}
	return "", false
}
