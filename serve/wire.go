package serve

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
)

// httpRequest is an HTTP request on its way from a proxy to a replica.
type httpRequest struct {
	Method     string      `msgpack:"m"`
	Path       string      `msgpack:"p"` // the path after the route prefix, as Ray passes it
	RawQuery   string      `msgpack:"q,omitempty"`
	Prefix     string      `msgpack:"x,omitempty"`
	Header     http.Header `msgpack:"h,omitempty"`
	Body       []byte      `msgpack:"b,omitempty"`
	Host       string      `msgpack:"o,omitempty"`
	RemoteAddr string      `msgpack:"r,omitempty"`
	ModelID    string      `msgpack:"mid,omitempty"`
}

// httpResponse is a replica's answer.
type httpResponse struct {
	Status int         `msgpack:"s"`
	Header http.Header `msgpack:"h,omitempty"`
	Body   []byte      `msgpack:"b,omitempty"`
}

func fromHTTP(r *http.Request, prefix string) (*httpRequest, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	path := r.URL.Path
	if prefix != "/" {
		path = path[len(prefix):]
		if path == "" || path[0] != '/' {
			path = "/" + path
		}
	}
	return &httpRequest{Method: r.Method, Path: path, RawQuery: r.URL.RawQuery, Prefix: prefix, Header: r.Header,
		Body: body, Host: r.Host, RemoteAddr: r.RemoteAddr, ModelID: r.Header.Get(ModelIDHeader)}, nil
}

// toHTTP rebuilds the request in the replica.
func (q *httpRequest) toHTTP(ctx context.Context) (*http.Request, error) {
	url := q.Path
	if q.RawQuery != "" {
		url += "?" + q.RawQuery
	}
	r, err := http.NewRequestWithContext(withModelID(ctx, q.ModelID), q.Method, url, bytes.NewReader(q.Body))
	if err != nil {
		return nil, err
	}
	if q.Header != nil {
		r.Header = q.Header
	}
	r.Host, r.RemoteAddr = q.Host, q.RemoteAddr
	r.ContentLength = int64(len(q.Body))
	return r, nil
}

// recorder is the ResponseWriter a replica's handler writes to.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header {
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

// serveOne runs h on q; a panic becomes a 500 with its message, and the
// replica lives on.
func serveOne(ctx context.Context, h http.Handler, q *httpRequest) (resp *httpResponse) {
	r, err := q.toHTTP(ctx)
	if err != nil {
		return &httpResponse{Status: http.StatusBadRequest, Body: []byte(err.Error())}
	}
	w := &recorder{}
	defer func() {
		if p := recover(); p != nil {
			resp = &httpResponse{Status: http.StatusInternalServerError,
				Header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}},
				Body:   fmt.Appendf(nil, "serve: the handler panicked: %v\n%s", p, debug.Stack())}
		}
	}()
	h.ServeHTTP(w, r)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return &httpResponse{Status: w.status, Header: w.header, Body: w.body.Bytes()}
}
