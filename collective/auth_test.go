package collective

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
)

func TestHandshake(t *testing.T) {
	good, bad := []byte("the group's secret"), []byte("another secret")
	for _, tc := range []struct {
		name           string
		dialer, accept []byte
		ok             bool
	}{{"same secret", good, good, true}, {"wrong secret", bad, good, false}} {
		a, b := net.Pipe()
		acc := make(chan error, 1)
		go func() { acc <- acceptHandshake(b, "g", tc.accept, 0, 1, 2) }()
		derr := dialHandshake(a, "g", tc.dialer, 0, 1, 2)
		a.Close()
		aerr := <-acc
		b.Close()
		if tc.ok != (derr == nil) || tc.ok != (aerr == nil) {
			t.Fatalf("%s: dialer %v, acceptor %v", tc.name, derr, aerr)
		}
		if !tc.ok && !errors.Is(derr, ErrAuth) {
			t.Fatalf("%s: the dialer's error %v is not ErrAuth", tc.name, derr)
		}
	}
}

// TestWrongSecret plays rank 0 of a group of 2 by hand against a real rank
// 1: a connection with a bad proof is closed (and rank 1 keeps accepting),
// and a rank 0 that cannot prove the secret makes rank 1's Join fail with
// ErrAuth.
func TestWrongSecret(t *testing.T) {
	ctx := context.Background()
	group := "wrong-secret"
	ns := rayo.KVNamespace(Namespace)
	secret := []byte("0123456789abcdef0123456789abcdef")
	t.Cleanup(func() { _ = DeleteGroup(ctx, group) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sv, _ := json.Marshal(secretRecord{Secret: secret, Size: 2})
	mv, _ := json.Marshal(memberRecord{Addr: ln.Addr().String(), Size: 2})
	for k, v := range map[string][]byte{secretKey(group): sv, memberKey(group, 0): mv} {
		if _, err := rayo.KVPut(ctx, k, v, ns); err != nil {
			t.Fatal(err)
		}
	}
	joined := make(chan error, 1)
	go func() {
		c, err := Join(ctx, group, 1, 2, WithJoinTimeout(time.Minute))
		if c != nil {
			c.Close()
		}
		joined <- err
	}()
	// Rank 1's address, once it is published.
	var addr string
	for backoff := time.Millisecond; ; backoff = min(2*backoff, 50*time.Millisecond) {
		if v, err := rayo.KVGet(ctx, memberKey(group, 1), ns); err == nil {
			var m memberRecord
			if err := json.Unmarshal(v, &m); err != nil {
				t.Fatal(err)
			}
			addr = m.Addr
			break
		}
		time.Sleep(backoff) // polling the store, as Join does
	}

	// A raw connection that claims rank 0 and sends a wrong proof.
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	hello := make([]byte, 48)
	copy(hello, helloMagic)
	binary.LittleEndian.PutUint32(hello[8:], 0)
	binary.LittleEndian.PutUint32(hello[12:], 2)
	if _, err := raw.Write(hello); err != nil {
		t.Fatal(err)
	}
	reply := make([]byte, 64)
	if _, err := io.ReadFull(raw, reply); err != nil {
		t.Fatalf("no reply to the hello: %v", err)
	}
	if _, err := raw.Write(make([]byte, 32)); err != nil { // not the proof
		t.Fatal(err)
	}
	var ok [1]byte
	if n, err := raw.Read(ok[:]); err == nil {
		t.Fatalf("a wrong proof was answered (%d bytes: %v)", n, ok)
	}

	// Rank 1 dials "rank 0" (this test), which answers with a wrong proof.
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := acceptHandshake(conn, group, []byte("not the secret"), 1, 0, 2); err == nil {
		t.Fatal("rank 1 accepted a proof made with another secret")
	}
	if err := <-joined; !errors.Is(err, ErrAuth) {
		t.Fatalf("rank 1's Join: %v, want ErrAuth", err)
	}
}

// A handshake whose peer stops answering is a lost or late peer, not a
// wrong secret.
func TestHandshakeSilenceIsNotAuth(t *testing.T) {
	for _, tc := range []struct {
		cause error
		want  error
	}{
		{fmt.Errorf("read: %w", os.ErrDeadlineExceeded), ErrTimeout},
		{io.EOF, ErrPeerLost},
		{syscall.ECONNRESET, ErrPeerLost},
	} {
		err := ioErr("g", 1, tc.cause)
		if !errors.Is(err, tc.want) || errors.Is(err, ErrAuth) {
			t.Errorf("ioErr(%v) = %v, want %v", tc.cause, err, tc.want)
		}
	}
}

// A connection that never says anything does not hold up the member's
// real predecessor: handshakes run side by side. (Before, the second
// waited for the first's handshake limit.)
func TestIdleConnectionDoesNotHoldTheAccept(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	secret := []byte("0123456789abcdef0123456789abcdef")
	idle, err := net.Dial("tcp", ln.Addr().String()) // accepted first, sends nothing
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	got := make(chan error, 1)
	go func() {
		conn, err := acceptPrev(ln, &Comm{group: "g", rank: 1, size: 2}, secret, time.Now().Add(time.Minute))
		if conn != nil {
			conn.Close()
		}
		got <- err
	}()
	start := time.Now()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	_ = peer.SetDeadline(time.Now().Add(time.Minute))
	if err := dialHandshake(peer, "g", secret, 0, 1, 2); err != nil {
		t.Fatalf("the real predecessor's handshake: %v", err)
	}
	if err := <-got; err != nil {
		t.Fatalf("acceptPrev: %v", err)
	}
	if d := time.Since(start); d > handshakeLimit/2 {
		t.Fatalf("the handshake waited %v behind an idle connection", d)
	}
}
