package sockio

import (
	"io"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Read reads into p from the socket behind rc, waiting in the netpoller
// (with the connection's read deadline) while nothing is there. It
// returns io.EOF once the peer has closed its end.
func Read(rc syscall.RawConn, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var errno error
	err := rc.Read(func(fd uintptr) bool {
		n, errno = read(int(fd), p)
		return errno != unix.EAGAIN
	})
	switch {
	case err != nil:
		return 0, err
	case errno != nil:
		return 0, errno
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of p to the socket behind rc, waiting in the
// netpoller (with the connection's write deadline) while it is full.
func Write(rc syscall.RawConn, p []byte) (int, error) {
	var n int
	var errno error
	err := rc.Write(func(fd uintptr) bool {
		for n < len(p) {
			m, e := send(int(fd), p[n:])
			if e == unix.EAGAIN {
				return false
			}
			if e != nil {
				errno = e
				return true
			}
			n += m
		}
		return true
	})
	if err == nil {
		err = errno
	}
	return n, err
}

// WriteFD writes all of p to non-blocking socket fd, which is not in the
// netpoller: when the socket is full it waits in poll(2) (ppoll), a
// blocking system call made the ordinary way (rare: the peer reads as fast as it
// can). Closing fd meanwhile is the caller's to prevent; shutting the
// socket down ends a wait.
func WriteFD(fd int, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := send(fd, p[n:])
		switch err {
		case nil:
			n += m
		case unix.EAGAIN:
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
			if _, err := unix.Poll(pfd, -1); err != nil && err != unix.EINTR {
				return n, err
			}
		default:
			return n, err
		}
	}
	return n, nil
}

// Conn is c reading and writing with Read and Write when it is a stream
// socket (TCP, or Unix of type SOCK_STREAM), c itself otherwise.
func Conn(c net.Conn) net.Conn {
	switch c := c.(type) {
	case *net.TCPConn:
	case *net.UnixConn:
		if c.LocalAddr().Network() != "unix" { // a datagram socket: no EOF at a read of 0
			return c
		}
	default:
		return c
	}
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		return c
	}
	return &rawConn{Conn: c, rc: rc}
}

type rawConn struct {
	net.Conn
	rc syscall.RawConn
}

func (c *rawConn) Read(p []byte) (int, error)  { return Read(c.rc, p) }
func (c *rawConn) Write(p []byte) (int, error) { return Write(c.rc, p) }

// rawRead is read(2) as a raw system call, restarted on EINTR.
func rawRead(fd int, p []byte) (int, error) {
	for {
		n, _, e := syscall.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), nil
	}
}

// rawSend is send(2) with MSG_NOSIGNAL (a closed peer is EPIPE, not a
// signal) as a raw system call, restarted on EINTR.
func rawSend(fd int, p []byte) (int, error) {
	for {
		n, _, e := syscall.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), unix.MSG_NOSIGNAL, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), nil
	}
}

// Readable says whether socket fd has something to read (or is closed),
// without waiting: ppoll(2) with a zero timeout, as a raw system call.
func Readable(fd int) (bool, error) {
	pfd := unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	var ts unix.Timespec
	for {
		n, _, e := syscall.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return false, e
		}
		return n != 0, nil
	}
}
