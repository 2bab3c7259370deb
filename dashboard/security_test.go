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
	// The 6th wrong token in a row is refused with 429, in the form, a
	// header or the address, and is not counted.
	resp, body := login(t, base, "wrong", "")
	retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusTooManyRequests || retry < 1 || !strings.Contains(body, `id="token"`) {
		t.Fatalf("6th login: %d, Retry-After %q; want 429 and the form", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	for range 3 {
		if r := getWith(t, base, "/api/v0/nodes", nil, "wrong"); r.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("a wrong header while throttled: %d, want 429", r.StatusCode)
		}
		if r := getWith(t, base, "/api/v0/nodes?token=wrong", nil, ""); r.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("a wrong ?token= while throttled: %d, want 429", r.StatusCode)
		}
	}
	// Once the wait is over, one more failure doubles it.
	clock.advance(time.Duration(retry) * time.Second)
	if resp, _ := login(t, base, "wrong", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after the wait: %d, want 401", resp.StatusCode)
	}
	resp, _ = login(t, base, "wrong", "")
	if next, _ := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != http.StatusTooManyRequests || next < 2*retry {
		t.Fatalf("after a 7th failure: %d, Retry-After %d; want 429 and at least %d", resp.StatusCode, next, 2*retry)
	}
	// The right token logs in, wait or not, and clears the record.
	if resp, _ := login(t, base, testToken, ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the right token while throttled: %d", resp.StatusCode)
	}
	if resp, _ := login(t, base, "wrong", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a wrong token after the right one: %d, want 401 (the record cleared)", resp.StatusCode)
	}
	clock.advance(time.Hour)

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
		l.attempt(clientKey(r), false)
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
		"API 401":            "GET /api/v0/nodes HTTP/1.1\r\nHost: " + addr + "\r\n\r\n",
		"wrong token":        "GET /api/v0/nodes HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer wrong\r\n\r\n",
		"page redirect":      "GET /some/page HTTP/1.1\r\nHost: " + addr + "\r\n\r\n",
		"bad login":          "POST /login HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " + strconv.Itoa(len(form)) + "\r\n\r\n" + form,
		"foreign host":       "GET /metrics HTTP/1.1\r\nHost: evil.example:" + addr[strings.LastIndex(addr, ":")+1:] + "\r\n\r\n",
		"POST no header":     "POST /api/jobs/ HTTP/1.1\r\nHost: " + addr + "\r\nContent-Length: 0\r\n\r\n",
		"cross-site ?token=": "GET /?token=" + testToken + " HTTP/1.1\r\nHost: " + addr + "\r\nSec-Fetch-Site: cross-site\r\n\r\n",
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

