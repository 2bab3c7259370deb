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
	"syscall"
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
	observer  Observer      // see SetObserver
	spares    *spares       // goroutines that take over reading a connection
	done      chan struct{} // closed by Close

	// Connections still in their hello, by peer (see admit).
	hmu       sync.Mutex
	inHello   map[net.Conn]string
	helloPeer map[string]int

	failOnce sync.Once
	failed   chan struct{}
	failErr  error

	refusals *logLimiter // refused connections
	accepts  *logLimiter // failed accepts

	tls *serverTLS // nil: plain TCP (see tls.go)

	streams map[string]StreamHandler // guarded by mu (stream.go)
}

// Caps on connections that have not finished their hello: over them a
// new connection is closed at once, so that a flood of unauthenticated
// connections cannot take every descriptor, nor every slot from the
// cluster's own peers. A TCP peer is its IP address; Unix sockets count
// only against the global cap, since only this user can reach them (the
// socket directory is 0700) and a node's workers start in bursts.
const (
	maxHelloPerPeer = 64
	maxHello        = 1024
)

// Refusals and accept failures are logged one by one up to refusalBurst
// a window, then summed up once per window.
const (
	refusalWindow = time.Minute
	refusalBurst  = 10
)

// NewServer returns a server that admits connections presenting token
// (and, with WithTLS, a certificate of the cluster's CA on TCP).
func NewServer(token string, log *slog.Logger, opts ...Option) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{token: token, log: log, handlers: map[string]Handler{}, ordered: map[string]OrderedHandler{}, peers: map[*Peer]struct{}{},
		spares: newSpares(), done: make(chan struct{}), failed: make(chan struct{}),
		inHello: map[net.Conn]string{}, helloPeer: map[string]int{}}
	if o := applyOptions(opts); o.tls != nil && o.tls.cert != nil {
		s.tls = &serverTLS{t: o.tls}
	}
	s.refusals = newLogLimiter(refusalWindow, refusalBurst, func(n int, w time.Duration) {
		s.log.Warn("rpc: refused connections not logged one by one", "count", n, "window", w.String())
	})
	s.accepts = newLogLimiter(refusalWindow, refusalBurst, func(n int, w time.Duration) {
		s.log.Warn("rpc: accept failures not logged one by one", "count", n, "window", w.String())
	})
	return s
}

// Failed is closed when a listener stopped for a reason other than Close
// (Err says why): the server no longer accepts there, and its owner
// should stop rather than live on unreachable.
func (s *Server) Failed() <-chan struct{} { return s.failed }

// Err is the error that stopped a listener (it wraps
// ErrListenerStopped), or nil.
func (s *Server) Err() error {
	select {
	case <-s.failed:
		return s.failErr
	default:
		return nil
	}
}

func (s *Server) fail(ln net.Listener, err error) error {
	err = fmt.Errorf("%w: %s %s: %w", ErrListenerStopped, ln.Addr().Network(), ln.Addr().String(), err)
	s.log.Error("rpc: a listener stopped", "network", ln.Addr().Network(), "addr", ln.Addr().String(), "err", err)
	s.failOnce.Do(func() {
		s.failErr = err
		close(s.failed)
	})
	return err
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

// Serve accepts connections on ln until Close. It returns nil after
// Close. Temporary accept errors (out of descriptors, a connection
// aborted) are retried after a pause, as net/http does; any other error
// stops the listener for good: Serve returns it, and Failed is closed.
func (s *Server) Serve(ln net.Listener) error {
	ln = s.wrapListener(tunedListener{ln})
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrClosed
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	var pause time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return nil
			}
			if !temporaryAcceptErr(err) {
				return s.fail(ln, err)
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			if s.accepts.allow() {
				s.log.Warn("rpc: accept failed; retrying", "addr", ln.Addr().String(), "err", err, "pause", pause.String())
			}
			t := time.NewTimer(pause)
			select {
			case <-t.C:
			case <-s.done:
				t.Stop()
				return nil
			}
			continue
		}
		pause = 0
		if !s.admit(nc) {
			_ = nc.Close()
			s.refused(nc, errTooManyInHello)
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			s.admitted(nc)
			_ = nc.Close()
			return nil
		}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(nc)
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// temporaryAcceptErr reports an accept error that a later accept may not
// get: descriptors or memory run out, or one connection failed before
// it was accepted (accept(2) passes those on).
func temporaryAcceptErr(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.ECONNRESET,
		syscall.EAGAIN, syscall.EINTR, syscall.EPERM, syscall.EPROTO, syscall.ENETDOWN, syscall.ENOPROTOOPT,
		syscall.EHOSTDOWN, syscall.ENONET, syscall.EHOSTUNREACH, syscall.EOPNOTSUPP, syscall.ENETUNREACH, syscall.ETIMEDOUT:
		return true
	}
	return false
}

