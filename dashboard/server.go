package dashboard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/rayo-dev/rayo/internal/jobs"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// DefaultPort is the dashboard's port unless told otherwise (Ray's).
const DefaultPort = 8265

// Config configures the dashboard server.
type Config struct {
	// Listen is host:port; port 0 takes any free port. If the port is
	// taken and FallbackPort is set, any free port on the host is used.
	Listen       string
	FallbackPort bool
	Token        string
	// TLS is the head's identity, to reach the cluster's daemons over TCP.
	TLS      *rpc.TLS
	HeadAddr string
	// SessionDir is the head's session directory (logs, job working
	// directories).
	SessionDir string
	// MetricsNeedToken makes /metrics ask for the token from loopback
	// too (it always does from other addresses).
	MetricsNeedToken bool
	// AllowedHosts are names besides the listening address (and, on
	// loopback, localhost) that requests may give in their Host header,
	// each "name" (any port: a proxy in front may use its own) or
	// "name:port". Any other name is refused with 421, so that a web page
	// whose name an attacker rebinds to this address cannot read it.
	AllowedHosts []string
	// IdleTimeout closes a keep-alive connection idle this long
	// (default DefaultIdleTimeout).
	IdleTimeout time.Duration
	// BodyTimeout bounds reading a request's body (default
	// DefaultBodyTimeout; a job submission gets longer).
	BodyTimeout time.Duration
	// MaxConns caps the connections open at once (default
	// DefaultMaxConns), and MaxConnsPerIP those of one client address,
	// an IPv6 client per /64 (default DefaultMaxConnsPerIP).
	MaxConns      int
	MaxConnsPerIP int
	// SessionMaxAge and SessionIdle end a browser's session that long
	// after its login, or after it was last used (defaults
	// DefaultSessionMaxAge and DefaultSessionIdle).
	SessionMaxAge time.Duration
	SessionIdle   time.Duration
	Log           *slog.Logger
}

// withDefaults fills in the zero fields.
func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = net.JoinHostPort("127.0.0.1", strconv.Itoa(DefaultPort))
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.BodyTimeout <= 0 {
		c.BodyTimeout = DefaultBodyTimeout
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxConnsPerIP <= 0 {
		c.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	if c.SessionMaxAge <= 0 {
		c.SessionMaxAge = DefaultSessionMaxAge
	}
	if c.SessionIdle <= 0 {
		c.SessionIdle = DefaultSessionIdle
	}
	return c
}

// Server serves the HTTP API and the UI.
type Server struct {
	cfg Config
	// serveWait bounds the wait for Serve's controller (serve_ops.go).
	serveWait time.Duration
	ln        net.Listener
	http      *http.Server
	mux       *http.ServeMux
	conns     *rpc.Pool
	log       *slog.Logger
	// jobs runs submitted jobs (jobs.go); jobsErr says why it is nil.
	jobs    *jobs.Manager
	jobsErr error

	metrics *metricsState

	hosts    hostNames
	sessions *sessions
	limiter  *loginLimiter

	stopOnce sync.Once
	stopping chan struct{}
	wg       sync.WaitGroup
	// stopMu orders a stream's wg.Add after the stopping check against
	// Stop's close and Wait.
	stopMu sync.Mutex
}

// Start listens and serves until Stop.
func Start(cfg Config) (*Server, error) {
	if cfg.Token == "" || cfg.HeadAddr == "" {
		return nil, errors.New("dashboard: the token and the head's address are required")
	}
	cfg = cfg.withDefaults()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil && cfg.FallbackPort {
		host, _, _ := net.SplitHostPort(cfg.Listen)
		cfg.Log.Warn("dashboard port taken; using another", "wanted", cfg.Listen, "err", err)
		ln, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
	}
	if err != nil {
		return nil, fmt.Errorf("dashboard: listen %s: %w", cfg.Listen, err)
	}
	s := &Server{cfg: cfg, ln: ln, mux: http.NewServeMux(), conns: rpc.NewPool(cfg.Token, rpc.WithTLS(cfg.TLS)), log: cfg.Log,
		stopping: make(chan struct{}), hosts: newHostNames(ln.Addr(), cfg.AllowedHosts),
		sessions: newSessions(cfg.SessionMaxAge, cfg.SessionIdle), limiter: newLoginLimiter()}
	s.routes()
	// No ReadTimeout or WriteTimeout: job uploads and log follows are long.
	// The header has a deadline, a body its own (guard.go), an idle
	// keep-alive connection is closed, and one without valid credentials
	// right after its answer (auth.go).
	s.http = &http.Server{Handler: s.guard(s.authenticate(s.mux)), ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout: cfg.IdleTimeout, MaxHeaderBytes: maxHeaderBytes}
	served := newLimitListener(ln, cfg.MaxConns, cfg.MaxConnsPerIP, cfg.Log)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		// Serve retries temporary Accept errors (EMFILE) itself; anything
		// it returns is the end of the dashboard, which must not pass
		// unnoticed.
		if err := s.http.Serve(served); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("dashboard stopped serving", "err", err)
		}
	}()
	s.log.Info("dashboard listening", "url", "http://"+ln.Addr().String())
	return s, nil
}

// routes registers every handler. Each feature keeps its routes in its
// own file.
func (s *Server) routes() {
	s.stateRoutes()
	s.serveRoutes()
	s.taskRoutes()
	s.logRoutes()
	s.metricsRoutes()
	s.uiRoutes()
	s.jobRoutes()
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Stop closes the listener and every connection, and waits for handlers
// that stream (log follows) to end.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.stopMu.Lock()
		close(s.stopping)
		s.stopMu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.http.Shutdown(ctx)
		_ = s.http.Close()
		if s.jobs != nil {
			s.jobs.Close() // the head stops: so do its jobs
		}
		s.wg.Wait()
		s.conns.Close()
	})
}

// head returns a connection to the head.
func (s *Server) head(ctx context.Context) (*rpc.Client, error) {
	return s.conns.Get(ctx, s.cfg.HeadAddr)
}

// call calls the head.
func (s *Server) call(ctx context.Context, method string, req, resp any) error {
	c, err := s.head(ctx)
	if err != nil {
		return fmt.Errorf("%w: %v", errHeadDown, err)
	}
	if err := c.Call(ctx, method, req, resp); err != nil {
		if rpc.CodeOf(err) == "" {
			return fmt.Errorf("%w: %v", errHeadDown, err)
		}
		return err
	}
	return nil
}

var errHeadDown = errors.New("the head is unreachable")

// track registers a long-lived handler (a log follow) that Stop waits
// for; false when the server is stopping.
func (s *Server) track() bool {
	s.stopMu.Lock()
	defer s.stopMu.Unlock()
	select {
	case <-s.stopping:
		return false
	default:
		s.wg.Add(1)
		return true
	}
}
