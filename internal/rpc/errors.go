package rpc

import (
	"errors"
	"fmt"
)

// Sentinel transport errors. Call sites test them with errors.Is.
var (
	// ErrClosed reports that the connection to the peer is gone: the peer
	// exited, the network failed, or Close was called.
	ErrClosed = errors.New("rpc: connection closed")
	// ErrUnauthenticated reports a refused hello: no token or a wrong one
	// on either side (a client cannot tell its own wrong token from a
	// peer that is not the cluster's: neither proves the token it holds).
	ErrUnauthenticated = errors.New("rpc: unauthenticated: missing or wrong cluster token")
	// ErrUnknownMethod reports a call to a method the peer does not serve.
	ErrUnknownMethod = errors.New("rpc: unknown method")
	// ErrBadRequest reports a request body the handler could not decode.
	ErrBadRequest = errors.New("rpc: malformed request")
	// ErrListenerStopped reports a listener that stopped accepting for a
	// reason other than Close (see Server.Failed).
	ErrListenerStopped = errors.New("rpc: a listener stopped")
	// ErrSocketDirUnsafe reports a socket directory that is not this
	// user's alone: no Unix socket is served or used in it.
	ErrSocketDirUnsafe = errors.New("rpc: the socket directory is not private to this user")
	// ErrInternal reports a peer whose handler failed with an error that
	// has no code of its own, or panicked (Ray's StatusCode::UnknownError).
	ErrInternal = errors.New("rpc: the peer's handler failed")
)

// Error is an error that crosses the wire. Code is a stable machine-readable
// name; each package that serves calls keeps one table from its typed errors
// to codes and back, so errors.Is works on both sides.
type Error struct {
	Code    string `msgpack:"c"`
	Message string `msgpack:"m"`
	// Data carries code-specific detail (for example an encoded task error).
	Data []byte `msgpack:"d,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Is lets errors.Is match sentinels across the wire: e matches the
// sentinel its code maps to in the code table (the transport's codes below
// and those internal/protocol registers at init).
func (e *Error) Is(target error) bool {
	s, ok := codeTable[e.Code]
	return ok && s == target
}

// Codes used by the transport itself. The rest of the table is
// internal/protocol's codes.go.
const (
	CodeInternal        = "internal"
	CodeUnauthenticated = "unauthenticated"
	CodeUnknownMethod   = "unknown_method"
	CodeBadRequest      = "bad_request"
)

// codeTable maps each wire code to its sentinel. It is written only during
// package initialisation (here and by RegisterCode from internal/protocol's
// init), so lookups need no lock.
var codeTable = map[string]error{
	CodeInternal:            ErrInternal,
	CodeUnauthenticated:     ErrUnauthenticated,
	CodeUnknownMethod:       ErrUnknownMethod,
	CodeBadRequest:          ErrBadRequest,
	CodeTLSRequired:         ErrTLSRequired,
	CodeCertificateRequired: ErrCertificateRefused,
}

// RegisterCode adds a wire code and its sentinel to the table Error.Is
// uses (Ray's StatusCode to exception mapping, built once). Call it only from a package's init (internal/protocol does, with
// the one table of codes); it panics on an empty code, a nil sentinel or a
// code registered twice, since a second meaning would make errors.Is lie.
func RegisterCode(code string, sentinel error) {
	if code == "" || sentinel == nil {
		panic("rpc: RegisterCode needs a code and a sentinel")
	}
	if _, dup := codeTable[code]; dup {
		panic("rpc: wire code " + code + " registered twice")
	}
	codeTable[code] = sentinel
}

// Codes returns a copy of the code table (for the table's own tests; Ray's
// StatusCode enum is the nearest equivalent).
func Codes() map[string]error {
	out := make(map[string]error, len(codeTable))
	for c, s := range codeTable {
		out[c] = s
	}
	return out
}

// Errorf builds a wire error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the wire code of err, or "" when err did not come from a peer.
func CodeOf(err error) string {
	var we *Error
	if errors.As(err, &we) {
		return we.Code
	}
	return ""
}

// toWire converts a handler's error into a wire error.
func toWire(err error) *Error {
	var we *Error
	if errors.As(err, &we) {
		return we
	}
	switch {
	case errors.Is(err, ErrBadRequest):
		return &Error{Code: CodeBadRequest, Message: err.Error()}
	case errors.Is(err, ErrUnknownMethod):
		return &Error{Code: CodeUnknownMethod, Message: err.Error()}
	}
	return &Error{Code: CodeInternal, Message: err.Error()}
}
