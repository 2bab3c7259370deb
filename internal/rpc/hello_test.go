package rpc

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// clusterToken is a token as the head makes one: 32 random bytes, hex.
func clusterToken(t *testing.T) (hexToken string, raw []byte) {
	t.Helper()
	raw = make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(raw), raw
}

// withSocketDir points the Unix sockets at a fresh directory for the
// test (dir's mode and owner are the test's to set).
func withSocketDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "s")
	old := unixDir
	unixDir = dir
	t.Cleanup(func() { unixDir = old })
	return dir
}

// plantSocket makes the socket directory dir (mode 0700) and listens on
// addr's Unix socket path in it, as a planter would.
func plantSocket(t *testing.T, dir, addr string) net.Listener {
	t.Helper()
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", UnixPath(addr))
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// byteRecorder keeps every byte a fake listener read.
type byteRecorder struct {
	mu   sync.Mutex
	b    bytes.Buffer
	wg   sync.WaitGroup
	conn int
}

func (r *byteRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.b.Write(p)
}

func (r *byteRecorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.b.Bytes())
}

func (r *byteRecorder) conns() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conn
}

// fakeListener serves ln as a listener that does not hold the token
// would: each connection gets serve, and what it reads is recorded. The
// listener and its goroutines are gone when the test ends.
func fakeListener(t *testing.T, ln net.Listener, serve func(nc net.Conn, rec io.Writer)) *byteRecorder {
	rec := &byteRecorder{}
	rec.wg.Add(1)
	go func() {
		defer rec.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			rec.mu.Lock()
			rec.conn++
			rec.mu.Unlock()
			rec.wg.Add(1)
			go func() {
				defer rec.wg.Done()
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
				serve(nc, rec)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); rec.wg.Wait() })
	return rec
}

// challengeWithoutToken answers a hello as a server that does not hold
// the token can: a well-formed challenge with a proof it made up; then it
// reads all the client sends.
func challengeWithoutToken(nc net.Conn, rec io.Writer) {
	r := io.TeeReader(nc, rec)
	f, err := readHelloFrame(&readConn{Conn: nc, r: r})
	if err != nil || f.Type != frameHello {
		return
	}
	_ = writeHelloFrame(nc, &frame{Type: frameHelloAck}, &hello{Nonce: newNonce(), Proof: newNonce()})
	_, _ = io.Copy(io.Discard, r)
}

// hangUpAfterHello reads the hello and closes: a dead or broken server.
func hangUpAfterHello(nc net.Conn, rec io.Writer) {
	_, _ = readHelloFrame(&readConn{Conn: nc, r: io.TeeReader(nc, rec)})
}

type readConn struct {
	net.Conn
	r io.Reader
}

func (c *readConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func assertNoToken(t *testing.T, what string, got, hexToken, raw []byte) {
	t.Helper()
	if len(got) == 0 {
		t.Fatalf("%s read nothing: the test proves nothing", what)
	}
	if bytes.Contains(got, hexToken) || bytes.Contains(got, raw) {
		t.Fatalf("%s read the token", what)
	}
}

// A listener planted on the head's socket path, in a directory that
// passes every check (the planter runs as this user here), learns
// neither the token nor anything that contains it; a client finds out
// that it does not hold the token before sending anything derived from
// it, and fails with ErrUnauthenticated.
func TestFakeListenerLearnsNothing(t *testing.T) {
	dir := withSocketDir(t)
	token, raw := clusterToken(t)
	_, addr := startServer(t, token, nil) // TCP only: the socket path is the fake's
	ln := plantSocket(t, dir, addr)
	rec := fakeListener(t, ln, challengeWithoutToken)
	if _, err := Dial(context.Background(), addr, token); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("dialing through a listener without the token: %v, want ErrUnauthenticated", err)
	}
	ln.Close()
	rec.wg.Wait()
	assertNoToken(t, "the fake listener", rec.bytes(), []byte(token), raw)
}

// A fake TCP server (on the cluster's address, as a man in the middle
// without the token would be) learns nothing either.
func TestFakeTCPServerLearnsNothing(t *testing.T) {
	token, raw := clusterToken(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := fakeListener(t, ln, challengeWithoutToken)
	if _, err := Dial(context.Background(), ln.Addr().String(), token); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("dialing a server without the token: %v, want ErrUnauthenticated", err)
	}
	ln.Close()
	rec.wg.Wait()
	assertNoToken(t, "the fake server", rec.bytes(), []byte(token), raw)
}

