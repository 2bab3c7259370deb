package dashboard

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// What every request passes before authentication: the response
// headers every answer carries, the Host check against DNS rebinding,
// and a deadline on reading the body; and, below HTTP, caps on
// concurrent connections, in all and per client address.

// Connection defaults (Config.IdleTimeout, Config.BodyTimeout,
// Config.MaxConns, Config.MaxConnsPerIP).
const (
	DefaultIdleTimeout   = time.Minute
	DefaultBodyTimeout   = 30 * time.Second
	DefaultMaxConns      = 256
	DefaultMaxConnsPerIP = 64
	// readHeaderTimeout bounds a request's header, which anyone may send.
	readHeaderTimeout = 10 * time.Second
	maxHeaderBytes    = 64 << 10
	// jobUploadTimeout replaces the body deadline for a job submission,
	// whose working directory may be up to jobs.MaxPackageSize.
	jobUploadTimeout = 30 * time.Minute
)

// contentSecurityPolicy keeps pages to their own origin: no inline
// script or style, nothing from the internet, no framing.
const contentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// guard wraps the authenticated handler with what every request passes
// first.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		// Pages and API answers hold the cluster's state: never stored.
		// The UI's static files relax this (ui.go).
		h.Set("Cache-Control", "no-store")
		if !s.hosts.allowed(r.Host, r.TLS != nil) {
			h.Set("Connection", "close")
			writeError(w, http.StatusMisdirectedRequest, "this dashboard does not answer to the host name in the request "+
				"(a protection against DNS rebinding): use its address, or start the head with "+
				"--dashboard-allowed-host NAME to add a name")
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			// Without a server-wide ReadTimeout (job uploads are long), a
			// client that sends a body slowly would hold its connection
			// for good: bound the body, then lift the bound once it is
			// read, so that it cannot cancel the handler's later work.
			rc := http.NewResponseController(w)
			if err := rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout)); err == nil {
				r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the read deadline when the body has been read.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// hostNames is what the Host header of a request may name.
type hostNames struct {
	ip   net.IP // the listening address's
	port string
	// configured names: name → port ("" for any port).
	extra map[string][]string
}

func newHostNames(addr net.Addr, extra []string) hostNames {
	hn := hostNames{extra: map[string][]string{}}
	if ta, ok := addr.(*net.TCPAddr); ok {
		hn.ip, hn.port = ta.IP, strconv.Itoa(ta.Port)
	}
	for _, e := range extra {
		name, port := splitHost(e, "")
		if name != "" {
			hn.extra[name] = append(hn.extra[name], port)
		}
	}
	return hn
}

// splitHost splits host[:port], lower-cased without a trailing dot or
// IPv6 brackets; port is def when absent.
func splitHost(s, def string) (host, port string) {
	host, port = s, def
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		host = s[1 : len(s)-1]
	}
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), "."), port
}

// allowed reports whether a request's Host header names this server: a
// configured name; the listening IP and port (any IP literal when
// listening on all addresses: a rebinding attack needs a name, which an
// IP literal is not); or localhost, 127.0.0.1 or [::1] when listening on
// loopback (or on all addresses, which includes it).
func (hn hostNames) allowed(hostHeader string, tls bool) bool {
	def := "80"
	if tls {
		def = "443"
	}
	host, port := splitHost(hostHeader, def)
	if host == "" {
		return false
	}
	for _, p := range hn.extra[host] {
		if p == "" || p == port {
			return true
		}
	}
	if hn.ip == nil || port != hn.port {
		return false
	}
	loopbackOK := hn.ip.IsLoopback() || hn.ip.IsUnspecified()
	if host == "localhost" {
		return loopbackOK
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return false
	case ip.Equal(hn.ip), hn.ip.IsUnspecified():
		return true
	default:
		return loopbackOK && ip.IsLoopback()
	}
}

// limitListener caps the connections open at once: past the cap, Accept
// waits for one to close, and new connections wait in the kernel's
// backlog instead of taking a descriptor each. It also caps the
// connections of one client address (an IPv6 client per /64, as the
// login throttle counts them), so that one client cannot take every
// connection: a connection past that cap is closed as soon as it is
// accepted. Errors from Accept pass through unchanged, so net/http still
// backs off and retries the temporary ones (EMFILE).
type limitListener struct {
	net.Listener
	sem       chan struct{}
	perIP     int
	log       *slog.Logger // nil: refusals go unlogged
	done      chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	byClient map[netip.Prefix]int // open connections per client
	lastLog  time.Time            // the latest refusal logged
	unlogged int                  // refusals since, this one included
}

// refusalLogEvery is how often at most a refused connection is logged.
const refusalLogEvery = time.Minute

func newLimitListener(ln net.Listener, n, perIP int, log *slog.Logger) *limitListener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), perIP: perIP, log: log,
		done: make(chan struct{}), byClient: map[netip.Prefix]int{}}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		select {
		case l.sem <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.sem
			return nil, err
		}
		k := addrKey(c.RemoteAddr().String())
		if !l.admit(k, c.RemoteAddr()) {
			_ = c.Close()
			<-l.sem
			continue
		}
		return &limitConn{Conn: c, release: func() { l.release(k) }}, nil
	}
}

// admit counts a connection of client k, unless k is at its cap.
func (l *limitListener) admit(k netip.Prefix, remote net.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byClient[k] < l.perIP {
		l.byClient[k]++
		return true
	}
	l.unlogged++
	if now := time.Now(); l.log != nil && now.Sub(l.lastLog) >= refusalLogEvery {
		l.log.Warn("dashboard: refused connections from a client at its connection cap",
			"remote", remote.String(), "cap", l.perIP, "refused", l.unlogged)
		l.lastLog, l.unlogged = now, 0
	}
	return false
}

// release uncounts a closed connection of client k and frees its slot.
func (l *limitListener) release(k netip.Prefix) {
	l.mu.Lock()
	if l.byClient[k]--; l.byClient[k] <= 0 {
		delete(l.byClient, k)
	}
	l.mu.Unlock()
	<-l.sem
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
