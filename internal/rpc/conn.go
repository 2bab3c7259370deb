package rpc

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rayo-dev/rayo/internal/sockio"
)

// maxFrame bounds one frame so that a malformed length prefix cannot make a
// peer allocate without limit. Object chunks stay well below it.
const maxFrame = 256 << 20

// protocolVersion is checked in the hello so that mismatched binaries fail
// with a clear error instead of garbled frames.
//
// 2: hand-written array forms of the hot-path messages (internal/protocol/codec.go).
// 3: a binary frame header instead of a msgpack envelope.
// 4: a challenge-response hello; the token never crosses the wire (hello.go).
const protocolVersion = 4

const (
	frameRequest uint8 = iota + 1
	frameResponse
	frameHello
	frameHelloAck
)

// A frame on the wire is a 4-byte big-endian length of the rest, then a
// fixed header and the payload:
//
//	type (1) | flags (1) | id (8) | method length (2) | method | payload
//
// The payload is the msgpack body, or with flagError an encoded *Error.
// The header is written and read by hand: the envelope of every call must
// cost nothing next to its body.
const (
	frameHeaderLen = 1 + 1 + 8 + 2
	flagError      = 1 << 0
)

type frame struct {
	Type   uint8
	ID     uint64
	Method string
	Body   []byte
	Err    *Error
}

// conn is the framing shared by both ends of a connection.
type conn struct {
	nc net.Conn
	br *bufio.Reader

	wmu     sync.Mutex
	bw      *bufio.Writer
	pending atomic.Int32 // senders waiting for wmu; the last one flushes

	lastMethod string // the method of the previous frame read, reused to spare an allocation
	spin       spinState

	// lazy: a frame sendLazy wrote waits in bw; lazyTimer flushes it
	// after lazyDelay unless another frame's flush takes it first (both
	// under wmu).
	lazy      bool
	lazyTimer *time.Timer
	lazyDelay time.Duration
}

// lazyDelay bounds how long a lazy frame waits for company.
const lazyDelay = time.Millisecond

func newConn(nc net.Conn) *conn {
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	// Sockets are read and written with raw system calls (sockio says why).
	sock := sockio.Conn(nc)
	return &conn{nc: nc, br: bufio.NewReaderSize(sock, 64<<10), bw: bufio.NewWriterSize(sock, 64<<10), lazyDelay: lazyDelay}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// send writes one frame whose payload is f.Body (or f.Err).
func (c *conn) send(f *frame) error { return c.sendValue(f, nil) }

// sendValue writes one frame; a non-nil v is encoded as its body, straight
// into the frame's buffer. Concurrent senders coalesce: only the last
// sender in a burst flushes, so a busy connection makes few syscalls.
func (c *conn) sendValue(f *frame, v any) error {
	bp := bufPool.Get().(*[]byte)
	buf, err := appendFrame((*bp)[:0], f, v)
	if err != nil {
		bufPool.Put(bp)
		return err
	}
	c.pending.Add(1)
	c.wmu.Lock()
	_, err = c.bw.Write(buf)
	if c.pending.Add(-1) == 0 && err == nil {
		err = c.bw.Flush()
		if c.lazy {
			c.lazy = false
			c.lazyTimer.Stop()
		}
	}
	c.wmu.Unlock()
	*bp = buf
	if cap(buf) <= 1<<20 {
		bufPool.Put(bp)
	}
	return err
}

// sendLazy writes a frame its peer does not wait on (see Lazy): it
// leaves with the connection's next frame, or after c.lazyDelay, sparing
// the peer a wake-up of its own for it.
func (c *conn) sendLazy(f *frame, v any) error {
	buf, err := appendFrame(nil, f, v)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.bw.Write(buf); err != nil {
		return err
	}
	if !c.lazy {
		c.lazy = true
		if c.lazyTimer == nil {
			c.lazyTimer = time.AfterFunc(c.lazyDelay, c.flushLazy)
		} else {
			c.lazyTimer.Reset(c.lazyDelay)
		}
	}
	return nil
}

// flushLazy sends a lazy frame no other frame took along.
func (c *conn) flushLazy() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.lazy {
		return
	}
	c.lazy = false
	if err := c.bw.Flush(); err != nil {
		_ = c.nc.Close() // the reader sees the end
	}
}

// appendFrame appends f, length prefix included, to buf.
func appendFrame(buf []byte, f *frame, v any) ([]byte, error) {
	if len(f.Method) > 0xffff {
		return buf, fmt.Errorf("%w: a method name of %d bytes", errEncoding, len(f.Method))
	}
	start := len(buf)
	var flags uint8
	if f.Err != nil {
		flags |= flagError
	}
	buf = append(buf, 0, 0, 0, 0, f.Type, flags)
	buf = binary.BigEndian.AppendUint64(buf, f.ID)
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(f.Method)))
	buf = append(buf, f.Method...)
	var err error
	switch {
	case f.Err != nil:
		buf, err = appendMsgpack(buf, f.Err)
	case v != nil:
		buf, err = appendMsgpack(buf, v)
	default:
		buf = append(buf, f.Body...)
	}
	if err != nil {
		return buf[:start], fmt.Errorf("%w: %w", errEncoding, err)
	}
	n := len(buf) - start - 4
	if n > maxFrame {
		return buf[:start], fmt.Errorf("%w: a frame of %d bytes exceeds the %d byte limit", errEncoding, n, maxFrame)
	}
	binary.BigEndian.PutUint32(buf[start:], uint32(n))
	return buf, nil
}

