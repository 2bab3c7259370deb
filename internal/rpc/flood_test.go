package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// floodServerEnv makes the test binary a child that serves, with the
// token it names, on TCP and a Unix socket with few descriptors to spare,
// until its stdin closes.
const floodServerEnv = "RAYO_RPC_TEST_FLOOD"

// floodFileLimit is the child's descriptor limit: a few for the runtime
// and its listeners, some twenty for connections.
const floodFileLimit = 32

func floodServerChild() {
	lim := syscall.Rlimit{Cur: floodFileLimit, Max: floodFileLimit}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		os.Exit(2)
	}
	s := NewServer(os.Getenv(floodServerEnv), slog.New(slog.NewTextHandler(os.Stderr, nil)))
	Register(s, "echo", func(_ context.Context, r *echoReq) (*echoResp, error) { return &echoResp{Text: r.Text}, nil })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(2)
	}
	go func() { _ = s.Serve(ln) }()
	addr := ln.Addr().String()
	s.ListenUnix(addr)
	fmt.Fprintf(os.Stderr, "serving tcp=%s unix=%s\n", addr, UnixPath(addr))
	_, _ = io.Copy(io.Discard, os.Stdin)
	s.Close()
	os.Exit(0)
}

// waitFor polls until the output (a child's, or a log; syncBuffer is in
// tls_test.go) holds every one of subs.
func (b *syncBuffer) waitFor(t *testing.T, what string, subs ...string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := b.String()
		all := true
		for _, sub := range subs {
			all = all && strings.Contains(s, sub)
		}
		if all {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s; output so far:\n%s", what, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dialVia connects to the server at addr over network/address (one of
// its listeners) and makes a call.
func dialVia(t *testing.T, network, address, addr, token string) error {
	t.Helper()
	nc, err := net.DialTimeout(network, address, 5*time.Second)
	if err != nil {
		return err
	}
	if err := clientHello(nc, addr, token, time.Now().Add(5*time.Second)); err != nil {
		nc.Close()
		return err
	}
	c := newClient(nc, addr)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var r echoResp
	if err := c.Call(ctx, "echo", &echoReq{Text: network}, &r); err != nil || r.Text != network {
		return fmt.Errorf("call over %s: %q %v", network, r.Text, err)
	}
	return nil
}

// A flood of connections that exhausts the server's descriptors (accept
// fails with EMFILE) and then stops leaves both its listeners serving:
// a normal client then gets through over TCP and over the Unix socket.
func TestDescriptorFloodThenRecovery(t *testing.T) {
	const token = "flood-token"
	var out syncBuffer
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), floodServerEnv+"="+token, "TMPDIR="+t.TempDir())
	child.Stdout, child.Stderr = &out, &out
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = child.Process.Kill(); _ = child.Wait() })
	s := out.waitFor(t, "the server", "serving ")
	var tcpAddr, unixPath string
	if _, err := fmt.Sscanf(s[strings.Index(s, "serving "):], "serving tcp=%s unix=%s", &tcpAddr, &unixPath); err != nil || unixPath == "" {
		t.Fatalf("the child's address: %q %v", s, err)
	}
	if err := dialVia(t, "unix", unixPath, tcpAddr, token); err != nil {
		t.Fatalf("before the flood: %v", err)
	}

	var flood []net.Conn
	defer func() {
		for _, nc := range flood {
			nc.Close()
		}
	}()
	for i := 0; i < 2*floodFileLimit; i++ {
		for _, na := range [][2]string{{"tcp", tcpAddr}, {"unix", unixPath}} {
			nc, err := net.Dial(na[0], na[1])
			if err != nil {
				t.Fatalf("flooding %s: %v", na[0], err)
			}
			flood = append(flood, nc)
		}
	}
	// Both listeners ran out (the server logs each failed accept; before
	// the fix, the failure that stopped the listener).
	out.waitFor(t, "accepts to fail on both listeners", "addr="+tcpAddr, "addr="+unixPath)
	for _, nc := range flood {
		nc.Close()
	}
	flood = nil

	for _, na := range [][2]string{{"tcp", tcpAddr}, {"unix", unixPath}} {
		if err := dialVia(t, na[0], na[1], tcpAddr, token); err != nil {
			t.Fatalf("after the flood, over %s: %v\nserver output:\n%s", na[0], err, out.String())
		}
	}
	if strings.Contains(out.String(), "listener stopped") {
		t.Fatalf("a listener stopped:\n%s", out.String())
	}
}

