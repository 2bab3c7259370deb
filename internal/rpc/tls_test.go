package rpc

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/internal/pki"
)

// testIdentity is a CA and a TLS identity it issued.
func testIdentity(t testing.TB, ca *pki.CA) *TLS {
	t.Helper()
	cert, key, err := ca.Issue("test")
	if err != nil {
		t.Fatal(err)
	}
	id, err := NewTLS(cert, key, ca.CertPEM())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func testCA(t testing.TB) *pki.CA {
	t.Helper()
	ca, err := pki.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// syncBuffer is a log sink tests read while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startTLSServer serves echo on TCP only (no Unix socket, so that every
// dial takes TCP), with TLS id (nil: plain), signing certificates with
// signer when not nil.
func startTLSServer(t testing.TB, id *TLS, signer CertSigner) (string, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	var opts []Option
	if id != nil {
		opts = append(opts, WithTLS(id))
	}
	s := NewServer("tok", slog.New(slog.NewTextHandler(logs, nil)), opts...)
	Register(s, "echo", func(_ context.Context, r *echoReq) (*echoResp, error) { return &echoResp{Text: r.Text}, nil })
	if signer != nil {
		ServeCertificates(s, signer)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ln) }()
	t.Cleanup(func() { s.Close(); <-done })
	return ln.Addr().String(), logs
}

// relay forwards TCP connections to target and records every byte that
// crosses it, both ways: what someone on the path would read.
type relay struct {
	ln  net.Listener
	mu  sync.Mutex
	rec bytes.Buffer
	wg  sync.WaitGroup
}

func startRelay(t testing.TB, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln}
	var conns []net.Conn
	var cmu sync.Mutex
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			a, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", target)
			if err != nil {
				_ = a.Close()
				continue
			}
			cmu.Lock()
			conns = append(conns, a, b)
			cmu.Unlock()
			r.wg.Add(2)
			go r.pipe(a, b)
			go r.pipe(b, a)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		cmu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		cmu.Unlock()
		r.wg.Wait()
	})
	return r
}

func (r *relay) pipe(dst, src net.Conn) {
	defer r.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.mu.Lock()
			r.rec.Write(buf[:n])
			r.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			_ = dst.Close()
			return
		}
	}
}

func (r *relay) recorded() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.rec.Bytes())
}

func (r *relay) addr() string { return r.ln.Addr().String() }

// TestTLSEncryptsTheConnection: a call over TLS through a relay leaves
// nothing readable in what the relay saw; the same call in plain TCP does
// (so the check can fail).
func TestTLSEncryptsTheConnection(t *testing.T) {
	const marker = "MARKER-7f3a9c-visible-on-the-path"
	ca := testCA(t)
	for _, tc := range []struct {
		name        string
		tls         bool
		wantVisible bool
	}{{"plain", false, true}, {"tls", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			var srvID, cliID *TLS
			var opts []Option
			if tc.tls {
				srvID, cliID = testIdentity(t, ca), testIdentity(t, ca)
				opts = append(opts, WithTLS(cliID))
			}
			addr, _ := startTLSServer(t, srvID, nil)
			r := startRelay(t, addr)
			c, err := Dial(context.Background(), r.addr(), "tok", opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var resp echoResp
			if err := c.Call(context.Background(), "echo", &echoReq{Text: marker}, &resp); err != nil {
				t.Fatal(err)
			}
			if resp.Text != marker {
				t.Fatalf("echo = %q", resp.Text)
			}
			if got := bytes.Count(r.recorded(), []byte(marker)); (got > 0) != tc.wantVisible {
				t.Fatalf("marker seen %d times on the path; want visible=%v", got, tc.wantVisible)
			}
		})
	}
}

// TestTLSRefusesPeersWithoutTheClusterCertificate: the server refuses a
// client without TLS, without a certificate, or with another CA's; the
// client refuses a server of another CA. Each with its typed error.
func TestTLSRefusesPeersWithoutTheClusterCertificate(t *testing.T) {
	ca, other := testCA(t), testCA(t)
	addr, logs := startTLSServer(t, testIdentity(t, ca), nil)
	ctx := context.Background()

	t.Run("plain client", func(t *testing.T) {
		_, err := Dial(ctx, addr, "tok")
		if !errors.Is(err, ErrTLSRequired) {
			t.Fatalf("err = %v, want ErrTLSRequired", err)
		}
	})
	t.Run("client without a certificate", func(t *testing.T) {
		boot := &TLS{fingerprint: ca.Fingerprint()}
		boot.client = boot.clientConfig()
		_, err := Dial(ctx, addr, "tok", WithTLS(boot))
		if !errors.Is(err, ErrCertificateRefused) {
			t.Fatalf("err = %v, want ErrCertificateRefused", err)
		}
	})
	t.Run("client of another CA", func(t *testing.T) {
		// A client with another CA's certificate that trusts the server.
		id := testIdentity(t, other)
		id.roots = x509.NewCertPool()
		id.roots.AppendCertsFromPEM(ca.CertPEM())
		id.client = id.clientConfig()
		_, err := Dial(ctx, addr, "tok", WithTLS(id))
		if !errors.Is(err, ErrCertificateRefused) {
			t.Fatalf("err = %v, want ErrCertificateRefused", err)
		}
		waitLog(t, logs, ErrPeerCertificate.Error())
	})
	t.Run("server of another CA", func(t *testing.T) {
		_, err := Dial(ctx, addr, "tok", WithTLS(testIdentity(t, other)))
		if err == nil {
			t.Fatal("dial succeeded")
		}
		otherAddr, _ := startTLSServer(t, testIdentity(t, other), nil)
		_, err = Dial(ctx, otherAddr, "tok", WithTLS(testIdentity(t, ca)))
		if !errors.Is(err, ErrPeerCertificate) {
			t.Fatalf("err = %v, want ErrPeerCertificate", err)
		}
	})
	t.Run("TLS client, plain server", func(t *testing.T) {
		plainAddr, _ := startTLSServer(t, nil, nil)
		if _, err := Dial(ctx, plainAddr, "tok", WithTLS(testIdentity(t, ca))); err == nil {
			t.Fatal("a TLS client got through to a plain server")
		}
	})
}

