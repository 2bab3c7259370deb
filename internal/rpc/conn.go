package rpc

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/vmihailenco/msgpack/v5"
)

// maxFrame bounds one frame so that a malformed length prefix cannot make a
// peer allocate without limit. Object chunks stay well below it.
const maxFrame = 256 << 20

// protocolVersion is checked in the hello so that mismatched binaries fail
// with a clear error instead of garbled frames.
const protocolVersion = 2 // 2: hand-written array forms of the hot-path messages (internal/protocol/codec.go)

const (
	frameRequest uint8 = iota + 1
	frameResponse
	frameHello
	frameHelloAck
)

type frame struct {
	_msgpack struct{}           `msgpack:",as_array"`
	Type     uint8              `msgpack:"t"`
	ID       uint64             `msgpack:"i"`
	Method   string             `msgpack:"m"`
	Body     msgpack.RawMessage `msgpack:"b"`
	Err      *Error             `msgpack:"e"`
}

type hello struct {
	Version int    `msgpack:"v"`
	Token   string `msgpack:"t"`
}

// conn is the framing shared by both ends of a connection.
type conn struct {
	nc net.Conn
	br *bufio.Reader

	wmu     sync.Mutex
	bw      *bufio.Writer
	pending atomic.Int32 // senders waiting for wmu; the last one flushes
}

func newConn(nc net.Conn) *conn {
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	return &conn{nc: nc, br: bufio.NewReaderSize(nc, 64<<10), bw: bufio.NewWriterSize(nc, 64<<10)}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// send writes one frame. Concurrent senders coalesce: only the last sender
// in a burst flushes, so a busy connection makes few syscalls.
func (c *conn) send(f *frame) error {
	bp := bufPool.Get().(*[]byte)
	buf := append((*bp)[:0], 0, 0, 0, 0)
	buf, err := appendMsgpack(buf, f)
	if err != nil {
		bufPool.Put(bp)
		return err
	}
	binary.BigEndian.PutUint32(buf[:4], uint32(len(buf)-4))
	c.pending.Add(1)
	c.wmu.Lock()
	_, err = c.bw.Write(buf)
	if c.pending.Add(-1) == 0 && err == nil {
		err = c.bw.Flush()
	}
	c.wmu.Unlock()
	*bp = buf
	if cap(buf) <= 1<<20 {
		bufPool.Put(bp)
	}
	return err
}

// maxHelloFrame bounds the first frame of a connection, read before the
// token is checked: an unauthenticated peer gets no large buffer, and no
// deeply nested body to decode.
const maxHelloFrame = 4 << 10

// recvGrowStep is how much of a large frame is allocated ahead of the
// bytes that arrived: a length prefix alone reserves no memory.
const recvGrowStep = 1 << 20

// recv reads one frame of at most maxFrame bytes.
func (c *conn) recv() (*frame, error) { return c.recvLimit(maxFrame) }

// recvLimit reads one frame of at most limit bytes.
func (c *conn) recvLimit(limit uint32) (*frame, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > limit {
		return nil, fmt.Errorf("rpc: frame of %d bytes exceeds the %d byte limit", n, limit)
	}
	buf := make([]byte, 0, min(n, recvGrowStep))
	for uint32(len(buf)) < n {
		if len(buf) == cap(buf) {
			buf = append(buf[:cap(buf)], make([]byte, min(n-uint32(len(buf)), recvGrowStep))...)[:len(buf)]
		}
		m, err := io.ReadFull(c.br, buf[len(buf):min(uint32(cap(buf)), n)])
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, err
		}
	}
	f := new(frame)
	if err := msgpack.Unmarshal(buf, f); err != nil {
		return nil, fmt.Errorf("rpc: malformed frame: %w", err)
	}
	return f, nil
}

type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

var encPool = sync.Pool{New: func() any {
	e := msgpack.NewEncoder(nil)
	e.UseCompactInts(true)
	return e
}}

// appendMsgpack appends the msgpack encoding of v to buf.
func appendMsgpack(buf []byte, v any) ([]byte, error) {
	w := &sliceWriter{b: buf}
	enc := encPool.Get().(*msgpack.Encoder)
	enc.Reset(w)
	err := enc.Encode(v)
	enc.Reset(nil)
	encPool.Put(enc)
	return w.b, err
}

// Marshal encodes v as msgpack, the encoding of every request and reply body.
func Marshal(v any) ([]byte, error) { return appendMsgpack(nil, v) }

// Unmarshal decodes a msgpack body into v.
func Unmarshal(b []byte, v any) error { return msgpack.Unmarshal(b, v) }
