package pybridge

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseBridgeFDs(t *testing.T) {
	if r, w, err := parseBridgeFDs("3,4"); err != nil || r != 3 || w != 4 {
		t.Fatalf(`parseBridgeFDs("3,4") = %d, %d, %v`, r, w, err)
	}
	for _, bad := range []string{"", "3", "3,", ",4", "3,3", "a,4", "3,4,5", "-1,4"} {
		if _, _, err := parseBridgeFDs(bad); err == nil || !strings.Contains(err.Error(), "RAYO_BRIDGE_FD") {
			t.Errorf("parseBridgeFDs(%q) = %v, want an error naming RAYO_BRIDGE_FD", bad, err)
		}
	}
}

// peer is the Python side's two sockets from bridgePair, as files.
func peer(t *testing.T) (net.Conn, *os.File, *os.File) {
	t.Helper()
	nc, theirs, err := bridgePair()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = nc.Close()
		_ = theirs[0].Close()
		_ = theirs[1].Close()
	})
	return nc, theirs[0], theirs[1]
}

// Frames go each way on their own socket.
func TestBridgePairCarriesBothWays(t *testing.T) {
	nc, in, out := peer(t)
	if _, err := out.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := io.ReadFull(nc, buf); err != nil || string(buf) != "request" {
		t.Fatalf("the Go side read %q, %v", buf, err)
	}
	big := bytes.Repeat([]byte("r"), 1<<20) // more than the socket holds: the write waits for room
	errc := make(chan error, 1)
	go func() {
		_, err := nc.Write(big)
		errc <- err
	}()
	got := make([]byte, len(big))
	if _, err := io.ReadFull(in, got); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("the Python side read %d bytes: %v", len(got), err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// Python going away is the end of the connection for the Go side.
	_ = out.Close()
	if _, err := nc.Read(buf); err != io.EOF {
		t.Fatalf("Read after the peer closed: %v, want EOF", err)
	}
}

// A write blocked on a peer that does not read returns at Close; later
// writes fail with net.ErrClosed.
func TestBridgeConnCloseEndsABlockedWrite(t *testing.T) {
	nc, in, _ := peer(t)
	errc := make(chan error, 1)
	go func() {
		_, err := nc.Write(bytes.Repeat([]byte("w"), 8<<20))
		errc <- err
	}()
	// Wait (in poll, no timeout) until the write's first bytes arrive.
	if _, err := unix.Poll([]unix.PollFd{{Fd: int32(in.Fd()), Events: unix.POLLIN}}, -1); err != nil {
		t.Fatal(err)
	}
	if err := nc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err == nil {
		t.Fatal("a write blocked at Close succeeded")
	}
	if _, err := nc.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v, want net.ErrClosed", err)
	}
}

// The bridge's writing descriptor, handed over by Python without
// close-on-exec, is not inherited by the processes the bridge starts.
func TestBridgeConnWriteEndIsCloseOnExec(t *testing.T) {
	in, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	out, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(in[1])
	defer unix.Close(out[1])
	nc, err := newBridgeConn(in[0], out[0])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	flags, err := unix.FcntlInt(uintptr(out[0]), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Fatalf("the writing descriptor's flags %#x, %v: want FD_CLOEXEC", flags, err)
	}
}
