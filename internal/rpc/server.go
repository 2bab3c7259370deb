package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Handler serves one method: it decodes body itself (see Register) and
// returns the reply value to encode.
type Handler func(ctx context.Context, body []byte) (any, error)

// Server accepts authenticated connections and dispatches calls to handlers.
type Server struct {
	token string
	log   *slog.Logger

	mu       sync.Mutex
	handlers map[string]Handler
	ordered  map[string]OrderedHandler
	lns      []net.Listener
	peers    map[*Peer]struct{}
	closed   bool
	wg       sync.WaitGroup
	nextPeer atomic.Uint64
	// unixPaths are the sockets ListenUnix made, removed on Close.
	unixPaths []string
	observer  Observer // see SetObserver
	spares    *spares  // goroutines that take over reading a connection
}

// NewServer returns a server that admits connections presenting token.
func NewServer(token string, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	return &Server{token: token, log: log, handlers: map[string]Handler{}, ordered: map[string]OrderedHandler{}, peers: map[*Peer]struct{}{},
		spares: newSpares()}
}

// Handle registers h for method. Registering after Serve is allowed.
func (s *Server) Handle(method string, h Handler) {
	s.mu.Lock()
	s.handlers[method] = h
	s.mu.Unlock()
}

// OrderedHandler serves a method whose calls must start in the order they
// arrived on their connection (actor calls). It runs on the connection's
// reader goroutine, before the next frame is read, so it must not block:
// it queues the work and answers later through reply, exactly once, from
// any goroutine. It may return work to run at once: the server then hands
// reading to a new goroutine and runs the work on this one, saving a
// hand-off on the hot path.
type OrderedHandler func(ctx context.Context, body []byte, reply func(any, error)) (run func())

// HandleOrdered registers an OrderedHandler for method.
func (s *Server) HandleOrdered(method string, h OrderedHandler) {
	s.mu.Lock()
	s.ordered[method] = h
	s.mu.Unlock()
}

// Register registers a typed handler: the request body is decoded into a
// new Req, and a decoding failure is answered with ErrBadRequest.
func Register[Req, Resp any](s *Server, method string, fn func(ctx context.Context, req *Req) (*Resp, error)) {
	s.Handle(method, func(ctx context.Context, body []byte) (any, error) {
		req := new(Req)
		if err := Unmarshal(body, req); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadRequest, method, err)
		}
		return fn(ctx, req)
	})
}

// Serve accepts connections on ln until Close. It returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrClosed
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close()
			return nil
		}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(nc)
	}
}

// Close stops accepting, closes every connection and waits for their
// reader goroutines. Handlers still running see their context cancelled.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for _, ln := range s.lns {
		_ = ln.Close()
	}
	for p := range s.peers {
		_ = p.c.nc.Close()
	}
	paths := s.unixPaths
	s.mu.Unlock()
	for _, p := range paths {
		_ = os.Remove(p)
	}
	s.wg.Wait()
	s.spares.close()
}

// Peer is the server's view of one client connection. Handlers get it from
// their context to tie state (leases, jobs) to the connection's lifetime.
type Peer struct {
	ID         uint64
	RemoteAddr string
	c          *conn
	ctx        context.Context
	cancel     context.CancelFunc

	mu      sync.Mutex
	onClose []func()
	done    bool
}

// OnClose runs f once the connection is gone. If it is already gone, f
// runs at once on its own goroutine, so callers may hold their locks.
func (p *Peer) OnClose(f func()) {
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		go f()
		return
	}
	p.onClose = append(p.onClose, f)
	p.mu.Unlock()
}

// Done is closed when the connection is gone.
func (p *Peer) Done() <-chan struct{} { return p.ctx.Done() }

type peerKey struct{}

// PeerFrom returns the connection a handler's call arrived on, or nil.
func PeerFrom(ctx context.Context) *Peer {
	p, _ := ctx.Value(peerKey{}).(*Peer)
	return p
}

func (s *Server) serveConn(nc net.Conn) {
	defer s.wg.Done()
	c := newConn(nc)
	if err := s.handshake(c); err != nil {
		s.log.Warn("rpc: refused connection", "remote", nc.RemoteAddr().String(), "reason", err.Error())
		_ = nc.Close()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Peer{ID: s.nextPeer.Add(1), RemoteAddr: nc.RemoteAddr().String(), c: c, cancel: cancel}
	p.ctx = context.WithValue(ctx, peerKey{}, p)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		cancel()
		_ = nc.Close()
		return
	}
	s.peers[p] = struct{}{}
	s.mu.Unlock()

	var calls sync.WaitGroup
	ended := make(chan struct{})
	calls.Add(1)
	s.spares.run(func() { s.readLoop(p, &calls, ended) })
	<-ended
	_ = nc.Close()
	cancel()
	s.mu.Lock()
	delete(s.peers, p)
	s.mu.Unlock()
	p.mu.Lock()
	p.done = true
	fs := p.onClose
	p.onClose = nil
	p.mu.Unlock()
	for _, f := range fs {
		f()
	}
	calls.Wait()
}

