// Package sockio reads and writes non-blocking sockets with raw system
// calls, bypassing the Go scheduler's system-call bookkeeping.
//
// Why: a Go process that goes idle between messages, as every rayo
// process on a call's path does between calls, lets the runtime's
// monitor thread (sysmon) fall into its deep sleep, and the first system
// call made through syscall.Syscall afterwards wakes it again (a futex
// wake, then two 20 µs naps of its own before it sleeps again). On a
// 2-core virtual machine those wake-ups were a fifth of a synchronous
// Python actor call's time (docs/performance.md, "Python"). A read or
// write of a non-blocking socket never blocks, so the bookkeeping that
// lets sysmon take the processor back from a blocked thread buys
// nothing there: Read and Write make the call raw and wait for the
// socket in the netpoller (syscall.RawConn) when it is not ready;
// WriteFD, for a socket outside the netpoller, waits in poll(2) the
// ordinary way; Readable never waits. Race builds go through the
// syscall package instead (race.go), which the race detector follows.
package sockio