func waitLog(t *testing.T, logs *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the server's log never said %q:\n%s", want, logs.String())
		}
		time.Sleep(5 * time.Millisecond) // polling the log, not synchronising
	}
}

// TestJoinTLS: a client that knows the token and the CA's fingerprint
// gets a certificate from the head, then talks to any member; without a
// certificate it may call nothing but the signing method.
func TestJoinTLS(t *testing.T) {
	ca := testCA(t)
	head, _ := startTLSServer(t, testIdentity(t, ca), ca)
	member, _ := startTLSServer(t, testIdentity(t, ca), nil)
	ctx := context.Background()

	id, err := JoinTLS(ctx, head, "tok", ca.Fingerprint(), "node-1")
	if err != nil {
		t.Fatal(err)
	}
	if id.Fingerprint() != ca.Fingerprint() {
		t.Fatalf("joined CA %s, want %s", id.Fingerprint(), ca.Fingerprint())
	}
	for _, addr := range []string{head, member} {
		c, err := Dial(ctx, addr, "tok", WithTLS(id))
		if err != nil {
			t.Fatal(err)
		}
		var resp echoResp
		err = c.Call(ctx, "echo", &echoReq{Text: "hi"}, &resp)
		_ = c.Close()
		if err != nil || resp.Text != "hi" {
			t.Fatalf("echo via %s: %q, %v", addr, resp.Text, err)
		}
	}

	// Without a certificate: the handshake passes at the head, the calls
	// do not (but the signing one).
	boot := &TLS{fingerprint: ca.Fingerprint()}
	boot.client = boot.clientConfig()
	c, err := Dial(ctx, head, "tok", WithTLS(boot))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Call(ctx, "echo", &echoReq{Text: "hi"}, &echoResp{}); !errors.Is(err, ErrCertificateRefused) {
		t.Fatalf("echo without a certificate: %v, want ErrCertificateRefused", err)
	}
	// And a wrong token gets no certificate.
	if _, err := JoinTLS(ctx, head, "wrong", ca.Fingerprint(), "x"); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("join with a wrong token: %v, want ErrUnauthenticated", err)
	}
}

// TestJoinTLSChecksTheFingerprintFirst: a server whose CA is not the one
// the fingerprint names (someone on the path, another cluster) fails the
// join with an error naming both fingerprints, and receives nothing of
// the hello: no nonce, no proof derived from the token.
func TestJoinTLSChecksTheFingerprintFirst(t *testing.T) {
	ca, fake := testCA(t), testCA(t)
	id := testIdentity(t, fake)
	cfg := id.serverConfig(true)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(nc) // the handshake, then whatever the client sends
		got <- b
	}()
	defer ln.Close()

	_, err = JoinTLS(context.Background(), ln.Addr().String(), "tok", ca.Fingerprint(), "node")
	var fe *pki.FingerprintError
	if !errors.As(err, &fe) || !errors.Is(err, pki.ErrFingerprintMismatch) {
		t.Fatalf("err = %v, want a *pki.FingerprintError", err)
	}
	if fe.Want != ca.Fingerprint() || fe.Got != fake.Fingerprint() {
		t.Fatalf("error names %s / %s, want %s / %s", fe.Want, fe.Got, ca.Fingerprint(), fake.Fingerprint())
	}
	if !strings.Contains(err.Error(), ca.Fingerprint()) || !strings.Contains(err.Error(), fake.Fingerprint()) {
		t.Fatalf("the message does not name both fingerprints: %v", err)
	}
	if b := <-got; len(b) != 0 {
		t.Fatalf("the fake head read %d bytes of hello", len(b))
	}
}

// TestTLSEnviron: a node hands its identity to a worker through the
// environment, and the worker's copy is gone from its environment once
// read.
func TestTLSEnviron(t *testing.T) {
	id := testIdentity(t, testCA(t))
	for _, kv := range id.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	got, err := TLSFromEnviron()
	if err != nil || got == nil {
		t.Fatalf("TLSFromEnviron: %v, %v", got, err)
	}
	if got.Fingerprint() != id.Fingerprint() {
		t.Fatal("another CA came back")
	}
	if again, err := TLSFromEnviron(); again != nil || err != nil {
		t.Fatalf("the identity is still in the environment: %v, %v", again, err)
	}
	var nilTLS *TLS
	if nilTLS.Environ() != nil {
		t.Fatal("a nil identity has an environment")
	}
}
