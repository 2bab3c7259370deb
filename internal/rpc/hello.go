package rpc

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// The hello is a challenge-response: each side proves it holds the
// cluster token without sending it, so a listener that is not the
// cluster's (a socket planted by another local user, a man in the middle
// without the token) learns nothing it could use, and a client finds out
// before it sends anything derived from the token.
//
//	client → server  hello     {v: version, n: client nonce}
//	server → client  hello ack {n: server nonce, p: HMAC(token, "rayo-server" 0 network 0 cn sn)}
//	client → server  hello     {p: HMAC(token, "rayo-client" 0 network 0 cn sn)}
//
// network is "unix" or "tcp", as each end sees the connection: a relay
// from a planted Unix socket to the cluster's TCP port fails the check.
// A client that cannot verify the server's proof answers with an error
// frame instead of its own proof. The server sends nothing on success, so
// calls follow the client's proof at once (a dial costs one round trip);
// it refuses a wrong proof with a hello ack carrying the error. Every
// hello frame is read byte-exact from the socket, at most maxHelloFrame
// bytes, before any buffer of a connection is made.

// nonceLen is the size of each side's nonce, and of each proof.
const nonceLen = 32

const (
	serverLabel = "rayo-server"
	clientLabel = "rayo-client"
)

// helloTimeout bounds the hello on the server: a connection that has not
// proved the token by then is closed.
const helloTimeout = 5 * time.Second

// hello is the body of every hello frame; each message sets its fields.
type hello struct {
	Version int    `msgpack:"v,omitempty"`
	Nonce   []byte `msgpack:"n,omitempty"`
	Proof   []byte `msgpack:"p,omitempty"`
}

// helloMAC is a side's proof over both nonces.
func helloMAC(token, label, network string, cn, sn []byte) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(label))
	m.Write([]byte{0})
	m.Write([]byte(network))
	m.Write([]byte{0})
	m.Write(cn)
	m.Write(sn)
	return m.Sum(nil)
}

func newNonce() []byte {
	b := make([]byte, nonceLen)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return b
}

// errNothingSent reports a connection closed before it sent a byte (a
// port probe, or SweepStaleSockets checking a socket): not worth a warning.
var errNothingSent = errors.New("rpc: the connection closed before its hello")

