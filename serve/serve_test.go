package serve_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/serve"
)

// scaler is a model: it multiplies by its factor.
type scaler struct{ factor float64 }

var scalerDep = serve.NewDeployment[scaler]("test.scaler", func(factor float64) *scaler { return &scaler{factor} },
	serve.DeploymentConfig{NumCPUs: 0.25})

func (s *scaler) Predict(ctx context.Context, x float64) (float64, error) {
	if x < 0 {
		return 0, errors.New("negative input")
	}
	return s.factor * x, nil
}

// front is an HTTP ingress that calls the model through a handle.
type front struct{ model serve.DeploymentHandle }

var frontDep = serve.NewDeployment[front]("test.front", func(m serve.DeploymentHandle) *front { return &front{m} },
	serve.DeploymentConfig{NumCPUs: 0.25})

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/panic":
		panic("boom")
	case "/echo":
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Query().Get("q"), b)
		return
	}
	var x float64
	fmt.Sscan(r.URL.Query().Get("x"), &x)
	y, err := serve.Result[float64](r.Context(), f.model.Call(r.Context(), "Predict", x))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprint(w, y)
}

func TestComposedApplicationOverHTTP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr, err := serve.Start(ctx, serve.HTTPOptions{Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := serve.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	h, err := serve.Run(ctx, frontDep.Bind(scalerDep.Bind(3.0)), serve.RunOptions{Name: "calc", RoutePrefix: "/calc"})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Post("http://"+addr+path, "text/plain", strings.NewReader("body"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/calc?x=2"); code != 200 || body != "6" {
		t.Fatalf("/calc?x=2: %d %q", code, body)
	}
	if code, body := get("/calc/echo?q=hi"); code != 200 || body != "POST hi body" {
		t.Fatalf("/calc/echo: %d %q", code, body)
	}
	if code, body := get("/calc?x=-1"); code != 400 || !strings.Contains(body, "negative input") {
		t.Fatalf("a model error: %d %q", code, body)
	}
	if code, body := get("/calc/panic"); code != 500 || !strings.Contains(body, "boom") {
		t.Fatalf("a panic: %d %q", code, body)
	}
	if code, _ := get("/calc?x=5"); code != 200 {
		t.Fatalf("the replica did not live on after a panic: %d", code)
	}
	if code, _ := get("/nowhere"); code != 404 {
		t.Fatalf("an unknown route: %d", code)
	}
	// A handle from the driver.
	model := serve.GetDeploymentHandle("calc", "test.scaler")
	if y, err := serve.Result[float64](ctx, model.Call(ctx, "Predict", 7.0)); err != nil || y != 21 {
		t.Fatalf("handle call: %v %v", y, err)
	}
	if _, err := serve.Result[float64](ctx, model.Call(ctx, "Nope")); err == nil || !strings.Contains(err.Error(), "no method") {
		t.Fatalf("an unknown method: %v", err)
	}
	_ = h
	st, err := serve.GetStatus(ctx)
	if err != nil || len(st.Applications) != 1 || st.Applications[0].Status != "RUNNING" || len(st.Applications[0].Deployments) != 2 {
		t.Fatalf("status: %+v %v", st, err)
	}
	if len(st.Proxies) != 1 {
		t.Fatalf("status proxies: %v", st.Proxies)
	}
	for _, a := range st.Proxies {
		if a != addr {
			t.Fatalf("status proxies %v, want this node's %s", st.Proxies, addr)
		}
	}
}

func TestBadApplications(t *testing.T) {
	if _, err := serve.Run(context.Background(), scalerDep.Bind(), serve.RunOptions{Name: "x"}); !errors.Is(err, serve.ErrInvalidConfig) {
		t.Fatalf("wrong arity: %v", err)
	}
	if _, err := serve.Run(context.Background(), scalerDep.Bind(1.0), serve.RunOptions{Name: "x", RoutePrefix: "nope"}); !errors.Is(err, serve.ErrInvalidConfig) {
		t.Fatalf("bad prefix: %v", err)
	}
}

func TestInfeasibleReplicaFailsAtOnce(t *testing.T) {
	startServe(t)
	_, err := serve.Run(context.Background(), scalerDep.Options(serve.DeploymentConfig{NumCPUs: 64}).Bind(1.0), serve.RunOptions{Name: "huge"})
	if !errors.Is(err, serve.ErrUnavailable) || !strings.Contains(err.Error(), "no node can hold") {
		t.Fatalf("got %v", err)
	}
}

// MaxQueuedRequests: with every replica busy, a proxy holds up to that
// many requests, and answers 503 with Retry-After past it.
func TestMaxQueuedRequests(t *testing.T) {
	ctx := context.Background()
	addr := startServe(t)
	if _, err := serve.Run(ctx, versionedDep.Options(serve.DeploymentConfig{NumReplicas: 1, MaxOngoingRequests: 1, MaxQueuedRequests: 2}).Bind("q"),
		serve.RunOptions{Name: "queued", RoutePrefix: "/q"}); err != nil {
		t.Fatal(err)
	}
	l := startLoad(addr, "/q", 8)
	l.waitOK(t, 20)
	l.end()
	if l.failed.Load() == 0 {
		t.Fatalf("8 clients on 1 slot and a queue of 2 were never refused (%d ok)", l.ok.Load())
	}
	// The proxy's queue is a gauge, back at zero once the load is over.
	const queued = `rayo_serve_queued_requests{application="queued",deployment="test.versioned"}`
	waitMetric(t, queued, 0)
	deadline := time.Now().Add(15 * time.Second)
	for v, _ := scrapeMetric(t, queued); v != 0; v, _ = scrapeMetric(t, queued) {
		if time.Now().After(deadline) {
			t.Fatalf("%s stays at %v with nothing queued", queued, v)
		}
		time.Sleep(100 * time.Millisecond) // polling a scrape: the push is periodic
	}
}
