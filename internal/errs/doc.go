// Package errs holds rayo's typed errors and the one table that carries
// them across processes. The public rayo package re-exports them; internal
// packages build them. A TaskError travels as a WireTaskError and is rebuilt
// on the other side so that errors.Is and errors.As work as if the error had
// been raised locally.
package errs