// What anyone may read without credentials (the login page, its style
// sheet, /metrics from loopback) is answered, and the connection closed:
// only authenticated clients keep connections for the idle timeout.
func TestUnauthenticatedAnswersCloseTheConnection(t *testing.T) {
	s := startDash(t, Config{})
	addr := s.Addr()
	for what, req := range map[string]string{
		"login page":                  "GET /login HTTP/1.1\r\nHost: " + addr + "\r\n\r\n",
		"login page (HEAD)":           "HEAD /login HTTP/1.1\r\nHost: " + addr + "\r\n\r\n",
		"login style":                 "GET " + loginCSS + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n",
		"loopback metrics":            "GET /metrics HTTP/1.1\r\nHost: " + addr + "\r\n\r\n",
		"login with a wrong header":   "GET /login HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer wrong\r\n\r\n",
		"metrics with a wrong header": "GET /metrics HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer wrong\r\n\r\n",
		"login, other method":         "PUT /login HTTP/1.1\r\nHost: " + addr + "\r\nContent-Length: 0\r\n\r\n",
	} {
		c := rawRequest(t, addr, req)
		if c.resp.StatusCode != http.StatusOK && c.resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d", what, c.resp.StatusCode)
		}
		if !c.resp.Close {
			t.Errorf("%s (%d): no Connection: close", what, c.resp.StatusCode)
		}
		if !c.closedByServer(t, 5*time.Second) {
			t.Errorf("%s (%d): the server keeps the connection open", what, c.resp.StatusCode)
		}
	}
	// With credentials they keep it: a session for the style sheet and the
	// login page, the token for /metrics.
	resp, _ := login(t, "http://"+addr, testToken, "")
	ck := sessionCookie(t, resp, CookieName)
	for what, req := range map[string]string{
		"login style with a session": "GET " + loginCSS + " HTTP/1.1\r\nHost: " + addr + "\r\nCookie: " + ck.Name + "=" + ck.Value + "\r\n\r\n",
		"login page with a session":  "GET /login HTTP/1.1\r\nHost: " + addr + "\r\nCookie: " + ck.Name + "=" + ck.Value + "\r\n\r\n",
		"metrics with the token":     "GET /metrics HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + testToken + "\r\n\r\n",
	} {
		c := rawRequest(t, addr, req)
		if c.resp.StatusCode != http.StatusOK || c.resp.Close {
			t.Errorf("%s: %d, close %v; want 200 kept alive", what, c.resp.StatusCode, c.resp.Close)
		}
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
	ln := newLimitListener(inner, 2, 10, nil)
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

// Many wrong tries at once from one client get no more free failures
// than one at a time would; the right token still passes.
func TestLoginThrottleHoldsUnderConcurrency(t *testing.T) {
	l := newLoginLimiter()
	clock := &fakeClock{t: time.Now()}
	l.now = clock.now
	k := clientKey(&http.Request{RemoteAddr: "192.0.2.1:1"})
	var mu sync.Mutex
	free := 0
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			if wait, _ := l.attempt(k, false); wait == 0 {
				mu.Lock()
				free++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if free != freeFailures {
		t.Fatalf("%d wrong tokens at once answered 401, want %d (the rest 429)", free, freeFailures)
	}
	if wait, ok := l.attempt(k, true); !ok || wait != 0 {
		t.Fatalf("the right token while throttled: wait %v, ok %v", wait, ok)
	}
}

// The review's lock-out: web pages the operator visits make the browser
// send wrong tokens from 127.0.0.1, the address every local client
// shares. The throttle must never refuse the right token, from the CLI
// or the browser; and a login sent by another site's page is refused
// without being counted.
func TestWrongTokensFromOtherPagesDoNotLockOutTheOperator(t *testing.T) {
	s := startDash(t, Config{})
	clock := &fakeClock{t: time.Now()}
	useClock(s, clock)
	base := "http://" + s.Addr()
	// A browser that sends no Sec-Fetch-Site (an old one), loading
	// <img src="http://127.0.0.1:PORT/?token=x">: indistinguishable from
	// a typed address, so these count.
	for i := range 2 * freeFailures {
		req := mustRequest(http.MethodGet, base+"/?token=x")
		req.Header.Set("Accept", "image/avif,image/webp,*/*")
		if resp, _ := do(t, req); resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("img %d: %d", i, resp.StatusCode)
		}
	}
	// 127.0.0.1 is throttled now: its wrong tokens get 429...
	r := getWith(t, base, "/api/v0/nodes", nil, "wrong")
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("a wrong token from the throttled address: %d, Retry-After %q; want 429 with it", r.StatusCode, r.Header.Get("Retry-After"))
	}
	// ...but the right one passes: the CLI's header, the login form, a
	// typed ?token=.
	if r := getWith(t, base, "/api/v0/nodes", nil, testToken); r.StatusCode != http.StatusOK {
		t.Fatalf("the CLI with the right token from a throttled address: %d, want 200", r.StatusCode)
	}
	for range 2 * freeFailures { // throttled again
		getWith(t, base, "/api/v0/nodes", nil, "wrong")
	}
	if resp, _ := login(t, base, testToken, ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the login form with the right token from a throttled address: %d, want 303", resp.StatusCode)
	}
	for range 2 * freeFailures {
		getWith(t, base, "/api/v0/nodes", nil, "wrong")
	}
	req := mustRequest(http.MethodGet, base+"/?token="+testToken)
	req.Header.Set("Sec-Fetch-Site", "none")
	if resp, _ := do(t, req); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("a typed ?token= with the right token from a throttled address: %d", resp.StatusCode)
	}
}

