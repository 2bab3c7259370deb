package rpc

import (
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
