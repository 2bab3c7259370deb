package dashboard

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/internal/gcs/gcstest"
)

// The attacks of issue 13, item 7 and the HTTP half of item 2, each
// against a real dashboard in front of a real head.

// startDash starts a dashboard with cfg (the token, head and listen
// address filled in) in front of a fresh head.
func startDash(t *testing.T, cfg Config) *Server {
	t.Helper()
	g := gcstest.Start(t, testToken)
	cfg.Listen, cfg.Token, cfg.HeadAddr, cfg.SessionDir, cfg.Log = "127.0.0.1:0", testToken, g.Addr(), t.TempDir(), quiet
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// fakeClock is a clock the tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// useClock makes the server's sessions and login throttle read c.
func useClock(s *Server, c *fakeClock) {
	s.sessions.mu.Lock()
	s.sessions.now = c.now
	s.sessions.mu.Unlock()
	s.limiter.mu.Lock()
	s.limiter.now = c.now
	s.limiter.mu.Unlock()
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// do sends a request and reads its answer.
func do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func login(t *testing.T, base, token, next string) (*http.Response, string) {
	t.Helper()
	form := url.Values{"token": {token}}
	if next != "" {
		form.Set("next", next)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, req)
}

func sessionCookie(t *testing.T, resp *http.Response, name string) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s cookie in %d %v", name, resp.StatusCode, resp.Header["Set-Cookie"])
	return nil
}

// getWith reads path with a cookie (nil: none) and a bearer token ("":
// none).
func getWith(t *testing.T, base, path string, c *http.Cookie, token string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	if c != nil {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, _ := do(t, req)
	return resp
}

func checkSessionCookie(t *testing.T, c *http.Cookie, secure bool) {
	t.Helper()
	if c.Value == "" || strings.Contains(c.Value, testToken) || len(c.Value) != sessionIDLen {
		t.Errorf("cookie %s=%q: want a session ID, not the token", c.Name, c.Value)
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" || c.Secure != secure {
		t.Errorf("cookie %s: HttpOnly=%v SameSite=%v Path=%q Domain=%q Secure=%v", c.Name, c.HttpOnly, c.SameSite, c.Path, c.Domain, c.Secure)
	}
}

func TestSessionCookieHoldsNoToken(t *testing.T) {
	s := startDash(t, Config{})
	base := "http://" + s.Addr()
	resp, _ := login(t, base, testToken, "")
	c := sessionCookie(t, resp, CookieName)
	checkSessionCookie(t, c, false)
	if r := getWith(t, base, "/api/v0/nodes", c, ""); r.StatusCode != http.StatusOK {
		t.Fatalf("read with the session cookie: %d", r.StatusCode)
	}
	// ?token= starts a session the same way.
	resp, _ = do(t, mustRequest(http.MethodGet, base+"/?token="+testToken))
	c2 := sessionCookie(t, resp, CookieName)
	checkSessionCookie(t, c2, false)
	if c2.Value == c.Value {
		t.Error("two logins got the same session ID")
	}
	if loc := resp.Header.Get("Location"); loc != "/" {
		t.Errorf("?token= redirected to %q, want /", loc)
	}
	// A browser that still holds the old token cookie is made to forget it.
	req := mustRequest(http.MethodGet, base+"/api/v0/nodes?token="+testToken)
	req.AddCookie(&http.Cookie{Name: legacyCookieName, Value: testToken})
	resp, _ = do(t, req)
	if old := sessionCookie(t, resp, legacyCookieName); old.MaxAge >= 0 || old.Value != "" {
		t.Errorf("the old token cookie is kept: %+v", old)
	}
	// The old cookie holding the token authenticates nothing any more.
	if r := getWith(t, base, "/api/v0/nodes", &http.Cookie{Name: legacyCookieName, Value: testToken}, ""); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("the token as a cookie: %d, want 401", r.StatusCode)
	}

	// Over HTTPS the cookie is Secure and __Host- prefixed.
	req = httptest.NewRequest(http.MethodPost, "https://"+s.Addr()+"/login", strings.NewReader(url.Values{"token": {testToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = "127.0.0.1:40000"
	req.TLS = &tls.ConnectionState{}
	rec := httptest.NewRecorder()
	s.http.Handler.ServeHTTP(rec, req)
	sc := sessionCookie(t, rec.Result(), SecureCookieName)
	checkSessionCookie(t, sc, true)
}

func mustRequest(method, u string) *http.Request {
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		panic(err)
	}
	return req
}

func TestSessionExpiresAndLogoutEndsIt(t *testing.T) {
	s := startDash(t, Config{SessionMaxAge: time.Hour, SessionIdle: 10 * time.Minute})
	clock := &fakeClock{t: time.Now()}
	useClock(s, clock)
	base := "http://" + s.Addr()
	newSession := func() *http.Cookie {
		resp, _ := login(t, base, testToken, "")
		return sessionCookie(t, resp, CookieName)
	}
	works := func(c *http.Cookie) bool {
		t.Helper()
		switch code := getWith(t, base, "/api/v0/nodes", c, "").StatusCode; code {
		case http.StatusOK:
			return true
		case http.StatusUnauthorized:
			return false
		default:
			t.Fatalf("read with a session cookie: %d", code)
			return false
		}
	}

	// Logout ends the session on the server, not only in the browser.
	c := newSession()
	if !works(c) {
		t.Fatal("a new session does not work")
	}
	req := mustRequest(http.MethodPost, base+"/logout")
	req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	resp, _ := do(t, req)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("logout: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if del := sessionCookie(t, resp, CookieName); del.MaxAge >= 0 {
		t.Errorf("logout keeps the cookie: %+v", del)
	}
	if works(c) {
		t.Fatal("the session works after logout")
	}
	if resp, _ := do(t, mustRequest(http.MethodGet, base+"/logout")); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /logout: %d, want 405", resp.StatusCode)
	}

	// Idle: unused for SessionIdle, it ends; used, it slides.
	c = newSession()
	clock.advance(9 * time.Minute)
	if !works(c) {
		t.Fatal("a session used within its idle time ended")
	}
	clock.advance(9 * time.Minute)
	if !works(c) {
		t.Fatal("the idle timeout does not slide with use")
	}
	clock.advance(10 * time.Minute)
	if works(c) {
		t.Fatal("an idle session still works")
	}

	// Absolute: however busy, it ends SessionMaxAge after the login.
	c = newSession()
	for range 6 { // 54 minutes
		clock.advance(9 * time.Minute)
		if !works(c) {
			t.Fatal("a busy session ended before its lifetime")
		}
	}
	clock.advance(9 * time.Minute)
	if works(c) {
		t.Fatal("a session outlived SessionMaxAge")
	}
}

func TestSessionTableIsBounded(t *testing.T) {
	tab := newSessions(time.Hour, time.Hour)
	first := tab.create()
	for range maxSessions {
		tab.create()
	}
	if n := len(tab.byKey); n > maxSessions {
		t.Fatalf("%d sessions, cap %d", n, maxSessions)
	}
	if tab.valid(first) {
		t.Error("the least recently used session was not evicted")
	}
}

// Each way a next= parameter has been used to leave the origin ends at
// "/"; same-origin paths are kept.
func TestLoginNextIsNeverAnOpenRedirect(t *testing.T) {
	s := startDash(t, Config{})
	base := "http://" + s.Addr()
	bad := []string{
		"//evil", "//evil.example/", "/%09/evil.example/", "/\t/evil.example/", "/\n/evil.example/", "/\r\n/evil",
		`/\evil`, `/\\evil`, `\\evil`, "/%5Cevil", "http://evil", "https:evil", "HTTP://evil", "%2F%2Fevil", "/%2F/evil",
		"javascript:alert(1)", " /evil", "/ /evil", "evil.example", "", "/%zz", "/\u2028/evil", "/\x00/evil",
	}
	for _, next := range bad {
		resp, _ := login(t, base, testToken, next)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Errorf("next=%q: %d to %q, want /", next, resp.StatusCode, resp.Header.Get("Location"))
		}
		// The form carries the cleaned value.
		_, body := do(t, mustRequest(http.MethodGet, base+"/login?next="+url.QueryEscape(next)))
		if !strings.Contains(body, `name="next" value="/"`) {
			t.Errorf("GET /login?next=%q: the form's next is not /: %s", next, body)
		}
	}
	// The link, as a browser would send it.
	resp, _ := do(t, mustRequest(http.MethodGet, base+"/login?next=/%09/evil.example/"))
	resp.Body.Close()
	for _, ok := range []string{"/", "/#/nodes", "/#/nodes/bbbb", "/api/v0/nodes?limit=1", "/ui/style.css"} {
		resp, _ := login(t, base, testToken, ok)
		if resp.Header.Get("Location") != ok {
			t.Errorf("next=%q: to %q, want it kept", ok, resp.Header.Get("Location"))
		}
		u, err := url.Parse(base + "/login")
		if err == nil {
			loc, _ := u.Parse(resp.Header.Get("Location"))
			if loc.Host != s.Addr() {
				t.Errorf("next=%q resolves to host %q", ok, loc.Host)
			}
		}
	}
	// A request path that looks like another host is not followed after
	// ?token= either.
	raw := rawRequest(t, s.Addr(), "GET //evil.example/?token="+testToken+" HTTP/1.1\r\nHost: "+s.Addr()+"\r\n\r\n")
	if loc := raw.resp.Header.Get("Location"); loc != "/" {
		t.Errorf("GET //evil.example/?token=: to %q, want /", loc)
	}
}

// rawConn is a raw HTTP/1.1 connection and the answer to its first
// request.
type rawConn struct {
	conn net.Conn
	br   *bufio.Reader
	resp *http.Response
	body string
}

// rawRequest sends req on a new connection and reads the answer.
func rawRequest(t *testing.T, addr, req string) *rawConn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", req, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return &rawConn{conn: conn, br: br, resp: resp, body: string(b)}
}

// closedByServer reports whether the server closes the connection
// within d (the client sends nothing more).
func (c *rawConn) closedByServer(t *testing.T, d time.Duration) bool {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	_, err := c.br.ReadByte()
	if err == nil {
		t.Fatal("the server sent bytes nobody asked for")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return true
}

func TestForeignHostIsRefused(t *testing.T) {
	s := startDash(t, Config{AllowedHosts: []string{"dash.example", "Proxy.Example.:8443"}})
	_, port, _ := net.SplitHostPort(s.Addr())
	get := func(host, path string) (int, string) {
		req := mustRequest(http.MethodGet, "http://"+s.Addr()+path)
		req.Host = host
		if path != "/metrics" && path != "/login" {
			req.Header.Set("Authorization", "Bearer "+testToken)
		}
		resp, body := do(t, req)
		return resp.StatusCode, body
	}
	paths := []string{"/metrics", "/api/v0/nodes", "/", "/login", "/ui/js/app.js", "/api/jobs/"}
	for _, host := range []string{"evil.example:" + port, "evil.example", "localhost.evil.example:" + port,
		"127.0.0.1:1", "localhost:1", "dash.example.evil", "proxy.example:8444", "10.1.2.3:" + port} {
		for _, p := range paths {
			if code, body := get(host, p); code != http.StatusMisdirectedRequest || !strings.Contains(body, "host name") {
				t.Errorf("Host %q %s: %d %.100s, want 421", host, p, code, body)
			}
		}
	}
	// No Host at all (HTTP/1.0): refused too.
	if c := rawRequest(t, s.Addr(), "GET /metrics HTTP/1.0\r\n\r\n"); c.resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("no Host: %d, want 421", c.resp.StatusCode)
	}
	for _, host := range []string{s.Addr(), "localhost:" + port, "LOCALHOST.:" + port, "[::1]:" + port,
		"dash.example", "dash.example:443", "proxy.example:8443"} {
		for _, p := range paths {
			if code, body := get(host, p); code != http.StatusOK {
				t.Errorf("Host %q %s: %d %.100s, want 200", host, p, code, body)
			}
		}
	}
}

func TestHostNamesOnAllAddresses(t *testing.T) {
	hn := newHostNames(&net.TCPAddr{IP: net.IPv6unspecified, Port: 8265}, nil)
	for host, want := range map[string]bool{
		"192.0.2.7:8265": true, "[2001:db8::1]:8265": true, "localhost:8265": true, "127.0.0.1:8265": true,
		"192.0.2.7:8266": false, "head.example:8265": false, "192.0.2.7": false,
	} {
		if got := hn.allowed(host, false); got != want {
			t.Errorf("listening on all addresses, Host %q: %v, want %v", host, got, want)
		}
	}
	hn = newHostNames(&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 443}, nil)
	for host, want := range map[string]bool{
		"192.0.2.7": false, "localhost:443": false, "127.0.0.1:443": false, "192.0.2.8:443": false,
	} {
		if got := hn.allowed(host, false); got != want {
			t.Errorf("listening on 192.0.2.7:443, Host %q over HTTP: %v, want %v", host, got, want)
		}
	}
	if !hn.allowed("192.0.2.7", true) {
		t.Error("Host 192.0.2.7 over HTTPS on port 443 refused")
	}
}

