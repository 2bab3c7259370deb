package sockio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// unixPair is a connected pair of Unix sockets as net.Conns.
func unixPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]net.Conn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "pair")
		c, err := net.FileConn(f)
		_ = f.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		conns[i] = c
	}
	return conns[0], conns[1]
}

// fdPair is a connected pair of Unix socket descriptors, closed at the
// test's end.
func fdPair(t *testing.T) [2]int {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = unix.Close(fds[0])
		_ = unix.Close(fds[1])
	})
	return [2]int{fds[0], fds[1]}
}

func TestConnReadsAndWritesRaw(t *testing.T) {
	a, b := unixPair(t)
	ra, rb := Conn(a), Conn(b)
	if _, ok := ra.(*rawConn); !ok {
		t.Fatalf("Conn(%T) = %T, want the raw wrapper", a, ra)
	}
	// More than a socket buffer holds: the writer waits for room in the
	// netpoller while the reader drains.
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	errc := make(chan error, 1)
	go func() {
		_, err := ra.Write(want)
		if err == nil {
			err = ra.Close()
		}
		errc <- err
	}()
	got, err := io.ReadAll(rb)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Write: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want the %d written", len(got), len(want))
	}
	// The peer closed: EOF, again.
	if n, err := rb.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("Read after the peer closed = %d, %v; want 0, EOF", n, err)
	}
}

func TestReadHonoursDeadlineAndClose(t *testing.T) {
	a, _ := unixPair(t)
	ra := Conn(a)
	_ = a.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := ra.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past its deadline: %v, want ErrDeadlineExceeded", err)
	}
	_ = a.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() {
		_, err := ra.Read(make([]byte, 8))
		errc <- err
	}()
	_ = a.Close()
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read on a closed connection: %v, want net.ErrClosed", err)
	}
}

func TestWriteToAClosedPeerFails(t *testing.T) {
	a, b := unixPair(t)
	_ = b.Close()
	if _, err := Conn(a).Write([]byte("x")); !errors.Is(err, unix.EPIPE) {
		t.Fatalf("Write to a closed peer: %v, want EPIPE (and no SIGPIPE)", err)
	}
}

func TestOtherConnsAreLeftAlone(t *testing.T) {
	a, _ := net.Pipe()
	defer a.Close()
	if c := Conn(a); c != a {
		t.Fatalf("Conn(net.Pipe) = %T, want it unchanged", c)
	}
}

func TestWriteFDWaitsForRoomAndShutdownEndsTheWait(t *testing.T) {
	fds := fdPair(t)
	if err := unix.SetNonblock(fds[0], true); err != nil {
		t.Fatal(err)
	}
	// A write larger than the socket holds completes once the peer reads.
	want := bytes.Repeat([]byte("x"), 4<<20)
	errc := make(chan error, 1)
	go func() {
		_, err := WriteFD(fds[0], want)
		errc <- err
	}()
	got := make([]byte, 0, len(want))
	buf := make([]byte, 64<<10)
	for len(got) < len(want) {
		n, err := unix.Read(fds[1], buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if err := <-errc; err != nil || !bytes.Equal(got, want) {
		t.Fatalf("WriteFD: %v, %d bytes arrived of %d", err, len(got), len(want))
	}
	// One that waits for a reader that never comes ends at shutdown.
	go func() {
		_, err := WriteFD(fds[0], want)
		errc <- err
	}()
	// Wait (in poll, no timeout) for the writer's first bytes.
	if _, err := unix.Poll([]unix.PollFd{{Fd: int32(fds[1]), Events: unix.POLLIN}}, -1); err != nil {
		t.Fatal(err)
	}
	if err := unix.Shutdown(fds[0], unix.SHUT_RDWR); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, unix.EPIPE) {
		t.Fatalf("WriteFD after shutdown: %v, want EPIPE", err)
	}
}

func TestReadable(t *testing.T) {
	fds := fdPair(t)
	if ready, err := Readable(fds[1]); ready || err != nil {
		t.Fatalf("Readable on an empty socket = %v, %v", ready, err)
	}
	if _, err := unix.Write(fds[0], []byte("x")); err != nil {
		t.Fatal(err)
	}
	if ready, err := Readable(fds[1]); !ready || err != nil {
		t.Fatalf("Readable with a byte waiting = %v, %v", ready, err)
	}
}