// Connections still in their hello are capped per TCP peer: over the
// cap a new one is closed at once, while Unix clients still get in; when
// the hellos end, TCP clients get in again. Close does not wait out
// hellos in progress.
func TestHelloCapPerPeer(t *testing.T) {
	withSocketDir(t)
	s, addr := startServer(t, "tok", io.Discard)
	s.ListenUnix(addr)
	var held []net.Conn
	defer func() {
		for _, nc := range held {
			nc.Close()
		}
	}()
	for range maxHelloPerPeer {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, nc)
	}
	waitInHello(t, s, maxHelloPerPeer)

	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetReadDeadline(time.Now().Add(helloTimeout / 2))
	if _, err := nc.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("a connection over the per-peer cap was kept open")
	}
	if err := dialVia(t, "unix", UnixPath(addr), addr, "tok"); err != nil {
		t.Fatalf("a Unix client while a TCP peer is at its cap: %v", err)
	}

	for _, nc := range held {
		nc.Close()
	}
	held = nil
	waitInHello(t, s, 0)
	if err := dialVia(t, "tcp", addr, addr, "tok"); err != nil {
		t.Fatalf("a TCP client after the hellos ended: %v", err)
	}

	// A connection that never says hello does not hold Close up.
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	waitInHello(t, s, 1)
	s.Close()
	_ = idle.SetReadDeadline(time.Now().Add(helloTimeout / 2))
	if _, err := idle.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("Close left a connection in its hello open")
	}
}

func waitInHello(t *testing.T, s *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.hmu.Lock()
		got := len(s.inHello)
		s.hmu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("connections in their hello: %d, want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The global cap counts every connection in its hello, Unix ones too.
func TestHelloCapGlobal(t *testing.T) {
	s := NewServer("tok", slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer s.Close()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	pipe := func() net.Conn {
		a, b := net.Pipe()
		conns = append(conns, a, b)
		return a
	}
	for i := range maxHello {
		if !s.admit(pipe()) {
			t.Fatalf("connection %d refused under the global cap", i)
		}
	}
	over := pipe()
	if s.admit(over) {
		t.Fatal("a connection over the global cap was admitted")
	}
	s.admitted(conns[0])
	if !s.admit(over) {
		t.Fatal("a connection was refused after one left its hello")
	}
}

// scriptedListener returns the errors and connections a test feeds it.
type scriptedListener struct {
	next   chan any // error or net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *scriptedListener) Accept() (net.Conn, error) {
	select {
	case v := <-l.next:
		if err, ok := v.(error); ok {
			return nil, err
		}
		return v.(net.Conn), nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *scriptedListener) Close() error { l.once.Do(func() { close(l.closed) }); return nil }

func (l *scriptedListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// Accept errors from running out of descriptors are waited out; an error
// that is not temporary stops the listener loudly: Serve returns it,
// Failed is closed, and it is logged at Error.
func TestAcceptErrors(t *testing.T) {
	var logs syncBuffer
	s := NewServer("tok", slog.New(slog.NewTextHandler(&logs, nil)))
	defer s.Close()
	Register(s, "echo", func(_ context.Context, r *echoReq) (*echoResp, error) { return &echoResp{Text: r.Text}, nil })
	ln := &scriptedListener{next: make(chan any, 8), closed: make(chan struct{})}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	for range 3 {
		ln.next <- emfile
	}
	a, b := net.Pipe()
	defer a.Close()
	ln.next <- b
	if err := clientHello(a, "pipe", "tok", time.Now().Add(5*time.Second)); err != nil {
		t.Fatalf("hello after accept errors: %v", err)
	}
	c := newClient(a, "pipe")
	var r echoResp
	if err := c.Call(context.Background(), "echo", &echoReq{Text: "up"}, &r); err != nil || r.Text != "up" {
		t.Fatalf("call after accept errors: %q %v", r.Text, err)
	}
	select {
	case <-s.Failed():
		t.Fatal("temporary accept errors failed the server")
	default:
	}

	boom := errors.New("listener broke")
	ln.next <- boom
	var err error
	select {
	case err = <-served:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return on a permanent accept error")
	}
	if !errors.Is(err, boom) || !errors.Is(err, ErrListenerStopped) {
		t.Fatalf("Serve returned %v", err)
	}
	<-s.Failed()
	if !errors.Is(s.Err(), ErrListenerStopped) {
		t.Fatalf("Err: %v", s.Err())
	}
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "rpc: a listener stopped") {
		t.Fatalf("the stop was not logged at Error:\n%s", l)
	}
	if n := strings.Count(logs.String(), "accept failed; retrying"); n != 3 {
		t.Fatalf("accept failures logged: %d, want 3", n)
	}
}

// Refusals past the first few of a window are counted, not logged one by
// one, and the count is logged.
func TestRefusalsAreRateLimited(t *testing.T) {
	var logs syncBuffer
	s, addr := startServer(t, "right", &logs)
	const n = 3 * refusalBurst
	for range n {
		if _, err := Dial(context.Background(), addr, "wrong"); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("wrong token: %v", err)
		}
	}
	s.Close() // waits for every refusal, and writes the summary
	l := logs.String()
	if got := strings.Count(l, "msg=\"rpc: refused connection\""); got != refusalBurst {
		t.Fatalf("refusals logged one by one: %d, want %d\n%s", got, refusalBurst, l)
	}
	if !strings.Contains(l, fmt.Sprintf("refused connections not logged one by one\" count=%d", n-refusalBurst)) {
		t.Fatalf("no summary of the other %d refusals:\n%s", n-refusalBurst, l)
	}
}
