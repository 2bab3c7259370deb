package dashboard

import (
	"crypto/subtle"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Authentication: every request carries the cluster token, or a
// session that a login started:
//
//   - an "Authorization: Bearer <token>" header (the CLI, scripts);
//   - the session cookie (session.go), set by the login page (POST
//     /login with the token) or by opening any page once with
//     ?token=<token> (the browser is then redirected to the same URL
//     without it). It holds a random session ID, never the token, and
//     counts for reads only. POST /logout ends the session.
//
// /metrics from a loopback address needs none unless MetricsNeedToken.
// API requests without a valid token get 401 with a JSON error; page
// requests are redirected to the login page. Failed tries are throttled
// (throttle.go), but the right token always passes. A login (?token= or
// POST /login) sent by another site's page is refused unchecked
// (crossSite), so that no web page can log the browser in or count
// failures against the user's address.
//
// Only authenticated clients keep their connections: every answer to a
// request without valid credentials (a refusal, the login page and its
// style sheet, /metrics without a token) closes the connection after it,
// so that such clients cannot hold connections open for the idle
// timeout (the connection caps are in guard.go).

func (s *Server) tokenOK(tok string) bool {
	return tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.Token)) == 1
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return strings.TrimSpace(tok), ok
}

// isRead reports whether the request only reads: the session cookie
// counts for those alone, so that another page the browser has open
// cannot make a change (submit or stop a job) on the user's behalf
// (cross-site request forgery).
func isRead(r *http.Request) bool {
	return r.Method == http.MethodGet || r.Method == http.MethodHead
}

func isLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// authenticate wraps the mux with the token check.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/login":
			s.serveLogin(w, r)
			return
		case r.URL.Path == "/logout":
			s.serveLogout(w, r)
			return
		case r.URL.Path == loginCSS && isRead(r):
			// The login page's style sheet: public.
			if !s.hasSession(r) {
				w.Header().Set("Connection", "close")
			}
			next.ServeHTTP(w, r)
			return
		case r.URL.Path == "/metrics" && !s.cfg.MetricsNeedToken && isLoopback(r):
			if !s.hasSession(r) && !s.hasBearer(r) {
				w.Header().Set("Connection", "close")
			}
			next.ServeHTTP(w, r)
			return
		}
		if q := r.URL.Query().Get("token"); q != "" {
			if crossSite(r) {
				s.refuseCrossSite(w, r)
				return
			}
			if !s.checkToken(w, r, q) {
				return
			}
			// The token once in the URL: start a session and drop the
			// token from the address bar.
			s.startSession(w, r)
			v := r.URL.Query()
			v.Del("token")
			target := r.URL.EscapedPath()
			if len(v) > 0 {
				target += "?" + v.Encode()
			}
			http.Redirect(w, r, safeNext(target), http.StatusSeeOther)
			return
		}
		if tok, ok := bearerToken(r); ok {
			if s.checkToken(w, r, tok) {
				next.ServeHTTP(w, r)
			}
			return
		}
		if s.hasSession(r) {
			next.ServeHTTP(w, r)
			return
		}
		s.refuse(w, r)
	})
}

// hasSession reports whether the request is a read with a live session.
func (s *Server) hasSession(r *http.Request) bool {
	return isRead(r) && s.sessions.valid(sessionID(r))
}

// hasBearer reports whether the request's Authorization header holds
// the token. It is neither throttled nor counted: only the public
// loopback /metrics uses it, to keep a scraper's connection alive.
func (s *Server) hasBearer(r *http.Request) bool {
	tok, ok := bearerToken(r)
	return ok && s.tokenOK(tok)
}

// checkToken checks a token the request offers; false when it answered
// the request: refused, or 429 if the client is throttled. The right
// token passes whatever the throttle says.
func (s *Server) checkToken(w http.ResponseWriter, r *http.Request, tok string) bool {
	wait, ok := s.limiter.attempt(clientKey(r), s.tokenOK(tok))
	switch {
	case ok:
	case wait > 0:
		s.tooMany(w, r, wait)
	default:
		s.refuse(w, r)
	}
	return ok
}

// crossSite reports whether a login request (?token= or POST /login)
// comes from a page of another site: a browser says so in
// Sec-Fetch-Site ("same-site" too: another port or subdomain of the same
// site is another server), or names the page's origin in an Origin
// header that is not the dashboard's. A request with neither (an address
// typed or opened from a terminal, which browsers send with no Origin
// and Sec-Fetch-Site "none"; the CLI; curl) is not.
func crossSite(r *http.Request) bool {
	// A browser that sends Sec-Fetch-Site says where the request came
	// from, and that is the answer: its Origin may be "null" on a
	// same-origin form POST, as the pages' Referrer-Policy is no-referrer.
	switch strings.ToLower(strings.TrimSpace(r.Header.Get("Sec-Fetch-Site"))) {
	case "cross-site", "same-site":
		return true
	case "same-origin", "none":
		return false
	}
	origins := r.Header.Values("Origin")
	switch len(origins) {
	case 0:
		return false
	case 1:
		return !sameOrigin(origins[0], r.Host)
	default:
		return true
	}
}