func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	s := startDash(t, Config{})
	base := "http://" + s.Addr()
	cases := []struct {
		what, path, token, host string
		code                    int
		noStore                 bool
	}{
		{"the app", "/", testToken, "", http.StatusOK, true},
		{"a script", "/ui/js/app.js", testToken, "", http.StatusOK, false},
		{"the login page", "/login", "", "", http.StatusOK, true},
		{"its style sheet", loginCSS, "", "", http.StatusOK, false},
		{"an API list", "/api/v0/nodes", testToken, "", http.StatusOK, true},
		{"metrics", "/metrics", "", "", http.StatusOK, true},
		{"an API error", "/api/v0/nodes/nope", testToken, "", http.StatusNotFound, true},
		{"a missing page", "/nope", testToken, "", http.StatusNotFound, true},
		{"a refusal", "/api/v0/nodes", "wrong", "", http.StatusUnauthorized, true},
		{"a login redirect", "/page", "", "", http.StatusSeeOther, true},
		{"a foreign host", "/api/v0/nodes", testToken, "evil.example", http.StatusMisdirectedRequest, true},
	}
	for _, c := range cases {
		req := mustRequest(http.MethodGet, base+c.path)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		if c.host != "" {
			req.Host = c.host
		}
		resp, body := do(t, req)
		h := resp.Header
		if resp.StatusCode != c.code {
			t.Errorf("%s: %d, want %d", c.what, resp.StatusCode, c.code)
		}
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
			strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: Content-Security-Policy %q", c.what, csp)
		}
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
			if h.Get(k) != v {
				t.Errorf("%s: %s %q, want %q", c.what, k, h.Get(k), v)
			}
		}
		if c.noStore && h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", c.what, h.Get("Cache-Control"))
		}
		// The Content-Security-Policy allows no inline script or style:
		// pages must have none.
		if strings.Contains(h.Get("Content-Type"), "html") &&
			(strings.Contains(body, "<style") || strings.Contains(body, "<script>") || strings.Contains(body, " style=")) {
			t.Errorf("%s: an inline script or style: %s", c.what, body)
		}
	}
}

