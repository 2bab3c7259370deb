// Package pybridge connects Python processes to rayo's Go core.
//
// rayo's Python package has no compiled extension: a Python process
// reaches the core through a Go process beside it, over Unix socket
// pairs that only the two share, one per direction (conn.go). The Go
// side is an rpc.Server on that one connection (the same frames and
// token hello as the cluster's own connections); the Python side is its
// only client. Two kinds of connection exist:
//
//   - A Python driver starts `rayo python-bridge` (internal/cli), a rayo
//     driver in its own right, and calls put, get, submit, wait, cancel
//     and the function table through it. ServeDriver serves it.
//   - A worker of a Python job is the rayo binary in worker mode; a task
//     whose name begins with TaskPrefix is Python's, and Executor runs it
//     in a `python -m rayo.worker` child that pulls tasks (py.next) and
//     reaches the worker's runtime with the same calls a driver makes.
//
// Values cross as rayo's value format (docs/encoding.md), references as
// [object ID, owner address] pairs. Each reference handed to Python is
// counted once as a local reference in the Go process; Python releases it
// (py.release) when its ObjectRef is collected, and counts the
// references it finds inside values it decodes (py.add).
package pybridge