// A planted socket that relays to the cluster's real TCP port (so that
// the real server answers the challenge) gets no connection: each side's
// proof covers the transport it sees, and the client sees a Unix socket.
func TestRelayFromPlantedSocketFails(t *testing.T) {
	dir := withSocketDir(t)
	token, raw := clusterToken(t)
	_, addr := startServer(t, token, nil)
	ln := plantSocket(t, dir, addr)
	rec := fakeListener(t, ln, func(nc net.Conn, rec io.Writer) {
		up, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		defer up.Close()
		go func() { _, _ = io.Copy(nc, up); nc.Close() }()
		_, _ = io.Copy(up, io.TeeReader(nc, rec))
	})
	if _, err := Dial(context.Background(), addr, token); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("dialing through a relay: %v, want ErrUnauthenticated", err)
	}
	ln.Close()
	rec.wg.Wait()
	assertNoToken(t, "the relay", rec.bytes(), []byte(token), raw)
}

// A Unix socket that fails the hello without a verdict (its server died,
// or hangs up) is given up for TCP, and the socket still learned nothing.
func TestBrokenSocketFallsBackToTCP(t *testing.T) {
	dir := withSocketDir(t)
	token, raw := clusterToken(t)
	_, addr := startServer(t, token, nil)
	ln := plantSocket(t, dir, addr)
	rec := fakeListener(t, ln, hangUpAfterHello)
	c, err := Dial(context.Background(), addr, token)
	if err != nil {
		t.Fatalf("dial with a broken socket: %v", err)
	}
	defer c.Close()
	if n := c.c.nc.RemoteAddr().Network(); n != "tcp" {
		t.Fatalf("dialed over %s, want tcp", n)
	}
	var r echoResp
	if err := c.Call(context.Background(), "echo", &echoReq{Text: "x"}, &r); err != nil || r.Text != "x" {
		t.Fatalf("call: %q %v", r.Text, err)
	}
	ln.Close()
	rec.wg.Wait()
	assertNoToken(t, "the broken socket", rec.bytes(), []byte(token), raw)
}

// A server with another token is found out by the client (the server's
// proof does not verify), and a client that skips that check and sends a
// made-up proof is refused by the server, which says so.
func TestWrongTokenRefusedBothWays(t *testing.T) {
	_, addr := startServer(t, "server-token", nil)
	if _, err := Dial(context.Background(), addr, "client-token"); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("client with another token: %v, want ErrUnauthenticated", err)
	}

	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := writeHelloFrame(nc, &frame{Type: frameHello}, &hello{Version: protocolVersion, Nonce: newNonce()}); err != nil {
		t.Fatal(err)
	}
	ch, err := readHelloFrame(nc)
	if err != nil || ch.Type != frameHelloAck || ch.Err != nil {
		t.Fatalf("challenge: %+v %v", ch, err)
	}
	if err := writeHelloFrame(nc, &frame{Type: frameHello}, &hello{Proof: newNonce()}); err != nil {
		t.Fatal(err)
	}
	ack, err := readHelloFrame(nc)
	if err != nil || ack.Type != frameHelloAck || ack.Err == nil || ack.Err.Code != CodeUnauthenticated {
		t.Fatalf("answer to a made-up proof: %+v %v, want an unauthenticated hello ack", ack, err)
	}
	if _, err := nc.Read(make([]byte, 1)); err == nil {
		t.Fatal("the server kept a connection with a made-up proof open")
	}
}

// A hello that comes without a nonce (a binary of protocol 3 sends the
// token instead) is refused with a version error it can read.
func TestProtocol3HelloGetsAVersionError(t *testing.T) {
	_, addr := startServer(t, "tok", nil)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	old := map[string]any{"v": 3, "t": "tok"}
	if err := writeHelloFrame(nc, &frame{Type: frameHello}, old); err != nil {
		t.Fatal(err)
	}
	ack, err := readHelloFrame(nc)
	if err != nil || ack.Err == nil || ack.Err.Code != CodeBadRequest || !bytes.Contains([]byte(ack.Err.Message), []byte("protocol version 3")) {
		t.Fatalf("answer to a protocol 3 hello: %+v %v", ack, err)
	}
}