func TestFailedLoginsAreThrottled(t *testing.T) {
	s := startDash(t, Config{})
	clock := &fakeClock{t: time.Now()}
	useClock(s, clock)
	base := "http://" + s.Addr()
	for i := 1; i <= freeFailures; i++ {
		if resp, _ := login(t, base, "wrong", ""); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("bad login %d: %d, want 401", i, resp.StatusCode)
		}
	}
	// The 6th in a row is refused unchecked, even with the right token,
	// and so is the token in a header or the address from this client.
	resp, body := login(t, base, testToken, "")
	retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusTooManyRequests || retry < 1 || !strings.Contains(body, `id="token"`) {
		t.Fatalf("6th login: %d, Retry-After %q; want 429 and the form", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if r := getWith(t, base, "/api/v0/nodes", nil, testToken); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the API while throttled: %d, want 429", r.StatusCode)
	}
	if r := getWith(t, base, "/api/v0/nodes?token="+testToken, nil, ""); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("?token= while throttled: %d, want 429", r.StatusCode)
	}
	// Once the wait is over, one more failure doubles it.
	clock.advance(time.Duration(retry) * time.Second)
	if resp, _ := login(t, base, "wrong", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after the wait: %d, want 401", resp.StatusCode)
	}
	resp, _ = login(t, base, testToken, "")
	if next, _ := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != http.StatusTooManyRequests || next < 2*retry {
		t.Fatalf("after a 7th failure: %d, Retry-After %d; want 429 and at least %d", resp.StatusCode, next, 2*retry)
	}
	// The right token after the wait logs in and clears the record.
	clock.advance(time.Hour)
	if resp, _ := login(t, base, testToken, ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the right token after the wait: %d", resp.StatusCode)
	}

	// The API's Authorization header counts the same way.
	for i := 1; i <= freeFailures; i++ {
		if r := getWith(t, base, "/api/v0/nodes", nil, "wrong"); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("bad header %d: %d, want 401", i, r.StatusCode)
		}
	}
	r := getWith(t, base, "/api/v0/nodes", nil, "wrong")
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("6th bad header: %d, want 429 with Retry-After", r.StatusCode)
	}
}

