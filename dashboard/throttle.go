package dashboard

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Failed logins are throttled per client address: the login form, a
// ?token= in the address and the API's Authorization header all count.
// After freeFailures failures in a row (each within failWindow of the
// one before), the client's wrong tokens are answered with 429 for
// baseLockout, doubled at each further failure after a wait, up to
// maxLockout. Only failures are throttled: the right token is always
// accepted, from any client at any time, and clears the record. Every
// loopback client shares 127.0.0.1 and any web page the user opens can
// make the browser send a wrong token to the dashboard, so refusing the
// right one too would let anyone lock the operator (and the CLI) out.
// A blocked client therefore still learns whether a token is right: the
// throttle answers and marks a guessing client, but what defeats
// guessing is the token's 256 random bits (session.NewToken). Logins from another site's page are refused
// before they are checked or counted (auth.go). IPv6 clients count per
// /64, which one host usually has to itself. Behind a reverse proxy
// every client shares the proxy's address.
const (
	freeFailures = 5
	failWindow   = time.Minute
	baseLockout  = time.Second
	maxLockout   = 15 * time.Minute
	// maxClients bounds the table; when it is full, forgotten records go
	// first, then the one whose last failure is oldest.
	maxClients = 4096
)

type failures struct {
	n     int       // failures in a row
	last  time.Time // the latest failure
	until time.Time // refused until then
}

type loginLimiter struct {
	mu      sync.Mutex
	now     func() time.Time // under mu, for the tests' clock
	clients map[netip.Prefix]*failures
}

func newLoginLimiter() *loginLimiter {
	return &loginLimiter{now: time.Now, clients: map[netip.Prefix]*failures{}}
}

// clientKey is the request's client address: the host, or its /64 for
// IPv6.
func clientKey(r *http.Request) netip.Prefix { return addrKey(r.RemoteAddr) }

// addrKey is the client of a remote address (host:port): the host, or
// its /64 for IPv6; the zero Prefix, one bucket, for anything else.
func addrKey(addr string) netip.Prefix {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{} // one bucket for whatever this is
	}
	a = a.Unmap().WithZone("")
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// forgotten reports whether a record no longer counts: no failure for
// failWindow, or for maxLockout once the client has been refused.
func forgotten(f *failures, now time.Time) bool {
	keep := failWindow
	if f.n >= freeFailures {
		keep = maxLockout
	}
	return now.After(f.until) && now.Sub(f.last) > keep
}

// attempt records a login try by client k whose token was right (ok)
// or wrong, and returns how long k must wait (0: none) and whether it
// passes. A right token always passes and forgets k's failures. A wrong
// one while k waits is answered with the wait and not counted; otherwise
// it is counted, which may start a wait for the next try. Counting
// happens under one lock, so that many connections at once cannot all
// slip in before the first failure is counted.
func (l *loginLimiter) attempt(k netip.Prefix, ok bool) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, found := l.clients[k]
	if ok {
		if found {
			delete(l.clients, k) // it knows the token
		}
		return 0, true
	}
	now := l.now()
	if found {
		if d := f.until.Sub(now); d > 0 {
			return d, false
		}
		if forgotten(f, now) {
			delete(l.clients, k)
			f, found = nil, false
		}
	}
	if !found {
		if len(l.clients) >= maxClients {
			l.evictLocked(now)
		}
		f = &failures{}
		l.clients[k] = f
	}
	f.n++
	f.last = now
	if f.n >= freeFailures {
		f.until = now.Add(min(baseLockout<<min(f.n-freeFailures, 20), maxLockout))
	}
	return 0, false
}

func (l *loginLimiter) evictLocked(now time.Time) {
	evict(l.clients, func(f *failures) bool { return forgotten(f, now) }, func(f *failures) time.Time { return f.last })
}
