package collective

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// The hello, on a connection from rank d (the dialer) to rank a = d+1
// (the acceptor):
//
//	d → a: magic "RAYOCOL1", d (u32), size (u32), nonce_d (32 bytes)
//	a → d: nonce_a (32), HMAC-SHA256(secret, "accept" | group | d | a | nonce_d | nonce_a)
//	d → a: HMAC-SHA256(secret, "dial" | group | d | a | nonce_d | nonce_a)
//	a → d: 1 (accepted)
//
// Each side proves it holds the group's secret without sending it; the
// labels keep a proof of one side from being replayed as the other's, and
// fresh nonces on both sides keep old proofs from being replayed at all.
// A connection that fails is closed.

const helloMagic = "RAYOCOL1"

// handshakeLimit bounds one incoming hello, so that a connection that
// sends nothing does not hold the accept loop.
const handshakeLimit = 10 * time.Second

func proof(secret []byte, label, group string, d, a int, nd, na []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	m.Write([]byte{0})
	m.Write([]byte(group))
	m.Write([]byte{0})
	var b [8]byte
	binary.LittleEndian.PutUint32(b[:4], uint32(d))
	binary.LittleEndian.PutUint32(b[4:], uint32(a))
	m.Write(b[:])
	m.Write(nd)
	m.Write(na)
	return m.Sum(nil)
}

// ioErr is the error of a handshake whose peer stopped answering: a
// timeout (ErrTimeout) or a lost connection (ErrPeerLost).
func ioErr(group string, rank int, err error) error {
	kind := ErrPeerLost
	if errors.Is(err, os.ErrDeadlineExceeded) {
		kind = ErrTimeout
	}
	return &RankError{Group: group, Op: "join", Rank: rank, Kind: kind, Cause: err}
}

// dialHandshake runs the dialer's side on conn (deadline already set).
func dialHandshake(conn net.Conn, group string, secret []byte, d, a, size int) error {
	authErr := func(cause error) error {
		return &RankError{Group: group, Op: "join", Rank: a, Kind: ErrAuth, Cause: cause}
	}
	hello := make([]byte, 8+4+4+32)
	copy(hello, helloMagic)
	binary.LittleEndian.PutUint32(hello[8:], uint32(d))
	binary.LittleEndian.PutUint32(hello[12:], uint32(size))
	nd := hello[16:]
	rand.Read(nd)
	if _, err := conn.Write(hello); err != nil {
		return &RankError{Group: group, Op: "join", Rank: a, Kind: ErrPeerLost, Cause: err}
	}
	reply := make([]byte, 64)
	if _, err := io.ReadFull(conn, reply); err != nil {
		// No answer at all is a lost or late peer, not a wrong secret.
		return ioErr(group, a, fmt.Errorf("no proof from the acceptor: %w", err))
	}
	na := reply[:32]
	if !hmac.Equal(reply[32:], proof(secret, "accept", group, d, a, nd, na)) {
		return authErr(errors.New("the acceptor's proof is wrong"))
	}
	if _, err := conn.Write(proof(secret, "dial", group, d, a, nd, na)); err != nil {
		return authErr(err)
	}
	var ok [1]byte
	if _, err := io.ReadFull(conn, ok[:]); err != nil || ok[0] != 1 {
		return authErr(fmt.Errorf("refused by the acceptor: %v", err))
	}
	return nil
}

// acceptHandshake runs the acceptor's side; it expects rank d.
func acceptHandshake(conn net.Conn, group string, secret []byte, d, a, size int) error {
	hello := make([]byte, 8+4+4+32)
	if _, err := io.ReadFull(conn, hello); err != nil {
		return err
	}
	if string(hello[:8]) != helloMagic {
		return errors.New("not a collective hello")
	}
	if got := int(binary.LittleEndian.Uint32(hello[8:])); got != d {
		return fmt.Errorf("hello from rank %d, expected %d", got, d)
	}
	if got := int(binary.LittleEndian.Uint32(hello[12:])); got != size {
		return fmt.Errorf("hello for size %d, expected %d", got, size)
	}
	nd := hello[16:]
	reply := make([]byte, 32, 64)
	rand.Read(reply)
	na := reply[:32]
	reply = append(reply, proof(secret, "accept", group, d, a, nd, na)...)
	if _, err := conn.Write(reply); err != nil {
		return err
	}
	got := make([]byte, sha256.Size)
	if _, err := io.ReadFull(conn, got); err != nil {
		return err
	}
	if !hmac.Equal(got, proof(secret, "dial", group, d, a, nd, na)) {
		return ErrAuth
	}
	_, err := conn.Write([]byte{1})
	return err
}

// acceptPrev accepts connections until one from rank-1 passes the
// handshake; the others are closed. It ends when ln is closed.
// maxHandshakes bounds the handshakes in progress at once on a member's
// listener.
const maxHandshakes = 16

func acceptPrev(ln net.Listener, c *Comm, secret []byte, deadline time.Time) (net.Conn, error) {
	prev := (c.rank + c.size - 1) % c.size
	// Each connection's handshake runs on its own, so that one that says
	// nothing (a stray or hostile client) does not hold up the member's
	// own: the first that proves the secret wins; the others are closed.
	won := make(chan net.Conn, 1)
	stop := make(chan struct{})
	var mu sync.Mutex
	pending := map[net.Conn]bool{}
	var wg sync.WaitGroup
	defer func() {
		close(stop)
		mu.Lock()
		for conn := range pending {
			_ = conn.SetDeadline(time.Unix(1, 0)) // ends its handshake now
		}
		mu.Unlock()
		wg.Wait()
	}()
	accepted := make(chan net.Conn)
	acceptErr := make(chan error, 1)
	// Not waited for: it ends when the caller closes the listener, which
	// it does once this returns.
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				acceptErr <- err
				return
			}
			select {
			case accepted <- conn:
			case <-stop:
				conn.Close()
				return
			}
		}
	}()
	for {
		select {
		case conn := <-won:
			return conn, nil
		case err := <-acceptErr:
			select {
			case conn := <-won: // a handshake that finished as the listener closed
				return conn, nil
			default:
			}
			return nil, err
		case conn := <-accepted:
			mu.Lock()
			busy := len(pending) >= maxHandshakes
			mu.Unlock()
			if busy {
				conn.Close()
				continue
			}
			dl := time.Now().Add(handshakeLimit)
			if deadline.Before(dl) {
				dl = deadline
			}
			_ = conn.SetDeadline(dl)
			mu.Lock()
			pending[conn] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := acceptHandshake(conn, c.group, secret, prev, c.rank, c.size)
				mu.Lock()
				delete(pending, conn)
				mu.Unlock()
				if err == nil {
					select {
					case won <- conn:
						return
					default: // another won first
					}
				}
				conn.Close()
			}()
		}
	}
}