func TestLoginThrottleIsBounded(t *testing.T) {
	l := newLoginLimiter()
	for i := range maxClients + 100 {
		r := &http.Request{RemoteAddr: net.JoinHostPort(net.IPv4(10, byte(i>>16), byte(i>>8), byte(i)).String(), "1")}
		l.attempt(clientKey(r), func() bool { return false })
	}
	if n := len(l.clients); n > maxClients {
		t.Fatalf("%d records, cap %d", n, maxClients)
	}
	// An IPv6 client counts per /64.
	a := clientKey(&http.Request{RemoteAddr: "[2001:db8::1]:1"})
	b := clientKey(&http.Request{RemoteAddr: "[2001:db8::ffff:2]:2"})
	if a != b {
		t.Errorf("%v and %v: want one /64", a, b)
	}
}

// Refused requests do not keep their connections: each way of being
// refused closes it after the answer.
func TestRefusedKeepAliveConnectionIsClosed(t *testing.T) {
	s := startDash(t, Config{})
	addr := s.Addr()
	form := "token=wrong"
	for what, req := range map[string]string{
		"API 401":        "GET /api/v0/nodes HTTP/1.1\r\nHost: " + addr + "\r\n\r\n",
		"wrong token":    "GET /api/v0/nodes HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer wrong\r\n\r\n",
		"page redirect":  "GET /some/page HTTP/1.1\r\nHost: " + addr + "\r\n\r\n",
		"bad login":      "POST /login HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " + strconv.Itoa(len(form)) + "\r\n\r\n" + form,
		"foreign host":   "GET /metrics HTTP/1.1\r\nHost: evil.example:" + addr[strings.LastIndex(addr, ":")+1:] + "\r\n\r\n",
		"POST no header": "POST /api/jobs/ HTTP/1.1\r\nHost: " + addr + "\r\nContent-Length: 0\r\n\r\n",
	} {
		c := rawRequest(t, addr, req)
		if c.resp.StatusCode < 300 {
			t.Errorf("%s: %d, want a refusal", what, c.resp.StatusCode)
		}
		if !c.closedByServer(t, 5*time.Second) {
			t.Errorf("%s (%d): the server keeps the connection open", what, c.resp.StatusCode)
		}
	}
	// An authenticated one is kept alive.
	c := rawRequest(t, addr, "GET /api/v0/nodes HTTP/1.1\r\nHost: "+addr+"\r\nAuthorization: Bearer "+testToken+"\r\n\r\n")
	if c.resp.StatusCode != http.StatusOK || c.resp.Close {
		t.Fatalf("authenticated: %d, close %v", c.resp.StatusCode, c.resp.Close)
	}
}

