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
// requests are redirected to the login page. Either way the connection
// is closed after the answer, so that unauthenticated clients cannot
// keep connections open; and failed tries are throttled (throttle.go).

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
			next.ServeHTTP(w, r) // the login page's style sheet: public
			return
		case r.URL.Path == "/metrics" && !s.cfg.MetricsNeedToken && isLoopback(r):
			next.ServeHTTP(w, r)
			return
		}
		if q := r.URL.Query().Get("token"); q != "" {
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
		if isRead(r) && s.sessions.valid(sessionID(r)) {
			next.ServeHTTP(w, r)
			return
		}
		s.refuse(w, r)
	})
}

// checkToken checks a token the request offers, unless its client is
// throttled; false when it answered the request (429 or refused).
func (s *Server) checkToken(w http.ResponseWriter, r *http.Request, tok string) bool {
	wait, ok := s.limiter.attempt(clientKey(r), func() bool { return s.tokenOK(tok) })
	switch {
	case wait > 0:
		s.tooMany(w, r, wait)
	case !ok:
		s.refuse(w, r)
	}
	return ok
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
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
	case http.MethodPost:
		tok := strings.TrimSpace(r.FormValue("token"))
		wait, ok := s.limiter.attempt(clientKey(r), func() bool { return s.tokenOK(tok) })
		if wait > 0 {
			s.tooMany(w, r, wait)
			return
		}
		if ok {
			s.startSession(w, r)
			http.Redirect(w, r, data.Next, http.StatusSeeOther)
			return
		}
		data.Error = "That token is not this cluster's."
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusUnauthorized)
	default:
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
