package rpc

import (
	"context"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func sockopt(t *testing.T, nc net.Conn, level, opt int) int {
	t.Helper()
	rc, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), level, opt) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}

// Both ends of a TCP connection give up on a vanished peer within about
// a minute: keepalive probes for an idle one, TCP_USER_TIMEOUT for data
// it never acknowledges.
func TestTCPConnectionsDetectVanishedPeers(t *testing.T) {
	_, addr := startServer(t, "tok", nil)
	c, err := Dial(context.Background(), addr, "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.c.nc.(*net.TCPConn); !ok {
		t.Skipf("the client is on a %T, not TCP", c.c.nc)
	}
	check := func(who string, nc net.Conn) {
		t.Helper()
		if v := sockopt(t, nc, unix.SOL_SOCKET, unix.SO_KEEPALIVE); v != 1 {
			t.Errorf("%s: SO_KEEPALIVE %d", who, v)
		}
		if v := sockopt(t, nc, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE); v != int(keepAliveIdle/time.Second) {
			t.Errorf("%s: TCP_KEEPIDLE %d", who, v)
		}
		if v := sockopt(t, nc, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT); v != int(userTimeout/time.Millisecond) {
			t.Errorf("%s: TCP_USER_TIMEOUT %d", who, v)
		}
	}
	check("client", c.c.nc)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	nc, err := tunedListener{ln}.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	check("server", nc)
}
