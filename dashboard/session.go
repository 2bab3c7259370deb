package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// Browser sessions. A browser that logged in holds a random session ID
// in its cookie, never the token: cookies ignore ports, so every other
// server on the same host receives the cookie too, and what it learns
// must be worth little (reads of this dashboard until the session ends,
// which logout or expiry does), not the cluster.

// Session defaults (Config.SessionMaxAge, Config.SessionIdle).
const (
	DefaultSessionMaxAge = 12 * time.Hour
	DefaultSessionIdle   = time.Hour
	// maxSessions bounds the table; the least recently used session
	// goes first when it is full.
	maxSessions = 1024
)

// Cookie names. Over HTTPS the cookie is Secure with the __Host- prefix,
// which the browser accepts only from a secure origin, with Path=/ and
// no Domain: no other host or plain-HTTP page can set or shadow it. The
// dashboard serves plain HTTP on loopback by default, where a browser
// refuses __Host- cookies (they require Secure), so there it uses the
// plain name.
const (
	CookieName       = "rayo_session"
	SecureCookieName = "__Host-rayo_session"
	// legacyCookieName held the raw token before sessions; a login
	// deletes it from the browser.
	legacyCookieName = "rayo_token"
)

type session struct {
	created, seen time.Time
}

// sessions is the server-side table, keyed by a hash of the ID so that
// a map lookup's timing says nothing about the IDs it holds.
type sessions struct {
	mu     sync.Mutex
	now    func() time.Time // under mu, for the tests' clock
	maxAge time.Duration    // absolute lifetime
	idle   time.Duration    // sliding: unused this long, it ends
	byKey  map[[sha256.Size]byte]*session
}

func newSessions(maxAge, idle time.Duration) *sessions {
	return &sessions{now: time.Now, maxAge: maxAge, idle: idle, byKey: map[[sha256.Size]byte]*session{}}
}

// sessionIDLen is the length of an encoded ID (32 random bytes).
var sessionIDLen = base64.RawURLEncoding.EncodedLen(32)

func sessionKey(id string) [sha256.Size]byte { return sha256.Sum256([]byte(id)) }

// create starts a session and returns its ID.
func (t *sessions) create() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand crashes the program instead)
	id := base64.RawURLEncoding.EncodeToString(b[:])
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.byKey) >= maxSessions {
		t.evictLocked(now)
	}
	t.byKey[sessionKey(id)] = &session{created: now, seen: now}
	return id
}

func (t *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.created) >= t.maxAge || now.Sub(s.seen) >= t.idle
}

// evictLocked drops the expired sessions and, if none was, the least
// recently used one.
func (t *sessions) evictLocked(now time.Time) {
	evict(t.byKey, func(s *session) bool { return t.expired(s, now) }, func(s *session) time.Time { return s.seen })
}

// evict drops the entries of m that are gone and, if none was, the one
// last used longest ago (the caps on sessions and on login clients).
func evict[K comparable, V any](m map[K]V, gone func(V) bool, used func(V) time.Time) {
	var oldestKey K
	var oldest time.Time
	found := false
	n := len(m)
	for k, v := range m {
		if gone(v) {
			delete(m, k)
			continue
		}
		if u := used(v); !found || u.Before(oldest) {
			oldestKey, oldest, found = k, u, true
		}
	}
	if len(m) == n && found {
		delete(m, oldestKey)
	}
}

// valid reports whether id is a live session, and marks it used.
func (t *sessions) valid(id string) bool {
	if len(id) != sessionIDLen {
		return false
	}
	k := sessionKey(id)
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.byKey[k]
	if !ok {
		return false
	}
	now := t.now()
	if t.expired(s, now) {
		delete(t.byKey, k)
		return false
	}
	s.seen = now
	return true
}

// remove ends a session (logout).
func (t *sessions) remove(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.byKey, sessionKey(id))
}

// sessionCookieName is the cookie's name for this request's scheme.
func sessionCookieName(r *http.Request) string {
	if r.TLS != nil {
		return SecureCookieName
	}
	return CookieName
}

// sessionID is the session cookie's value, if any.
func sessionID(r *http.Request) string {
	if c, err := r.Cookie(sessionCookieName(r)); err == nil {
		return c.Value
	}
	return ""
}

// startSession creates a session and gives the browser its cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request) {
	id := s.sessions.create()
	http.SetCookie(w, &http.Cookie{Name: sessionCookieName(r), Value: id, Path: "/",
		MaxAge: int(s.sessions.maxAge / time.Second), HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode})
	// A browser that logged in before sessions still holds the token in
	// the old cookie: make it forget it.
	if _, err := r.Cookie(legacyCookieName); err == nil {
		http.SetCookie(w, &http.Cookie{Name: legacyCookieName, Value: "", Path: "/", MaxAge: -1,
			HttpOnly: true, SameSite: http.SameSiteStrictMode})
	}
}

// endSession removes the request's session and deletes its cookie.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) {
	if id := sessionID(r); id != "" {
		s.sessions.remove(id)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookieName(r), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}
