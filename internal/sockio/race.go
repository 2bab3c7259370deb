//go:build race

package sockio

import "syscall"

// In race builds the reads and writes go through the syscall package,
// whose Read and Write tell the race detector what they touch and make
// every write happen before every later read of the process (its
// ioSync): state a goroutine set before writing a request is then seen
// as published to the goroutine that handles what another process sends
// back. Raw calls would hide both from the detector. A write to a closed
// peer is EPIPE here too (Go ignores SIGPIPE on sockets).

func read(fd int, p []byte) (int, error) { return restarted(syscall.Read, fd, p) }
func send(fd int, p []byte) (int, error) { return restarted(syscall.Write, fd, p) }

// restarted is call(fd, p), again while it is interrupted (EINTR).
func restarted(call func(int, []byte) (int, error), fd int, p []byte) (int, error) {
	for {
		n, err := call(fd, p)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		return n, nil
	}
}