// sameOrigin reports whether origin (an Origin header: scheme://host[:port],
// or "null") is the address the request was sent to, host (its Host
// header, which the guard has checked). The scheme is not compared, as
// behind a TLS-terminating proxy the dashboard sees plain HTTP; it only
// gives the default port.
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(strings.TrimSpace(origin))
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return false
	}
	def := ""
	switch strings.ToLower(u.Scheme) {
	case "http":
		def = "80"
	case "https":
		def = "443"
	default:
		return false
	}
	oh, op := splitHost(u.Host, def)
	rh, rp := splitHost(host, def)
	return oh != "" && oh == rh && op == rp
}

// refuseCrossSite answers a login sent by another site's page: 403, the
// token unchecked and nothing counted against the client.
func (s *Server) refuseCrossSite(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "close")
	msg := "a login sent by another site's page is refused: open the dashboard's address yourself, or log in on its login page"
	if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/metrics" || (!isRead(r) && r.URL.Path != "/login") {
		writeError(w, http.StatusForbidden, msg)
		return
	}
	next := r.FormValue("next")
	if r.URL.Path != "/login" {
		// The page it asked for, without the token.
		v := r.URL.Query()
		v.Del("token")
		next = r.URL.EscapedPath()
		if len(v) > 0 {
			next += "?" + v.Encode()
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusForbidden)
	if r.Method != http.MethodHead {
		_ = loginPage.Execute(w, loginData{Next: safeNext(next), Error: msg})
	}
}

// refuse answers a request without a valid token, and closes its
// connection.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "close")
	if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/metrics" || !isRead(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="rayo"`)
		writeError(w, http.StatusUnauthorized, "the cluster token is required (Authorization: Bearer <token>)")
		return
	}
	http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
}

// tooMany answers a throttled client: 429 with Retry-After, and the
// connection closed.
func (s *Server) tooMany(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	w.Header().Set("Connection", "close")
	msg := fmt.Sprintf("too many failed tries with a wrong token from this address: try again in %d s", secs)
	if r.URL.Path == "/login" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusTooManyRequests)
		_ = loginPage.Execute(w, loginData{Next: safeNext(r.FormValue("next")), Error: msg})
		return
	}
	writeError(w, http.StatusTooManyRequests, msg)
}

// safeNext returns next if it is a path on this server, else "/": the
// login's ?next= must not send the browser elsewhere (an open redirect).
func safeNext(next string) string {
	if !sameOriginPath(next) {
		return "/"
	}
	return next
}

// sameOriginPath reports whether a redirect to p stays on this origin.
// Browsers read "//host" as another host, take "\" for "/", and drop
// tabs and newlines from a URL ("/\t/evil.example/" is "//evil.example/"
// to them), so all of those are refused, before and after decoding.
func sameOriginPath(p string) bool {
	dec, err := url.PathUnescape(p)
	if err != nil {
		return false
	}
	for _, v := range []string{p, dec} {
		if !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") {
			return false
		}
		for _, c := range v {
			if c == '\\' || unicode.IsControl(c) || unicode.IsSpace(c) {
				return false
			}
		}
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil && u.Opaque == ""
}

// loginCSS is the login page's style sheet (under ui/): the
// Content-Security-Policy allows no inline style.
const loginCSS = "/ui/login.css"

type loginData struct {
	Next  string
	Error string
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rayo: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/ui/login.css"></head>
<body><form method="post" action="/login">
<h2>rayo dashboard</h2>
<p>Paste the cluster token (<code>cat /tmp/rayo/session_latest/token</code> on the head).</p>
{{if .Error}}<p class="err" id="login-error">{{.Error}}</p>{{end}}
<input type="password" name="token" id="token" autofocus autocomplete="off" placeholder="token">
<input type="hidden" name="next" value="{{.Next}}">
<button type="submit" id="login">Log in</button>
</form></body></html>`))

// serveLogin shows the login form (GET) or checks the token and starts
// a session (POST).
func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	// Anyone may reach this page: it reads a small form, nothing more.
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	data := loginData{Next: safeNext(r.FormValue("next"))}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		// The form is for clients without a session: they do not keep
		// the connection.
		if !s.hasSession(r) {
			w.Header().Set("Connection", "close")
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
	case http.MethodPost:
		if crossSite(r) {
			s.refuseCrossSite(w, r)
			return
		}
		tok := strings.TrimSpace(r.FormValue("token"))
		wait, ok := s.limiter.attempt(clientKey(r), s.tokenOK(tok))
		if ok {
			s.startSession(w, r)
			http.Redirect(w, r, data.Next, http.StatusSeeOther)
			return
		}
		if wait > 0 {
			s.tooMany(w, r, wait)
			return
		}
		data.Error = "That token is not this cluster's."
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusUnauthorized)
	default:
		w.Header().Set("Connection", "close")
		w.Header().Set("Allow", "GET, HEAD, POST")
		writeError(w, http.StatusMethodNotAllowed, "use GET or POST")
		return
	}
	_ = loginPage.Execute(w, data)
}

// serveLogout ends the browser's session (POST: a link elsewhere cannot
// log the user out) and shows the login page.
func (s *Server) serveLogout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, "log out with POST")
		return
	}
	s.endSession(w, r)
	w.Header().Set("Connection", "close")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
