package pybridge

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
)

// socketPair makes the connected pair a Go process and its Python peer
// share: this side's net.Conn and the other end as a file to hand to a
// child (close it here once the child has it).
func socketPair() (net.Conn, *os.File, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("rayo: a socket pair for Python: %w", err)
	}
	mine := os.NewFile(uintptr(fds[0]), "rayo-bridge")
	theirs := os.NewFile(uintptr(fds[1]), "rayo-bridge-peer")
	nc, err := net.FileConn(mine)
	_ = mine.Close() // FileConn holds its own descriptor
	if err != nil {
		_ = theirs.Close()
		return nil, nil, fmt.Errorf("rayo: a socket pair for Python: %w", err)
	}
	return nc, theirs, nil
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
