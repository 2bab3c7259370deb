package rpc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// Streams: a connection that carries one request, then raw bytes both
// ways, for bulk data (object transfers between nodes). The connection
// is authenticated by the same hello as any other (and runs inside TLS
// where the cluster does), so a stream is as private as a call; what
// it saves is the framing, the message encoding and the copies they
// make, which at gigabytes per second cost more than the network.
//
// The client opens a new connection, sends the request as its first
// frame, and waits for one response frame. A handler that accepts it
// answers with Accept and then owns the connection: it reads and writes
// raw bytes until it returns, and the connection closes. A handler that
// refuses returns its error before Accept, and the client gets it as a
// call's error.

// StreamHandler serves one stream. req is the request's msgpack body.
type StreamHandler func(ctx context.Context, req []byte, st *Stream) error

// Stream is the server's end of a stream connection.
type Stream struct {
	p        *Peer
	id       uint64
	s        *Server
	accepted bool
}

// Accept answers the request with reply (msgpack), after which Read and
// Write move raw bytes.
func (st *Stream) Accept(reply any) error {
	if st.accepted {
		return errors.New("rpc: a stream accepted twice")
	}
	st.accepted = true
	st.s.respond(st.p, st.id, reply, nil)
	return nil
}

// Read reads raw bytes from the client.
func (st *Stream) Read(b []byte) (int, error) { return st.p.c.br.Read(b) }

// Write writes raw bytes to the client, straight to the socket.
func (st *Stream) Write(b []byte) (int, error) { return st.p.c.nc.Write(b) }

// Conn is the connection, for deadlines.
func (st *Stream) Conn() net.Conn { return st.p.c.nc }

// Peer is the connection's peer (its ID names pins and the like).
func (st *Stream) Peer() *Peer { return st.p }

// HandleStream registers the handler of the streams opened for method.
func (s *Server) HandleStream(method string, h StreamHandler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streams == nil {
		s.streams = map[string]StreamHandler{}
	}
	s.streams[method] = h
}

// errStreamNotFirst refuses a stream request on a connection that
// already carried calls: a stream needs the connection to itself.
var errStreamNotFirst = &Error{Code: CodeBadRequest, Message: "rpc: a stream must be its connection's first request"}

// serveStream runs a stream handler on the connection's reading
// goroutine; the connection ends with it.
func (s *Server) serveStream(p *Peer, f *frame, h StreamHandler) {
	st := &Stream{p: p, id: f.ID, s: s}
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = &Error{Code: CodeInternal, Message: fmt.Sprintf("rpc: stream handler panicked: %v", r)}
			}
		}()
		return h(p.ctx, f.Body, st)
	}()
	if !st.accepted {
		if err == nil {
			err = &Error{Code: CodeInternal, Message: "rpc: the stream handler returned without accepting"}
		}
		s.respond(p, f.ID, nil, err)
	}
}

// maxStreamReply bounds a stream's response frame.
const maxStreamReply = 1 << 20

// DialStream opens a stream for method on the server at addr: it dials
// a new connection (as Dial does), sends req, and decodes the server's
// answer into resp. The connection is then the caller's, for raw bytes;
// the caller closes it. A refusal comes back as the handler's error.
func DialStream(ctx context.Context, addr, token, method string, req, resp any, opts ...Option) (net.Conn, error) {
	nc, err := dialConn(ctx, addr, token, opts)
	if err != nil {
		return nil, err
	}
	if err := openStream(ctx, nc, method, req, resp); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("rpc: stream %s to %s: %w", method, addr, err)
	}
	return nc, nil
}

func openStream(ctx context.Context, nc net.Conn, method string, req, resp any) error {
	deadline := time.Now().Add(DialTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = nc.SetDeadline(deadline)
	defer func() { _ = nc.SetDeadline(time.Time{}) }()
	if err := writeHelloFrame(nc, &frame{Type: frameRequest, ID: 1, Method: method}, req); err != nil {
		return err
	}
	var hdr [4]byte
	if _, err := io.ReadFull(nc, hdr[:]); err != nil {
		return fmt.Errorf("%w: %v", ErrClosed, err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxStreamReply {
		return fmt.Errorf("rpc: a stream reply of %d bytes exceeds the %d byte limit", n, maxStreamReply)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(nc, buf); err != nil {
		return fmt.Errorf("%w: %v", ErrClosed, err)
	}
	var c conn
	f, err := c.parseFrame(buf)
	if err != nil {
		return err
	}
	if f.Type != frameResponse || f.ID != 1 {
		return fmt.Errorf("rpc: a stream's answer is not its response")
	}
	if f.Err != nil {
		return f.Err
	}
	if resp != nil {
		return Unmarshal(f.Body, resp)
	}
	return nil
}

// DialStream opens a stream to addr with the pool's token and options
// (DialStream above); streams are never pooled.
func (p *Pool) DialStream(ctx context.Context, addr, method string, req, resp any) (net.Conn, error) {
	return DialStream(ctx, addr, p.token, method, req, resp, p.opts...)
}
