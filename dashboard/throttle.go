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
// one before), the client is refused with 429 for baseLockout, doubled
// at each further failure up to maxLockout; while refused, its tokens
// are not even checked, so guessing gains nothing. A valid token clears
// the record. IPv6 clients count per /64, which one host usually has to
// itself. Behind a reverse proxy every client shares the proxy's
// address: one guesser throttles all of them.
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
func clientKey(r *http.Request) netip.Prefix {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
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

// attempt runs check, a token comparison, for client k unless k must
// wait; it returns how long (0: check ran) and check's answer. Check
// and record happen under one lock, so that many connections at once
// cannot all slip in before the first failure is counted.
func (l *loginLimiter) attempt(k netip.Prefix, check func() bool) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f, ok := l.clients[k]
	if ok {
		if d := f.until.Sub(now); d > 0 {
			return d, false
		}
		if forgotten(f, now) {
			delete(l.clients, k)
			f, ok = nil, false
		}
	}
	if check() {
		if ok {
			delete(l.clients, k) // it knows the token
		}
		return 0, true
	}
	if !ok {
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
	var oldestKey netip.Prefix
	var oldest *failures
	n := len(l.clients)
	for k, f := range l.clients {
		if forgotten(f, now) {
			delete(l.clients, k)
			continue
		}
		if oldest == nil || f.last.Before(oldest.last) {
			oldestKey, oldest = k, f
		}
	}
	if len(l.clients) == n && oldest != nil {
		delete(l.clients, oldestKey)
	}
}
