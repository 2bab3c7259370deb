package multiplex

import (
	"errors"
	"fmt"
)

// Sentinel errors. A failed load's error wraps the loader's own error and
// names the model; a caller that stops waiting gets its ctx.Err().
var (
	// ErrInvalidConfig: a Config field is out of range or missing.
	ErrInvalidConfig = errors.New("multiplex: invalid config")
	// ErrInvalidModelID: a model ID is empty, too long or not printable.
	ErrInvalidModelID = errors.New("multiplex: invalid model ID")
	// ErrClosed: the cache was closed.
	ErrClosed = errors.New("multiplex: cache closed")
	// ErrPanic: the loader or the unload hook panicked (see PanicError).
	ErrPanic = errors.New("multiplex: hook panicked")
)

// PanicError is the error a panicking loader or unload hook is turned into.
type PanicError struct {
	ModelID string
	Hook    string // "load" or "unload"
	Value   any    // the value passed to panic
	Stack   []byte // the panicking goroutine's stack
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("multiplex: %s of model %q panicked: %v", e.Hook, e.ModelID, e.Value)
}

// Unwrap makes errors.Is(err, ErrPanic) hold.
func (e *PanicError) Unwrap() error { return ErrPanic }