// readHelloFrame reads one frame of at most maxHelloFrame bytes, exactly:
// what follows it stays in the socket for the connection's reader.
func readHelloFrame(nc net.Conn) (*frame, error) {
	var hdr [4]byte
	if n, err := io.ReadFull(nc, hdr[:]); err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return nil, errNothingSent
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxHelloFrame {
		return nil, fmt.Errorf("rpc: hello frame of %d bytes exceeds the %d byte limit", n, maxHelloFrame)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(nc, buf); err != nil {
		return nil, err
	}
	var c conn
	return c.parseFrame(buf)
}

// writeHelloFrame writes one frame straight to the socket.
func writeHelloFrame(nc net.Conn, f *frame, v any) error {
	buf, err := appendFrame(nil, f, v)
	if err != nil {
		return err
	}
	_, err = nc.Write(buf)
	return err
}

// serverHello runs the server's side of the hello on a new connection.
// It returns nil once the client proved the token; the error says why not.
func (s *Server) serverHello(nc net.Conn) error {
	_ = nc.SetDeadline(time.Now().Add(helloTimeout))
	defer func() { _ = nc.SetDeadline(time.Time{}) }()
	f, err := readHelloFrame(nc)
	if errors.Is(err, errLegacyFrame) {
		_, _ = nc.Write(legacyHelloRefusal())
		return fmt.Errorf("reading hello: %w (an older rayo binary)", err)
	}
	if err != nil {
		if errors.Is(err, errNothingSent) {
			return err
		}
		return fmt.Errorf("reading hello: %w", err)
	}
	var h hello
	if f.Type != frameHello || f.Err != nil || Unmarshal(f.Body, &h) != nil {
		return errors.New("first frame is not a hello")
	}
	if h.Version != protocolVersion {
		err := fmt.Errorf("protocol version %d, want %d", h.Version, protocolVersion)
		_ = writeHelloFrame(nc, &frame{Type: frameHelloAck, Err: &Error{Code: CodeBadRequest, Message: err.Error()}}, nil)
		return err
	}
	if len(h.Nonce) != nonceLen {
		_ = writeHelloFrame(nc, &frame{Type: frameHelloAck, Err: &Error{Code: CodeBadRequest, Message: "rpc: hello without a nonce"}}, nil)
		return errors.New("hello without a nonce")
	}
	cn, sn := h.Nonce, newNonce()
	network := nc.LocalAddr().Network()
	if err := writeHelloFrame(nc, &frame{Type: frameHelloAck}, &hello{Nonce: sn, Proof: helloMAC(s.token, serverLabel, network, cn, sn)}); err != nil {
		return fmt.Errorf("answering hello: %w", err)
	}
	f, err = readHelloFrame(nc)
	if err != nil {
		return fmt.Errorf("reading the client's proof: %w", err)
	}
	if f.Type == frameHello && f.Err != nil {
		return errors.New("wrong token (the client could not verify the server's proof)")
	}
	var p hello
	if f.Type != frameHello || Unmarshal(f.Body, &p) != nil {
		return errors.New("second frame is not the client's proof")
	}
	if !hmac.Equal(p.Proof, helloMAC(s.token, clientLabel, network, cn, sn)) {
		_ = writeHelloFrame(nc, &frame{Type: frameHelloAck, Err: &Error{Code: CodeUnauthenticated, Message: ErrUnauthenticated.Error()}}, nil)
		return errors.New("wrong token")
	}
	return nil
}

// helloError is a failed client hello; retry says whether another
// transport to the same server may do better (a dead or wedged Unix
// socket), as opposed to a refusal that TCP would repeat.
type helloError struct {
	err   error
	retry bool
}

func (e *helloError) Error() string { return e.err.Error() }
func (e *helloError) Unwrap() error { return e.err }

// clientHello runs the client's side of the hello on nc, dialed to addr,
// within deadline.
func clientHello(nc net.Conn, addr, token string, deadline time.Time) error {
	_ = nc.SetDeadline(deadline)
	defer func() { _ = nc.SetDeadline(time.Time{}) }()
	cn := newNonce()
	if err := writeHelloFrame(nc, &frame{Type: frameHello}, &hello{Version: protocolVersion, Nonce: cn}); err != nil {
		return &helloError{fmt.Errorf("rpc: hello to %s: %w: %v", addr, ErrClosed, err), true}
	}
	ack, err := readHelloFrame(nc)
	if err != nil {
		// No answer: the connection failed (the peer died, say), or the
		// peer could not read the hello at all.
		hint := ""
		if errors.Is(err, errNothingSent) || errors.Is(err, io.EOF) || errors.Is(err, errLegacyFrame) {
			hint = " (the peer closed the connection at the hello: a rayo binary of another protocol version, or not a rayo port)"
		}
		return &helloError{fmt.Errorf("rpc: hello to %s: %w: %v%s", addr, ErrClosed, err, hint), true}
	}
	if ack.Type != frameHelloAck {
		return &helloError{fmt.Errorf("rpc: hello to %s: %w: the answer is not a hello ack", addr, ErrClosed), true}
	}
	if ack.Err != nil {
		if ack.Err.Code == CodeUnauthenticated {
			return &helloError{fmt.Errorf("rpc: %s: %w", addr, ErrUnauthenticated), false}
		}
		return &helloError{fmt.Errorf("rpc: hello to %s: %w", addr, ack.Err), false}
	}
	var h hello
	if Unmarshal(ack.Body, &h) != nil || len(h.Nonce) != nonceLen {
		return &helloError{fmt.Errorf("rpc: hello to %s: %w: a malformed hello ack", addr, ErrClosed), true}
	}
	network := nc.RemoteAddr().Network()
	if !hmac.Equal(h.Proof, helloMAC(token, serverLabel, network, cn, h.Nonce)) {
		// Say so, so that the server logs a wrong token rather than a
		// client that hung up; nothing derived from the token is sent.
		_ = writeHelloFrame(nc, &frame{Type: frameHello, Err: &Error{Code: CodeUnauthenticated, Message: "the server's proof did not verify"}}, nil)
		return &helloError{fmt.Errorf("rpc: %s: %w (the peer did not prove it holds this token: a wrong token here, or a peer that is not the cluster's)", addr, ErrUnauthenticated), false}
	}
	if err := writeHelloFrame(nc, &frame{Type: frameHello}, &hello{Proof: helloMAC(token, clientLabel, network, cn, h.Nonce)}); err != nil {
		return &helloError{fmt.Errorf("rpc: hello to %s: %w: %v", addr, ErrClosed, err), true}
	}
	return nil
}