func TestCrossSiteLoginsAreRefused(t *testing.T) {
	s := startDash(t, Config{})
	addr := s.Addr()
	_, port, _ := net.SplitHostPort(addr)
	base := "http://" + addr
	type attempt struct {
		what, method, path, site, origin string
	}
	form := func(tok string) string { return url.Values{"token": {tok}}.Encode() }
	send := func(a attempt, tok string) (*http.Response, string) {
		t.Helper()
		var body io.Reader
		path := strings.ReplaceAll(a.path, "TOKEN", tok)
		if a.method == http.MethodPost {
			body = strings.NewReader(form(tok))
		}
		req, _ := http.NewRequest(a.method, base+path, body)
		if a.method == http.MethodPost {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if a.site != "" {
			req.Header.Set("Sec-Fetch-Site", a.site)
		}
		if a.origin != "" {
			req.Header.Set("Origin", a.origin)
		}
		return do(t, req)
	}
	refused := []attempt{
		{"an <img> on another site", http.MethodGet, "/?token=TOKEN", "cross-site", ""},
		{"a link on another site", http.MethodGet, "/api/v0/nodes?token=TOKEN", "cross-site", ""},
		{"a page on another port", http.MethodGet, "/?token=TOKEN", "same-site", ""},
		{"a fetch from another origin", http.MethodGet, "/?token=TOKEN", "", "http://evil.example"},
		{"a form on another site", http.MethodPost, "/login", "cross-site", "http://evil.example"},
		{"a form, Origin only", http.MethodPost, "/login", "", "http://evil.example"},
		{"a form on another port", http.MethodPost, "/login", "same-site", "http://127.0.0.1:1"},
		{"a form, Origin of another port", http.MethodPost, "/login", "", "http://127.0.0.1:1"},
		{"a form in a sandboxed frame", http.MethodPost, "/login", "", "null"},
		{"a form over https elsewhere", http.MethodPost, "/login", "", "https://" + addr + ".evil.example"},
		{"a form posting ?token=", http.MethodPost, "/api/jobs/?token=TOKEN", "cross-site", "http://evil.example"},
	}
	for _, a := range refused {
		// The right token: refused all the same, with no session.
		resp, body := send(a, testToken)
		if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 || !resp.Close {
			t.Errorf("%s with the right token: %d, cookies %v, close %v; want 403, none, closed", a.what, resp.StatusCode, resp.Cookies(), resp.Close)
		}
		if strings.Contains(body, testToken) {
			t.Errorf("%s: the answer holds the token: %s", a.what, body)
		}
		// Wrong tokens: refused, and not counted against the address.
		for range freeFailures + 1 {
			if resp, _ := send(a, "wrong"); resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s with a wrong token: %d, want 403", a.what, resp.StatusCode)
			}
		}
	}
	if resp, _ := login(t, base, "wrong", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the first wrong login of this address after the cross-site ones: %d, want 401 (they must not count)", resp.StatusCode)
	}

	// The dashboard's own page, a typed address, the CLI: accepted.
	for _, a := range []attempt{
		{"the login form", http.MethodPost, "/login", "same-origin", base},
		{"the login form, Origin only", http.MethodPost, "/login", "", base},
		// Chromium under Referrer-Policy: no-referrer sends Origin: null
		// on the dashboard's own form.
		{"the login form, Origin null", http.MethodPost, "/login", "same-origin", "null"},
		{"the login form, no header", http.MethodPost, "/login", "", ""},
		{"a typed address", http.MethodGet, "/?token=TOKEN", "none", ""},
		{"an old browser's address", http.MethodGet, "/?token=TOKEN", "", ""},
	} {
		if resp, _ := send(a, testToken); resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) == 0 {
			t.Errorf("%s: %d, want 303 with a session", a.what, resp.StatusCode)
		}
	}
	// By another name of the dashboard, its own origin is that name.
	req, _ := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(form(testToken)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Host = "localhost:" + port
	req.Header.Set("Origin", "http://LOCALHOST:"+port)
	if resp, _ := do(t, req); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the login form at localhost: %d, want 303", resp.StatusCode)
	}
	req.Header.Set("Origin", base) // 127.0.0.1: another origin than localhost
	if resp, _ := do(t, req); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a form at 127.0.0.1 posting to localhost: %d, want 403", resp.StatusCode)
	}
}