// readLoop reads requests. On a plain request it hands reading over to
// another goroutine (a spare, or a new one) and runs the handler itself:
// the request is served on the goroutine the network woke, without
// another hand-off, while the connection goes on being read. Ordered
// requests are queued in line.
func (s *Server) readLoop(p *Peer, calls *sync.WaitGroup, ended chan struct{}) {
	defer calls.Done()
	for {
		f, err := p.c.recv()
		if err != nil {
			close(ended)
			return
		}
		if f.Type != frameRequest {
			continue
		}
		s.mu.Lock()
		oh, obs := s.ordered[f.Method], s.observer
		s.mu.Unlock()
		if oh != nil {
			calls.Add(1)
			if run := s.dispatchOrdered(p, f, oh, obs, calls.Done); run != nil {
				calls.Add(1)
				s.spares.run(func() { s.readLoop(p, calls, ended) })
				run()
				return
			}
			continue
		}
		calls.Add(1)
		s.spares.run(func() { s.readLoop(p, calls, ended) })
		s.dispatch(p, f)
		return
	}
}

func (s *Server) handshake(c *conn) error {
	_ = c.nc.SetDeadline(time.Now().Add(10 * time.Second))
	defer func() { _ = c.nc.SetDeadline(time.Time{}) }()
	f, err := c.recvLimit(maxHelloFrame)
	if errors.Is(err, errLegacyFrame) {
		_, _ = c.nc.Write(legacyHelloRefusal())
		return fmt.Errorf("reading hello: %w (an older rayo binary)", err)
	}
	if err != nil {
		return fmt.Errorf("reading hello: %w", err)
	}
	var h hello
	if f.Type != frameHello || Unmarshal(f.Body, &h) != nil {
		return errors.New("first frame is not a hello")
	}
	if h.Version != protocolVersion {
		err := fmt.Errorf("protocol version %d, want %d", h.Version, protocolVersion)
		_ = c.send(&frame{Type: frameHelloAck, Err: &Error{Code: CodeBadRequest, Message: err.Error()}})
		return err
	}
	if !tokenEqual(h.Token, s.token) {
		reason := "wrong token"
		if h.Token == "" {
			reason = "no token"
		}
		_ = c.send(&frame{Type: frameHelloAck, Err: &Error{Code: CodeUnauthenticated, Message: ErrUnauthenticated.Error()}})
		return errors.New(reason)
	}
	return c.send(&frame{Type: frameHelloAck})
}

func (s *Server) dispatch(p *Peer, f *frame) {
	s.mu.Lock()
	h, obs := s.handlers[f.Method], s.observer
	s.mu.Unlock()
	if h == nil {
		s.respond(p, f.ID, nil, fmt.Errorf("%w: %q", ErrUnknownMethod, f.Method))
		return
	}
	var start time.Time
	if obs != nil {
		start = time.Now()
	}
	reply, err := callSafely(p.ctx, h, f.Body)
	s.respond(p, f.ID, reply, err)
	if obs != nil {
		obs(f.Method, time.Since(start), err)
	}
}

func (s *Server) dispatchOrdered(p *Peer, f *frame, h OrderedHandler, obs Observer, done func()) (run func()) {
	var once sync.Once
	var start time.Time
	if obs != nil {
		start = time.Now()
	}
	reply := func(v any, err error) {
		once.Do(func() {
			defer done()
			s.respond(p, f.ID, v, err)
			if obs != nil {
				obs(f.Method, time.Since(start), err)
			}
		})
	}
	defer func() {
		if r := recover(); r != nil {
			reply(nil, &Error{Code: CodeInternal, Message: fmt.Sprintf("rpc: handler panicked: %v", r)})
			run = nil
		}
	}()
	return h(p.ctx, f.Body, reply)
}

func (s *Server) respond(p *Peer, id uint64, reply any, err error) {
	out := &frame{Type: frameResponse, ID: id}
	if err != nil {
		out.Err = toWire(err)
		reply = nil
	}
	err = p.c.sendValue(out, reply)
	if errors.Is(err, errEncoding) {
		out.Err = &Error{Code: CodeInternal, Message: "rpc: encoding reply: " + err.Error()}
		err = p.c.send(out)
	}
	if err != nil {
		_ = p.c.nc.Close()
	}
}

// callSafely turns a handler panic into an error so that one bad request
// cannot take the daemon down.
func callSafely(ctx context.Context, h Handler, body []byte) (reply any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &Error{Code: CodeInternal, Message: fmt.Sprintf("rpc: handler panicked: %v", r)}
		}
	}()
	return h(ctx, body)
}
