package dashboard

import (
	"crypto/subtle"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Authentication: every request carries the cluster token, in one of
//
//   - an "Authorization: Bearer <token>" header (the CLI, scripts);
//   - the cookie CookieName, set by the login page (POST /login with the
//     token) or by opening any page once with ?token=<token> (the browser
//     is then redirected to the same URL without it);
//
// /metrics from a loopback address needs none unless MetricsNeedToken.
// API requests without a valid token get 401 with a JSON error; page
// requests are redirected to the login page.

// CookieName is the dashboard's session cookie (it holds the token).
const CookieName = "rayo_token"

func (s *Server) tokenOK(tok string) bool {
	return tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.Token)) == 1
}

// requestToken returns the token a request carries, if any. The cookie
// counts for reads only: a request that changes something (submit or
// stop a job) needs the header, so that another page the browser has
// open cannot make it on the user's behalf (cross-site request forgery).
func requestToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(tok)
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return ""
	}
	if c, err := r.Cookie(CookieName); err == nil {
		return c.Value
	}
	return ""
}

func isLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Server) setCookie(w http.ResponseWriter, tok string) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: tok, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode})
}

// authenticate wraps the mux with the token check.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/login":
			s.serveLogin(w, r)
			return
		case r.URL.Path == "/metrics" && !s.cfg.MetricsNeedToken && isLoopback(r):
			next.ServeHTTP(w, r)
			return
		}
		if q := r.URL.Query().Get("token"); q != "" {
			if !s.tokenOK(q) {
				s.refuse(w, r)
				return
			}
			// The token once in the URL: keep it in a cookie and drop it
			// from the address bar.
			s.setCookie(w, q)
			u := *r.URL
			v := u.Query()
			v.Del("token")
			u.RawQuery = v.Encode()
			http.Redirect(w, r, u.String(), http.StatusSeeOther)
			return
		}
		if !s.tokenOK(requestToken(r)) {
			s.refuse(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refuse answers a request without a valid token.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/metrics" || r.Method != http.MethodGet {
		w.Header().Set("WWW-Authenticate", `Bearer realm="rayo"`)
		writeError(w, http.StatusUnauthorized, "the cluster token is required (Authorization: Bearer <token>)")
		return
	}
	http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rayo: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;display:flex;justify-content:center;margin-top:15vh;background:#f6f7f9}
form{background:#fff;padding:2em;border-radius:8px;box-shadow:0 1px 4px #0002;min-width:22em}
input{width:100%;padding:.5em;margin:.5em 0;box-sizing:border-box;font-family:monospace}
button{padding:.5em 1.5em}.err{color:#b00}</style></head>
<body><form method="post" action="/login">
<h2>rayo dashboard</h2>
<p>Paste the cluster token (<code>cat /tmp/rayo/session_latest/token</code> on the head).</p>
{{if .Failed}}<p class="err" id="login-error">That token is not this cluster's.</p>{{end}}
<input type="password" name="token" id="token" autofocus autocomplete="off" placeholder="token">
<input type="hidden" name="next" value="{{.Next}}">
<button type="submit" id="login">Log in</button>
</form></body></html>`))

// serveLogin shows the login form (GET) or checks the token and sets
// the cookie (POST).
func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	// Anyone may reach this page: it reads a small form, nothing more.
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	next := r.FormValue("next")
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsRune(next, '\\') {
		next = "/"
	}
	data := struct {
		Next   string
		Failed bool
	}{Next: next}
	if r.Method == http.MethodPost {
		tok := strings.TrimSpace(r.FormValue("token"))
		if s.tokenOK(tok) {
			s.setCookie(w, tok)
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
		data.Failed = true
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = loginPage.Execute(w, data)
}
