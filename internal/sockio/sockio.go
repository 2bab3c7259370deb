package sockio

import (
	"io"
	"net"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A Reader reads a socket in the netpoller with raw system calls. Its
// callback for syscall.RawConn is made once: a closure per call would
// escape and cost three allocations per frame.
type Reader struct {
	mu    sync.Mutex // one Read at a time: the callback's state is shared
	rc    syscall.RawConn
	fn    func(fd uintptr) bool
	p     []byte
	n     int
	errno error
}

// NewReader reads the socket behind rc.
func NewReader(rc syscall.RawConn) *Reader {
	r := &Reader{rc: rc}
	r.fn = r.readOnce
	return r
}

// Read reads into p, waiting in the netpoller (with the connection's
// read deadline) while nothing is there. It returns io.EOF once the peer
// has closed its end.
func (r *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.p, r.n, r.errno = p, 0, nil
	err := r.rc.Read(r.fn)
	n, errno := r.n, r.errno
	r.p = nil
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

func (r *Reader) readOnce(fd uintptr) bool {
	r.n, r.errno = read(int(fd), r.p)
	return r.errno != unix.EAGAIN
}

// A Writer writes a socket in the netpoller with raw system calls (its
// callback made once, as Reader's).
type Writer struct {
	mu    sync.Mutex
	rc    syscall.RawConn
	fn    func(fd uintptr) bool
	p     []byte
	n     int
	errno error
}

// NewWriter writes the socket behind rc.
func NewWriter(rc syscall.RawConn) *Writer {
	w := &Writer{rc: rc}
	w.fn = w.writeSome
	return w
}

// Write writes all of p, waiting in the netpoller (with the connection's
// write deadline) while the socket is full.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.p, w.n, w.errno = p, 0, nil
	err := w.rc.Write(w.fn)
	n := w.n
	if err == nil {
		err = w.errno
	}
	w.p = nil
	return n, err
}

// writeSome sends what the socket takes; false (wait) when it is full.
func (w *Writer) writeSome(fd uintptr) bool {
	for w.n < len(w.p) {
		m, e := send(int(fd), w.p[w.n:])
		if e == unix.EAGAIN {
			return false
		}
		if e != nil {
			w.errno = e
			return true
		}
		w.n += m
	}
	return true
}

// WriteFD writes all of p to non-blocking socket fd, which is not in the
// netpoller: when the socket is full it waits in poll(2) (ppoll), a
// blocking system call made the ordinary way (rare: the peer reads as
// fast as it can). Closing fd meanwhile is the caller's to prevent; shutting the
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
	return &rawConn{Conn: c, r: NewReader(rc), w: NewWriter(rc)}
}

type rawConn struct {
	net.Conn
	r *Reader
	w *Writer
}

func (c *rawConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *rawConn) Write(p []byte) (int, error) { return c.w.Write(p) }

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
