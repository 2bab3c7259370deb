package pybridge

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rayo-dev/rayo/internal/sockio"
)

// A Go process and its Python peer talk over two socket pairs, one per
// direction, not one pair both ways. Linux wakes whoever waits on a Unix
// socket each time its peer frees a frame it read from it (room to
// write, unix_write_space): over one pair, every frame Python read woke
// the Go side's netpoller, and every frame Go read woke the Python
// thread waiting in recv for its reply, each for nothing, a wake-up of a
// sleeping CPU per frame. With one socket per direction only the reading
// ends are waited on; the Go side's writing socket stays outside the
// netpoller (written with raw system calls, internal/sockio) so that
// Python's reads do not wake it either. docs/performance.md ("Python")
// has the figures.

// bridgePair makes the two pairs: this side's connection, and the
// Python side's ends, [read, write], to hand to a child (close them here
// once the child has them).
func bridgePair() (net.Conn, [2]*os.File, error) {
	var theirs [2]*os.File
	in, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, theirs, fmt.Errorf("rayo: a socket pair for Python: %w", err)
	}
	out, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		_ = syscall.Close(in[0])
		_ = syscall.Close(in[1])
		return nil, theirs, fmt.Errorf("rayo: a socket pair for Python: %w", err)
	}
	// Python writes in[1] and reads out[1]; this side reads in[0], writes out[0].
	theirs = [2]*os.File{os.NewFile(uintptr(out[1]), "rayo-bridge-peer-in"), os.NewFile(uintptr(in[1]), "rayo-bridge-peer-out")}
	nc, err := newBridgeConn(in[0], out[0])
	if err != nil {
		_ = theirs[0].Close()
		_ = theirs[1].Close()
		return nil, theirs, err
	}
	return nc, theirs, nil
}

// parseBridgeFDs reads RAYO_BRIDGE_FD's "READ,WRITE": the descriptors
// this process reads its peer's frames from and writes its own to.
func parseBridgeFDs(s string) (r, w int, err error) {
	a, b, ok := strings.Cut(s, ",")
	if ok {
		if r, err = strconv.Atoi(a); err == nil {
			w, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || r < 0 || w < 0 || r == w {
		return 0, 0, fmt.Errorf("RAYO_BRIDGE_FD must name two descriptors, READ,WRITE (got %q): a rayo binary and Python package of the same version share it", s)
	}
	return r, w, nil
}

// newBridgeConn is the connection over descriptor r (read through the
// netpoller) and w (written directly, outside it); it owns both.
func newBridgeConn(r, w int) (net.Conn, error) {
	// Close-on-exec: the processes this one starts (an embedded cluster's
	// daemons and workers, the reaper) must not hold Python's reply socket
	// open, or Python would not see this process end. (r gets a
	// close-on-exec copy from net.FileConn.)
	unix.CloseOnExec(w)
	if err := unix.SetNonblock(w, true); err != nil {
		_ = unix.Close(r)
		_ = unix.Close(w)
		return nil, fmt.Errorf("rayo: python bridge: descriptor %d: %w", w, err)
	}
	rf := os.NewFile(uintptr(r), "rayo-bridge-in")
	nc, err := net.FileConn(rf)
	_ = rf.Close() // FileConn holds its own descriptor
	if err != nil {
		_ = unix.Close(w)
		return nil, fmt.Errorf("rayo: python bridge: descriptor %d: %w", r, err)
	}
	rc, err := nc.(syscall.Conn).SyscallConn()
	if err != nil {
		_ = nc.Close()
		_ = unix.Close(w)
		return nil, fmt.Errorf("rayo: python bridge: descriptor %d: %w", r, err)
	}
	return &bridgeConn{Conn: nc, r: sockio.NewReader(rc), w: w}, nil
}

// bridgeConn reads from its net.Conn and writes to socket w; both with
// raw system calls (internal/sockio). Deadlines apply to reads only.
type bridgeConn struct {
	net.Conn
	r *sockio.Reader // the reading socket's
	// wmu guards w's closing: writers hold it shared, Close exclusively.
	wmu     sync.RWMutex
	w       int
	wClosed bool
}

func (c *bridgeConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *bridgeConn) Write(p []byte) (int, error) {
	c.wmu.RLock()
	defer c.wmu.RUnlock()
	if c.wClosed {
		return 0, net.ErrClosed
	}
	return sockio.WriteFD(c.w, p)
}

// Close shuts the writing socket down before closing it: a write waiting
// for room returns rather than waiting for a reader that may never come.
func (c *bridgeConn) Close() error {
	err := c.Conn.Close()
	c.wmu.RLock()
	if !c.wClosed {
		_ = unix.Shutdown(c.w, unix.SHUT_RDWR)
	}
	c.wmu.RUnlock()
	c.wmu.Lock()
	if !c.wClosed {
		c.wClosed = true
		_ = unix.Close(c.w)
	}
	c.wmu.Unlock()
	return err
}

// newToken is the secret the Python side proves in its hello: the pair
// is private to the two processes, the token keeps the check uniform
// with every other connection.
func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// oneConn is a listener that accepts one connection, then waits for Close.
// ended is closed when the connection closes (the peer went away).
type oneConn struct {
	conn   chan net.Conn
	closed chan struct{}
	ended  chan struct{}
	once   sync.Once
	addr   net.Addr
}

func listenOn(nc net.Conn) *oneConn {
	l := &oneConn{conn: make(chan net.Conn, 1), closed: make(chan struct{}), ended: make(chan struct{}), addr: nc.LocalAddr()}
	l.conn <- &endingConn{Conn: nc, ended: l.ended}
	return l
}

func (l *oneConn) Accept() (net.Conn, error) {
	select {
	case c := <-l.conn:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *oneConn) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *oneConn) Addr() net.Addr { return l.addr }

// endingConn closes ended when the server closes the connection.
type endingConn struct {
	net.Conn
	once  sync.Once
	ended chan struct{}
}

func (c *endingConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.ended) })
	return err
}
