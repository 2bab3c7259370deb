package serve_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/serve"
)

// versioned answers with its version after a short wait.
type versioned struct{ v string }

var versionedDep = serve.NewDeployment[versioned]("test.versioned", func(v string) *versioned { return &versioned{v} },
	serve.DeploymentConfig{NumCPUs: 0.25, NumReplicas: 2, GracefulShutdownTimeout: 5 * time.Second})

func (s *versioned) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	time.Sleep(2 * time.Millisecond)
	fmt.Fprint(w, s.v)
}

// load sends requests from n clients until stop is closed and counts the
// answers by body and the failures.
type load struct {
	mu     sync.Mutex
	bodies map[string]int
	failed atomic.Int64
	ok     atomic.Int64
	wg     sync.WaitGroup
	stop   chan struct{}
}

func startLoad(addr, path string, n int) *load {
	l := &load{bodies: map[string]int{}, stop: make(chan struct{})}
	client := &http.Client{Timeout: 30 * time.Second}
	for range n {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := client.Get("http://" + addr + path)
				if err != nil {
					l.failed.Add(1)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					l.failed.Add(1)
					continue
				}
				l.ok.Add(1)
				l.mu.Lock()
				l.bodies[string(b)]++
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *load) end() { close(l.stop); l.wg.Wait() }

// waitOK waits until the load has had k more successes.
func (l *load) waitOK(t *testing.T, k int64) {
	t.Helper()
	target := l.ok.Load() + k
	deadline := time.Now().Add(time.Minute)
	for l.ok.Load() < target {
		if time.Now().After(deadline) {
			t.Fatalf("the load made no progress: %d ok, %d failed", l.ok.Load(), l.failed.Load())
		}
		time.Sleep(5 * time.Millisecond) // polling a counter the load goroutines move
	}
}

func startServe(t *testing.T) string {
	t.Helper()
	addr, err := serve.Start(context.Background(), serve.HTTPOptions{Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := serve.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return addr
}

// A rolling update under load drops no request: new replicas pass their
// check before old ones drain.
func TestRollingUpdateUnderLoad(t *testing.T) {
	ctx := context.Background()
	addr := startServe(t)
	if _, err := serve.Run(ctx, versionedDep.Bind("v1"), serve.RunOptions{Name: "roll"}); err != nil {
		t.Fatal(err)
	}
	l := startLoad(addr, "/", 4)
	l.waitOK(t, 50)
	if _, err := serve.Run(ctx, versionedDep.Bind("v2"), serve.RunOptions{Name: "roll"}); err != nil {
		t.Fatal(err)
	}
	l.waitOK(t, 50)
	l.end()
	if f := l.failed.Load(); f != 0 {
		t.Fatalf("%d requests failed during the rolling update (%d ok): %v", f, l.ok.Load(), l.bodies)
	}
	if l.bodies["v1"] == 0 || l.bodies["v2"] == 0 {
		t.Fatalf("answers by version: %v", l.bodies)
	}
	st, err := serve.GetStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range st.Applications[0].Deployments {
		if d.Running != 2 || len(d.Replicas) != 2 {
			t.Fatalf("after the update: %+v", d)
		}
	}
}

// A replica killed under load: the requests on it fail at most once
// each, the others go elsewhere, and a new replica replaces it.
func TestReplicaKilledUnderLoad(t *testing.T) {
	ctx := context.Background()
	addr := startServe(t)
	if _, err := serve.Run(ctx, versionedDep.Bind("k"), serve.RunOptions{Name: "kill"}); err != nil {
		t.Fatal(err)
	}
	l := startLoad(addr, "/", 4)
	l.waitOK(t, 50)
	if err := serve.KillReplica(ctx, "rayo.serve.replica:kill:test.versioned:0"); err != nil {
		t.Fatal(err)
	}
	l.waitOK(t, 200)
	l.end()
	t.Logf("%d requests failed, %d ok", l.failed.Load(), l.ok.Load())
	// At most the requests in flight on it (MaxOngoingRequests 5) fail,
	// plus those sent before the proxy saw it die.
	if f := l.failed.Load(); f > 10 {
		t.Fatalf("%d requests failed after one replica was killed (%d ok)", f, l.ok.Load())
	}
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := serve.GetStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		d := st.Applications[0].Deployments[0]
		replaced := d.Running == 2
		for _, r := range d.Replicas {
			if r.ID == "rayo.serve.replica:kill:test.versioned:0" {
				replaced = false
			}
		}
		if replaced {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed replica was not replaced: %+v", d)
		}
		time.Sleep(20 * time.Millisecond) // polling the controller's status
	}
}

// A replica killed under handle calls: as through the proxy, the calls
// on it fail at most once each, the others go elsewhere, and the
// controller replaces it at once. Its health checks are an hour apart:
// only the handles' report of the death can have it replaced.
func TestReplicaKilledUnderHandleCalls(t *testing.T) {
	ctx := context.Background()
	startServe(t)
	h, err := serve.Run(ctx, scalerDep.Options(serve.DeploymentConfig{NumReplicas: 2, HealthCheckPeriod: time.Hour}).Bind(3.0),
		serve.RunOptions{Name: "hkill", RoutePrefix: "/hkill"})
	if err != nil {
		t.Fatal(err)
	}
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if y, err := serve.Result[float64](ctx, h.Call(ctx, "Predict", 2.0)); err != nil || y != 6 {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()
	waitOK := func(k int64) {
		t.Helper()
		target, deadline := ok.Load()+k, time.Now().Add(30*time.Second)
		for ok.Load() < target {
			if time.Now().After(deadline) {
				t.Fatalf("%d more calls did not succeed (%d ok, %d failed)", k, ok.Load(), failed.Load())
			}
			time.Sleep(5 * time.Millisecond) // polling counters the callers move
		}
	}
	waitOK(50)
	const victim = "rayo.serve.replica:hkill:test.scaler:0"
	if err := serve.KillReplica(ctx, victim); err != nil {
		t.Fatal(err)
	}
	waitOK(200)
	if f := failed.Load(); f > 10 {
		t.Fatalf("%d calls failed after one replica was killed (%d ok)", f, ok.Load())
	}
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := serve.GetStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var d serve.DeploymentStatus
		for _, a := range st.Applications {
			if a.Name == "hkill" {
				d = a.Deployments[0]
			}
		}
		replaced := d.Running == 2
		for _, r := range d.Replicas {
			replaced = replaced && r.ID != victim
		}
		if replaced {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed replica was not replaced: %+v", d)
		}
		time.Sleep(20 * time.Millisecond) // polling the controller's status
	}
	t.Logf("%d calls failed, %d ok", failed.Load(), ok.Load())
}
