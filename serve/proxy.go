package serve

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/rayo-dev/rayo"
)

// The proxy is an actor ("rayo.serve.proxy") that runs a plain net/http
// server: it finds the application by the longest route prefix, picks a
// replica of its ingress deployment by power of two choices and calls
// it. It serves application traffic only: no cluster token (applications
// bring their own authentication) and nothing of the control plane.

type proxyActor struct {
	srv  *http.Server
	ln   net.Listener
	addr string
}

var (
	proxyType = rayo.RegisterActor[proxyActor]("rayo.serve.proxy", newProxy)
	proxyAddr = rayo.RegisterMethod[string](proxyType, "address", (*proxyActor).address)
)

func newProxy(ctx context.Context, addr string) (*proxyActor, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &proxyActor{ln: ln, addr: ln.Addr().String()}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 90 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *proxyActor) address(context.Context) (string, error) { return p.addr, nil }

// requestTimeout bounds a request through the proxy (Ray's
// request_timeout_s is unset by default; a bound keeps a stuck replica
// from holding connections for ever).
const requestTimeout = 5 * time.Minute

func (p *proxyActor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Server", "rayo-serve")
	wt, err := routes(r.Context())
	if err != nil {
		http.Error(w, "serve: no route table yet", http.StatusServiceUnavailable)
		return
	}
	app, rt, ok := wt.match(r.URL.Path)
	if !ok || rt == nil {
		http.Error(w, "serve: no application at "+r.URL.Path, http.StatusNotFound)
		return
	}
	start := time.Now()
	code := http.StatusOK
	defer func() { observeRequest(app, code, time.Since(start)) }()
	pctx, pcancel := context.WithTimeout(r.Context(), waitForReplica)
	ticket, x, err := rt.waitPick(pctx, app.Name, app.Ingress, r.Header.Get(ModelIDHeader), false)
	pcancel()
	if err != nil {
		code = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
		http.Error(w, err.Error(), code)
		return
	}
	defer ticket.Done()
	q, err := fromHTTP(r, app.Prefix)
	if err != nil {
		code = http.StatusBadRequest
		http.Error(w, "serve: reading the request: "+err.Error(), code)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	if app.Stream {
		c, err := serveStream(ctx, w, x, q)
		code = c
		if err != nil && c == 0 {
			code = http.StatusInternalServerError
			http.Error(w, "serve: "+err.Error(), code)
		}
		return
	}
	resp, err := replicaHTTP.Remote(x.Actor, q).Get(ctx)
	if err != nil {
		code = http.StatusInternalServerError
		var died *rayo.ActorDiedError
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			code = http.StatusGatewayTimeout
		case errors.As(err, &died):
			// The replica is gone: route around it now, and have the
			// controller replace it now, not at its next health check.
			code = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", "1")
			rt.drop(x.ID)
			reportDead(x.ID)
		}
		http.Error(w, "serve: "+err.Error(), code)
		return
	}
	h := w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
	code = resp.Status
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
}