func TestSameOrigin(t *testing.T) {
	for _, c := range []struct {
		origin, host string
		want         bool
	}{
		{"http://127.0.0.1:8265", "127.0.0.1:8265", true},
		{"http://Localhost:8265", "localhost:8265", true},
		{"https://rayo.example", "rayo.example", true},
		{"https://rayo.example", "rayo.example:443", true},
		{"http://rayo.example", "rayo.example", true},
		{"http://[::1]:8265", "[::1]:8265", true},
		{"http://127.0.0.1:8266", "127.0.0.1:8265", false},
		{"http://127.0.0.1", "127.0.0.1:8265", false},
		{"https://rayo.example", "rayo.example:80", false},
		{"http://evil.example:8265", "127.0.0.1:8265", false},
		{"null", "127.0.0.1:8265", false},
		{"", "127.0.0.1:8265", false},
		{"file://", "127.0.0.1:8265", false},
		{"ftp://127.0.0.1:8265", "127.0.0.1:8265", false},
		{"http://u@127.0.0.1:8265", "127.0.0.1:8265", false},
	} {
		if got := sameOrigin(c.origin, c.host); got != c.want {
			t.Errorf("sameOrigin(%q, %q) = %v, want %v", c.origin, c.host, got, c.want)
		}
	}
}

// One client cannot hold every connection: past its own cap its
// connections are closed at once, while another client still gets in.
func TestLimitListenerCapsConnectionsPerClient(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newLimitListener(inner, 10, 2, nil)
	t.Cleanup(func() { _ = ln.Close() })
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func(local string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 10 * time.Second}
		c, err := d.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Skipf("dial from %s: %v", local, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	waitAccepted := func(what string) net.Conn {
		t.Helper()
		select {
		case c := <-accepted:
			t.Cleanup(func() { _ = c.Close() })
			return c
		case <-time.After(10 * time.Second):
			t.Fatalf("%s was not accepted", what)
			return nil
		}
	}
	// closed reports whether the server closed c.
	closed := func(c net.Conn) bool {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		return err != nil && !(errors.As(err, &ne) && ne.Timeout())
	}
	dial("127.0.0.1")
	first := waitAccepted("the 1st connection")
	dial("127.0.0.1")
	waitAccepted("the 2nd connection")
	third := dial("127.0.0.1")
	if !closed(third) {
		t.Fatal("a 3rd connection from one client was kept past its cap of 2")
	}
	// Another client gets in.
	dial("127.0.0.2")
	waitAccepted("a connection from another client")
	// A closed connection frees its client's slot.
	_ = first.Close()
	dial("127.0.0.1")
	waitAccepted("a connection after one of the client's closed")
	select {
	case c := <-accepted:
		t.Fatalf("an unexpected connection from %v", c.RemoteAddr())
	default:
	}
}

// The server has the per-client cap by default: one client's keep-alive
// connections cannot take all of them.
func TestServerCapsConnectionsPerClient(t *testing.T) {
	s := startDash(t, Config{})
	addr := s.Addr()
	req := "GET /api/v0/nodes HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + testToken + "\r\n\r\n"
	for i := range DefaultMaxConnsPerIP {
		if c := rawRequest(t, addr, req); c.resp.StatusCode != http.StatusOK || c.resp.Close {
			t.Fatalf("connection %d: %d, close %v", i+1, c.resp.StatusCode, c.resp.Close)
		}
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(conn, req)
	if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
		resp.Body.Close()
		t.Fatalf("connection %d from one client: answered %d, want it closed unanswered", DefaultMaxConnsPerIP+1, resp.StatusCode)
	} else if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection %d from one client: neither answered nor closed", DefaultMaxConnsPerIP+1)
	}
	// Another loopback address is another client.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 10 * time.Second}
	other, err := d.Dial("tcp", addr)
	if err != nil {
		t.Skipf("dial from 127.0.0.2: %v", err)
	}
	defer other.Close()
	_ = other.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(other, req)
	resp, err := http.ReadResponse(bufio.NewReader(other), nil)
	if err != nil {
		t.Fatalf("another client: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("another client: %d", resp.StatusCode)
	}
}
