package config

import (
	"errors"
	"fmt"
)

// ErrInvalidConfig is wrapped by every error Parse and ParseFile return for
// a config that is not valid, and by each FieldError.
var ErrInvalidConfig = errors.New("invalid serve config")

// maxErrors caps how many field errors one Parse reports, so that a file
// of the wrong shape gives a readable answer rather than thousands of lines.
const maxErrors = 50

// FieldError is one problem with one field of a config file. Path names
// the field as applications[1].deployments[0].num_replicas; Line is its
// line in the file (1-based; 0 when unknown).
type FieldError struct {
	Path string
	Line int
	Msg  string
}

// Error returns "path: message (line N)".
func (e *FieldError) Error() string {
	p := e.Path
	if p == "" {
		p = "config"
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s: %s (line %d)", p, e.Msg, e.Line)
	}
	return p + ": " + e.Msg
}

// Unwrap makes errors.Is(err, ErrInvalidConfig) hold for each field error.
func (e *FieldError) Unwrap() error { return ErrInvalidConfig }

// FieldErrors returns the field errors inside an error Parse returned, in
// the order they were found (nil for any other error).
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(e error) {
		if fe, ok := e.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, c := range j.Unwrap() {
				walk(c)
			}
		}
	}
	walk(err)
	return out
}
