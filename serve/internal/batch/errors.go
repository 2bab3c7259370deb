package batch

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidConfig is wrapped by every error about a bad Config value
	// or setter argument; the message names the field.
	ErrInvalidConfig = errors.New("batch: invalid config")
	// ErrBadBatch fails every caller of a batch whose fn returned a slice
	// of a different length than the items it was given.
	ErrBadBatch = errors.New("batch: fn returned the wrong number of results")
	// ErrClosed is returned by Call after Close, and to callers still
	// queued when Close runs.
	ErrClosed = errors.New("batch: batcher closed")
	// ErrPanic matches (errors.Is) the *PanicError a batch's callers get
	// when fn panics.
	ErrPanic = errors.New("batch: fn panicked")
)

// PanicError carries a panic recovered from fn to every caller of that
// batch, so a serving layer can answer 500 with it and keep the replica.
type PanicError struct {
	Value any    // the value passed to panic
	Stack []byte // the panicking goroutine's stack
}

func (e *PanicError) Error() string { return fmt.Sprintf("batch: fn panicked: %v", e.Value) }

// Is makes errors.Is(err, ErrPanic) true.
func (e *PanicError) Is(target error) bool { return target == ErrPanic }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
