package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Client is one authenticated connection to a server. It is safe for
// concurrent use; calls are multiplexed.
type Client struct {
	c      *conn
	addr   string
	nextID atomic.Uint64

	mu      sync.Mutex
	pending map[uint64]chan *frame
	async   map[uint64]func([]byte, error)
	err     error
	done    chan struct{}
}

// DialTimeout bounds connection set-up, hello included.
const DialTimeout = 10 * time.Second

// unixHelloTimeout bounds the hello over a Unix socket: a socket whose
// server no longer accepts (a wedged or dying process) is given up for
// TCP well within DialTimeout.
const unixHelloTimeout = 3 * time.Second

// Dial connects to addr and authenticates with token. Within a machine it
// tries the server's Unix socket first (see unix.go), and falls back to
// TCP when the socket is missing, not private, refuses the connection or
// fails the hello; a refused token is not retried.
func Dial(ctx context.Context, addr, token string, opts ...Option) (*Client, error) {
	nc, err := dialConn(ctx, addr, token, opts)
	if err != nil {
		return nil, err
	}
	return newClient(nc, addr), nil
}

// dialConn opens a connection to addr and runs the hello on it, as Dial
// describes.
func dialConn(ctx context.Context, addr, token string, opts []Option) (net.Conn, error) {
	deadline := time.Now().Add(DialTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if nc := dialUnix(ctx, addr); nc != nil {
		ud := time.Now().Add(unixHelloTimeout)
		if deadline.Before(ud) {
			ud = deadline
		}
		err := clientHello(nc, addr, token, ud)
		if err == nil {
			return nc, nil
		}
		_ = nc.Close()
		var he *helloError
		if !errors.As(err, &he) || !he.retry || ctx.Err() != nil {
			return nil, err
		}
	}
	d := net.Dialer{Deadline: deadline}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("rpc: dial %s: %w", addr, err)
	}
	tuneTCP(nc)
	if o := applyOptions(opts); o.tls != nil {
		if nc, err = dialTLS(ctx, nc, o.tls, addr); err != nil {
			return nil, err
		}
	}
	if err := clientHello(nc, addr, token, deadline); err != nil {
		_ = nc.Close()
		return nil, tlsRefusal(nc, err)
	}
	return nc, nil
}

// newClient serves calls on a connection whose hello succeeded.
func newClient(nc net.Conn, addr string) *Client {
	cl := &Client{c: newConn(nc), addr: addr, pending: map[uint64]chan *frame{}, async: map[uint64]func([]byte, error){}, done: make(chan struct{})}
	go cl.readLoop()
	return cl
}

// Addr is the address the client dialed.
func (cl *Client) Addr() string { return cl.addr }

// Done is closed when the connection is gone.
func (cl *Client) Done() <-chan struct{} { return cl.done }

// Close closes the connection; calls in flight fail with ErrClosed.
func (cl *Client) Close() error {
	return cl.c.nc.Close()
}

func (cl *Client) readLoop() {
	var err error
	for {
		var f *frame
		f, err = cl.c.recv()
		if err != nil {
			break
		}
		if f.Type == frameHelloAck && f.Err != nil {
			// The server refused the hello after this side's proof went
			// out (calls may follow the proof at once).
			err = f.Err
			break
		}
		if f.Type != frameResponse {
			continue
		}
		cl.mu.Lock()
		ch := cl.pending[f.ID]
		delete(cl.pending, f.ID)
		cb := cl.async[f.ID]
		delete(cl.async, f.ID)
		cl.mu.Unlock()
		if cb != nil {
			if f.Err != nil {
				cb(nil, f.Err)
			} else {
				cb(f.Body, nil)
			}
			continue
		}
		if ch != nil {
			ch <- f
		}
	}
	_ = cl.c.nc.Close()
	cl.mu.Lock()
	var we *Error
	if errors.As(err, &we) {
		cl.err = fmt.Errorf("rpc: %s: %w", cl.addr, we)
	} else {
		cl.err = fmt.Errorf("%w: %s: %v", ErrClosed, cl.addr, err)
	}
	pend, async, cerr := cl.pending, cl.async, cl.err
	cl.pending, cl.async = nil, nil
	cl.mu.Unlock()
	for _, ch := range pend {
		close(ch)
	}
	for _, cb := range async {
		cb(nil, cerr)
	}
	close(cl.done)
}

// msgpackNil is the body of a call without a request value.
var msgpackNil = []byte{0xc0}

var chanPool = sync.Pool{New: func() any { return make(chan *frame, 1) }}

// Call sends req to method, encoded straight into the frame, and decodes
// the reply into resp (which may be nil when the reply is not needed). A
// cancelled ctx abandons the wait; the peer may still run the call.
func (cl *Client) Call(ctx context.Context, method string, req, resp any) error {
	f := &frame{Type: frameRequest, Method: method}
	if req == nil {
		f.Body = msgpackNil
	}
	id := cl.nextID.Add(1)
	f.ID = id
	ch := chanPool.Get().(chan *frame)
	cl.mu.Lock()
	if cl.pending == nil {
		err := cl.err
		cl.mu.Unlock()
		return err
	}
	cl.pending[id] = ch
	cl.mu.Unlock()
	if err := cl.c.sendValue(f, req); err != nil {
		removed := cl.forget(id)
		if errors.Is(err, errEncoding) {
			if removed { // else the close path has closed it: not for reuse
				chanPool.Put(ch)
			}
			return fmt.Errorf("rpc: %s request: %w", method, err)
		}
		_ = cl.c.nc.Close()
		return fmt.Errorf("%w: %s: %v", ErrClosed, cl.addr, err)
	}
	select {
	case reply, ok := <-ch:
		if !ok {
			cl.mu.Lock()
			err := cl.err
			cl.mu.Unlock()
			return err
		}
		chanPool.Put(ch)
		if reply.Err != nil {
			return reply.Err
		}
		if resp != nil && len(reply.Body) > 0 {
			if err := Unmarshal(reply.Body, resp); err != nil {
				return fmt.Errorf("rpc: decoding %s reply: %w", method, err)
			}
		}
		return nil
	case <-ctx.Done():
		cl.forget(id)
		return ctx.Err()
	}
}

// Go sends a call and returns at once: the request is on the connection
// (in order with the caller's earlier sends) when Go returns. done runs
// once, on the connection's reader goroutine, with the reply body or the
// error; it must not block.
func (cl *Client) Go(method string, body []byte, done func(reply []byte, err error)) {
	cl.GoSent(method, body, done)
}

// GoSent is Go that also reports whether the request was written: false
// when the connection was already closed or the write failed, so that the
// peer cannot have run it (done still runs, with the error). A caller may
// then resend it elsewhere without counting a retry.
func (cl *Client) GoSent(method string, body []byte, done func(reply []byte, err error)) bool {
	id := cl.nextID.Add(1)
	cl.mu.Lock()
	if cl.async == nil {
		err := cl.err
		cl.mu.Unlock()
		done(nil, err)
		return false
	}
	cl.async[id] = done
	cl.mu.Unlock()
	if err := cl.c.send(&frame{Type: frameRequest, ID: id, Method: method, Body: body}); err != nil {
		_ = cl.c.nc.Close()
		return false
	}
	return true
}

// forget drops a call's reply channel; it reports whether it was still
// there (the close path closes the channels it finds).
func (cl *Client) forget(id uint64) bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if _, ok := cl.pending[id]; !ok {
		return false
	}
	delete(cl.pending, id)
	return true
}
