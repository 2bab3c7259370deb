package rpc

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// staleSocket leaves a Unix socket file at the path of addr, as a
// process killed with it open does.
func staleSocket(t *testing.T, addr string) string {
	t.Helper()
	p := UnixPath(addr)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(p)
	ln, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	t.Cleanup(func() { os.Remove(p) })
	return p
}

// A dead worker's socket file goes; one made after the worker died (a new
// process on the same port) stays.
func TestRemoveStaleSocket(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0") // a port nothing else uses now
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	started := time.Now().Add(-time.Minute)
	p := staleSocket(t, addr)
	RemoveStaleSocket(addr, started, time.Now().Add(time.Second))
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Fatalf("the dead worker's socket is still there (%v)", err)
	}

	exited := time.Now().Add(-time.Second)
	p = staleSocket(t, addr)
	RemoveStaleSocket(addr, started, exited)
	if _, err := os.Lstat(p); err != nil {
		t.Fatalf("a socket made after the worker died was removed: %v", err)
	}
}

// freeAddr is a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// The sweep removes the socket files nobody listens on (a node daemon
// killed with kill -9 leaves its own and its workers'), and keeps a live
// server's and one made too recently to tell.
func TestSweepStaleSockets(t *testing.T) {
	withSocketDir(t)
	s, addr := startServer(t, "tok", nil)
	s.ListenUnix(addr)
	long := time.Now().Add(-time.Hour)
	live := UnixPath(addr)
	dead := staleSocket(t, freeAddr(t))
	fresh := staleSocket(t, freeAddr(t))
	for _, p := range []string{live, dead} {
		if err := os.Chtimes(p, long, long); err != nil {
			t.Fatal(err)
		}
	}
	if n := SweepStaleSockets(); n != 1 {
		t.Fatalf("swept %d sockets, want 1", n)
	}
	if _, err := os.Lstat(dead); !os.IsNotExist(err) {
		t.Fatalf("the dead socket is still there (%v)", err)
	}
	for _, p := range []string{live, fresh} {
		if _, err := os.Lstat(p); err != nil {
			t.Fatalf("%s was swept: %v", p, err)
		}
	}
	c, err := Dial(context.Background(), addr, "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n := c.c.nc.RemoteAddr().Network(); n != "unix" {
		t.Fatalf("after the sweep the live server is reached over %s, want unix", n)
	}
}