func TestIdleAndSlowConnectionsAreClosed(t *testing.T) {
	s := startDash(t, Config{IdleTimeout: 200 * time.Millisecond, BodyTimeout: 300 * time.Millisecond})
	addr := s.Addr()
	c := rawRequest(t, addr, "GET /api/v0/nodes HTTP/1.1\r\nHost: "+addr+"\r\nAuthorization: Bearer "+testToken+"\r\n\r\n")
	if c.resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d", c.resp.StatusCode)
	}
	if !c.closedByServer(t, 5*time.Second) {
		t.Error("an idle keep-alive connection was kept past the idle timeout")
	}
	// A body that never comes: the server answers and hangs up when its
	// deadline passes, instead of waiting for good.
	c = rawRequest(t, addr, "POST /login HTTP/1.1\r\nHost: "+addr+"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n")
	if !c.closedByServer(t, 5*time.Second) {
		t.Error("a connection whose body never came was kept")
	}
}

func TestLimitListenerCapsConnections(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newLimitListener(inner, 2)
	t.Cleanup(func() { _ = ln.Close() })
	accepted := make(chan net.Conn, 3)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	first, second := <-accepted, <-accepted
	defer second.Close()
	select {
	case c := <-accepted:
		c.Close()
		t.Fatal("a third connection was accepted past the cap of 2")
	case <-time.After(100 * time.Millisecond):
	}
	first.Close()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("closing a connection did not let the next one in")
	}
	_ = ln.Close()
	<-done // Close ends an Accept waiting at the cap
}

// Many tries at once from one client get no more checks than one at a
// time would.
func TestLoginThrottleHoldsUnderConcurrency(t *testing.T) {
	l := newLoginLimiter()
	clock := &fakeClock{t: time.Now()}
	l.now = clock.now
	k := clientKey(&http.Request{RemoteAddr: "192.0.2.1:1"})
	var mu sync.Mutex
	checked := 0
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			l.attempt(k, func() bool {
				mu.Lock()
				checked++
				mu.Unlock()
				return false
			})
		})
	}
	wg.Wait()
	if checked != freeFailures {
		t.Fatalf("%d tokens checked at once, want %d", checked, freeFailures)
	}
}