// errTooManyInHello is the refusal of a connection over the hello caps.
var errTooManyInHello = errors.New("too many connections still in their hello")

// helloPeerKey is the peer a connection counts against in the per-peer
// cap, "" for none (a Unix socket).
func helloPeerKey(nc net.Conn) string {
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return ""
}

// admit counts nc among the connections in their hello, unless that
// would exceed a cap.
func (s *Server) admit(nc net.Conn) bool {
	key := helloPeerKey(nc)
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if len(s.inHello) >= maxHello || (key != "" && s.helloPeer[key] >= maxHelloPerPeer) {
		return false
	}
	s.inHello[nc] = key
	if key != "" {
		s.helloPeer[key]++
	}
	return true
}

// admitted takes nc off the connections in their hello.
func (s *Server) admitted(nc net.Conn) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	key, ok := s.inHello[nc]
	if !ok {
		return
	}
	delete(s.inHello, nc)
	if key != "" {
		if s.helloPeer[key]--; s.helloPeer[key] <= 0 {
			delete(s.helloPeer, key)
		}
	}
}

// refused logs a refused connection, within the log's rate limit.
func (s *Server) refused(nc net.Conn, reason error) {
	if errors.Is(reason, errNothingSent) {
		s.log.Debug("rpc: connection closed before its hello", "remote", nc.RemoteAddr().String())
		return
	}
	if s.refusals.allow() {
		s.log.Warn("rpc: refused connection", "remote", nc.RemoteAddr().String(), "network", nc.LocalAddr().Network(), "reason", reason.Error())
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
	close(s.done)
	for _, ln := range s.lns {
		_ = ln.Close()
	}
	for p := range s.peers {
		_ = p.c.nc.Close()
	}
	paths := s.unixPaths
	s.mu.Unlock()
	s.hmu.Lock()
	for nc := range s.inHello {
		_ = nc.Close() // not to wait out their hello
	}
	s.hmu.Unlock()
	for _, p := range paths {
		_ = os.Remove(p)
	}
	s.wg.Wait()
	s.spares.close()
	s.refusals.stop()
	s.accepts.stop()
}

// Peer is the server's view of one client connection. Handlers get it from
// their context to tie state (leases, jobs) to the connection's lifetime.
type Peer struct {
	ID         uint64
	RemoteAddr string
	c          *conn
	ctx        context.Context
	cancel     context.CancelFunc

	// certless: a TLS client without a certificate (see tls.go).
	certless bool

	mu      sync.Mutex
	onClose []func()
	done    bool

	// called: a request was read on the connection (only its reader, one
	// goroutine at a time, touches it): a stream must come first.
	called bool
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
	err := s.serverHello(nc)
	s.admitted(nc)
	if err != nil {
		s.refused(nc, err)
		_ = nc.Close()
		return
	}
	// The connection's buffers are made only now, for a peer that proved
	// the token.
	c := newConn(nc)
	ctx, cancel := context.WithCancel(context.Background())
	p := &Peer{ID: s.nextPeer.Add(1), RemoteAddr: nc.RemoteAddr().String(), c: c, cancel: cancel, certless: certlessPeer(nc)}
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
		if p.certless && s.refuseCertless(p, f.Method) {
			s.respond(p, f.ID, nil, errCertificateRequired)
			continue
		}
		s.mu.Lock()
		oh, obs, sh := s.ordered[f.Method], s.observer, s.streams[f.Method]
		s.mu.Unlock()
		first := !p.called
		p.called = true
		if sh != nil {
			if !first {
				s.respond(p, f.ID, nil, errStreamNotFirst)
				continue
			}
			s.serveStream(p, f, sh)
			close(ended)
			return
		}
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

// Lazy is a reply its client does not wait on: the Python driver reads
// the acknowledgement of a batch of submits when it next waits for a
// reply, usually the get of one of the batch's results. It goes out with
// the next frame the server sends on the connection, or within a
// millisecond if none comes, so that the client is woken once for both.
type Lazy struct{ Reply any }

func (s *Server) respond(p *Peer, id uint64, reply any, err error) {
	out := &frame{Type: frameResponse, ID: id}
	if err != nil {
		out.Err = toWire(err)
		reply = nil
	}
	if lz, ok := reply.(Lazy); ok {
		if err = p.c.sendLazy(out, lz.Reply); err == nil {
			return
		}
		reply = lz.Reply
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
