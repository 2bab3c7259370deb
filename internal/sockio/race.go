//go:build race

package sockio

import "sync/atomic"

// ioSync stands for the kernel between a write and the read it leads
// to, for the race detector. The syscall package, in race builds, makes
// every write happen before every later read of the process (its own
// ioSync), so that state a goroutine set before writing a request is
// seen as published to the goroutine that handles the answer another
// process sends back. Raw system calls skip that, so these do it: an
// atomic add before each write, an atomic load after each read.
var ioSync atomic.Uint64

func releaseIO() { ioSync.Add(1) }
func acquireIO() { ioSync.Load() }