// maxHelloFrame bounds each frame of the hello, read before the
// token is checked: an unauthenticated peer gets no large buffer, and no
// deeply nested body to decode.
const maxHelloFrame = 4 << 10

// recvGrowStep is how much of a large frame is allocated ahead of the
// bytes that arrived: a length prefix alone reserves no memory.
const recvGrowStep = 1 << 20

// errEncoding marks a frame that could not be encoded: nothing was sent,
// and the connection is still good.
var errEncoding = errors.New("rpc: encoding")

// errLegacyFrame reports a first frame in the msgpack envelope of
// protocol versions 1 and 2 (an older rayo binary).
var errLegacyFrame = errors.New("rpc: a frame of protocol version 2 or older")

// recv reads one frame of at most maxFrame bytes.
func (c *conn) recv() (*frame, error) { return c.recvLimit(maxFrame) }

// recvLimit reads one frame of at most limit bytes. The frame's body
// is a slice of the frame's own buffer.
func (c *conn) recvLimit(limit uint32) (*frame, error) {
	c.awaitFrame()
	var hdr [4]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
		return nil, err
	}
	c.gotFrame()
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
	return c.parseFrame(buf)
}

func (c *conn) parseFrame(buf []byte) (*frame, error) {
	if len(buf) > 0 && buf[0] == 0x95 {
		// A msgpack array of five: the envelope of protocol 1 and 2.
		return nil, errLegacyFrame
	}
	if len(buf) < frameHeaderLen {
		return nil, fmt.Errorf("rpc: malformed frame: %d bytes, shorter than its header", len(buf))
	}
	f := &frame{Type: buf[0], ID: binary.BigEndian.Uint64(buf[2:10])}
	flags := buf[1]
	ml := int(binary.BigEndian.Uint16(buf[10:12]))
	rest := buf[frameHeaderLen:]
	if ml > len(rest) {
		return nil, fmt.Errorf("rpc: malformed frame: a method name of %d bytes in %d", ml, len(rest))
	}
	if m := rest[:ml]; string(m) == c.lastMethod {
		f.Method = c.lastMethod
	} else {
		f.Method = string(m)
		c.lastMethod = f.Method
	}
	payload := rest[ml:]
	if flags&flagError != 0 {
		f.Err = new(Error)
		if err := Unmarshal(payload, f.Err); err != nil {
			return nil, fmt.Errorf("rpc: malformed frame: its error: %w", err)
		}
		return f, nil
	}
	f.Body = payload
	return f, nil
}

// legacyHelloRefusal is a hello ack in the envelope of protocol 2, which
// an older binary can read: it then reports the version mismatch instead
// of a closed connection.
func legacyHelloRefusal() []byte {
	e := &Error{Code: CodeBadRequest, Message: fmt.Sprintf("protocol version 2 or older, want %d (binaries of different rayo versions)", protocolVersion)}
	body, _ := msgpack.Marshal([]any{frameHelloAck, 0, "", nil, e})
	out := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	return append(out, body...)
}

// codecState is a pooled encoder or decoder with the buffer it works on.
type encState struct {
	enc *msgpack.Encoder
	w   sliceWriter
}

type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

func (w *sliceWriter) WriteByte(c byte) error { w.b = append(w.b, c); return nil }

func (w *sliceWriter) WriteString(s string) (int, error) { w.b = append(w.b, s...); return len(s), nil }

var encPool = sync.Pool{New: func() any {
	st := &encState{enc: msgpack.NewEncoder(nil)}
	st.enc.Reset(&st.w)
	st.enc.UseCompactInts(true)
	return st
}}

// appendMsgpack appends the msgpack encoding of v to buf. A value with a
// hand-written form (msgpack.CustomEncoder) is encoded without the
// library's per-type lookup.
func appendMsgpack(buf []byte, v any) ([]byte, error) {
	st := encPool.Get().(*encState)
	st.w.b = buf
	var err error
	if ce, ok := v.(msgpack.CustomEncoder); ok && !isNilPointer(v) {
		err = ce.EncodeMsgpack(st.enc)
	} else {
		err = st.enc.Encode(v)
	}
	buf = st.w.b
	st.w.b = nil
	encPool.Put(st)
	return buf, err
}

func isNilPointer(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

// Marshal encodes v as msgpack, the encoding of every request and reply body.
func Marshal(v any) ([]byte, error) { return appendMsgpack(make([]byte, 0, 128), v) }

type decState struct {
	dec *msgpack.Decoder
	r   bytes.Reader
}

var decPool = sync.Pool{New: func() any {
	st := &decState{dec: msgpack.NewDecoder(nil)}
	st.dec.Reset(&st.r)
	return st
}}

// Unmarshal decodes a msgpack body into v. Unlike msgpack.Unmarshal it
// does not allocate ahead from lengths on the wire, and a value with a
// hand-written form (msgpack.CustomDecoder) is decoded without the
// library's per-type lookup.
func Unmarshal(b []byte, v any) error {
	st := decPool.Get().(*decState)
	st.r.Reset(b)
	var err error
	if cd, ok := v.(msgpack.CustomDecoder); ok && !isNilPointer(v) {
		err = cd.DecodeMsgpack(st.dec)
	} else {
		err = st.dec.Decode(v)
	}
	st.r.Reset(nil)
	decPool.Put(st)
	return err
}
