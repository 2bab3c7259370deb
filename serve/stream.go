package serve

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"runtime/debug"
	"sync"

	"github.com/rayo-dev/rayo"
)

// Streaming responses (chunked, server-sent events): with
// DeploymentConfig.StreamResponses, the proxy calls the ingress's
// replica through a streaming actor method; each Flush of the handler's
// ResponseWriter sends what was written since as one chunk, which the
// proxy writes and flushes to the client at once.

// httpChunk is one piece of a streamed response; the first carries the
// status and headers.
type httpChunk struct {
	Status int         `msgpack:"s,omitempty"`
	Header http.Header `msgpack:"h,omitempty"`
	Data   []byte      `msgpack:"d,omitempty"`
}

var replicaHTTPStream = rayo.RegisterStreamMethod[httpChunk](replicaType, "httpStream", (*replica).handleHTTPStream)

// streamWriter is the ResponseWriter of a streaming handler.
type streamWriter struct {
	mu      sync.Mutex
	header  http.Header
	status  int
	sent    bool // the status and headers went out with a chunk
	buf     []byte
	out     chan httpChunk
	ctxDone <-chan struct{}
}

func (w *streamWriter) Header() http.Header {
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}

func (w *streamWriter) WriteHeader(code int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.status == 0 {
		w.status = code
	}
}

func (w *streamWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.buf = append(w.buf, b...)
	return len(b), nil
}

// Flush sends what was written as a chunk (http.Flusher).
func (w *streamWriter) Flush() {
	w.mu.Lock()
	c := w.takeLocked()
	w.mu.Unlock()
	select {
	case w.out <- c:
	case <-w.ctxDone:
	}
}

func (w *streamWriter) takeLocked() httpChunk {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	c := httpChunk{Data: w.buf}
	if !w.sent {
		c.Status, c.Header, w.sent = w.status, w.header.Clone(), true
	}
	w.buf = nil
	return c
}

func (r *replica) handleHTTPStream(ctx context.Context, q *httpRequest) iter.Seq2[httpChunk, error] {
	return func(yield func(httpChunk, error) bool) {
		if r.http == nil {
			yield(httpChunk{Status: http.StatusInternalServerError, Data: []byte(fmt.Sprintf("serve: deployment %s does not serve HTTP", r.def.name))}, nil)
			return
		}
		start, failed := r.begin(), false
		defer func() { r.end(start, failed) }()
		hreq, err := q.toHTTP(ctx)
		if err != nil {
			yield(httpChunk{Status: http.StatusBadRequest, Data: []byte(err.Error())}, nil)
			return
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		w := &streamWriter{out: make(chan httpChunk), ctxDone: ctx.Done()}
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer func() {
				if p := recover(); p != nil {
					w.mu.Lock()
					if !w.sent {
						w.status = http.StatusInternalServerError
					}
					w.buf = fmt.Appendf(w.buf, "serve: the handler panicked: %v\n%s", p, debug.Stack())
					w.mu.Unlock()
				}
			}()
			h := r.http
			h.ServeHTTP(w, hreq.WithContext(ctx))
		}()
		for {
			select {
			case c := <-w.out:
				if !yield(c, nil) {
					return // the client went: cancel the handler
				}
			case <-done:
				w.mu.Lock()
				last := w.takeLocked()
				failed = w.status >= http.StatusInternalServerError
				w.mu.Unlock()
				if len(last.Data) > 0 || last.Status != 0 {
					yield(last, nil)
				}
				return
			}
		}
	}
}

// serveStream proxies a streaming response.
func serveStream(ctx context.Context, w http.ResponseWriter, x replicaRef, q *httpRequest) (int, error) {
	s := replicaHTTPStream.Remote(x.Actor, q)
	defer s.Close()
	fl, _ := w.(http.Flusher)
	code := 0
	for ref, err := range s.All(ctx) {
		if err != nil {
			return code, err
		}
		c, err := ref.Get(ctx)
		ref.Release()
		if err != nil {
			return code, err
		}
		if c.Status != 0 && code == 0 {
			code = c.Status
			h := w.Header()
			for k, v := range c.Header {
				h[k] = v
			}
			w.WriteHeader(code)
		}
		if len(c.Data) > 0 {
			if _, err := w.Write(c.Data); err != nil {
				return code, err
			}
		}
		if fl != nil {
			fl.Flush()
		}
	}
	return code, nil
}
