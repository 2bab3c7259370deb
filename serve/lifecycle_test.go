package serve_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/serve"
)

// broken's constructor fails, as one loading a missing model does.
type broken struct{}

var brokenDep = serve.NewDeployment[broken]("test.broken", func() (*broken, error) {
	return nil, errors.New("model file missing")
}, serve.DeploymentConfig{NumCPUs: 0.1})

// A deployment whose replicas fail to start: Run fails with the
// constructor's error once the deployment is UNHEALTHY, and the
// controller retries with backoff, not in a tight loop.
func TestFailingReplicasBackOff(t *testing.T) {
	ctx := context.Background()
	startServe(t)
	_, err := serve.Run(ctx, brokenDep.Bind(), serve.RunOptions{Name: "broken", RoutePrefix: "/broken", Wait: time.Minute})
	if !errors.Is(err, serve.ErrUnavailable) || !strings.Contains(err.Error(), "model file missing") {
		t.Fatalf("Run of a deployment whose constructor fails: %v", err)
	}
	st, err := serve.GetStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := st.Applications[0]
	if a.Status != "DEPLOY_FAILED" || a.Deployments[0].Status != "UNHEALTHY" || !strings.Contains(a.Deployments[0].Message, "model file missing") {
		t.Fatalf("status %+v", a)
	}
	before, err := serve.ReplicaStarts(ctx, "broken", brokenDep.Name())
	if err != nil {
		t.Fatal(err)
	}
	// A window to count the retries in (not a synchronisation): without
	// backoff a start fails every few milliseconds; with it, after three
	// failures, at most a few fit in two seconds (0.4 s, 0.8 s, 1.6 s ...).
	time.Sleep(2 * time.Second)
	after, err := serve.ReplicaStarts(ctx, "broken", brokenDep.Name())
	if err != nil {
		t.Fatal(err)
	}
	if n := after - before; n > 4 {
		t.Fatalf("%d replica starts in 2 s after %d failures: no backoff", n, before)
	}
	if err := serve.Delete(ctx, "broken"); err != nil {
		t.Fatal(err)
	}
}

// tunable takes its UserConfig through Reconfigure; a config with
// "hang" never returns from it.
type tunable struct {
	mu    sync.Mutex
	value string
}

var tunableDep = serve.NewDeployment[tunable]("test.tunable", func() *tunable { return &tunable{} },
	serve.DeploymentConfig{NumCPUs: 0.1, HealthCheckPeriod: 100 * time.Millisecond, HealthCheckTimeout: 500 * time.Millisecond,
		GracefulShutdownTimeout: time.Second})

func (t *tunable) Reconfigure(ctx context.Context, cfg []byte) error {
	var c struct {
		Value string `json:"value"`
		Hang  bool   `json:"hang"`
	}
	if err := json.Unmarshal(cfg, &c); err != nil {
		return err
	}
	if c.Hang {
		// Say so (the test waits for it), then be stuck for good: the
		// replica is killed in the end.
		if _, err := rayo.KVPut(ctx, "tunable/hung", []byte("yes"), rayo.KVNamespace("serve-test")); err != nil {
			return err
		}
		select {}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.value = c.Value
	return nil
}

func (t *tunable) Value() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.value
}

// UserConfig reaches the running replica through Reconfigure, without a
// restart; a Reconfigure that hangs holds up neither the deployment's
// removal nor Serve's shutdown.
func TestUserConfigAndAStuckReconfigure(t *testing.T) {
	ctx := context.Background()
	if _, err := rayo.KVDelete(ctx, "tunable/hung", rayo.KVNamespace("serve-test")); err != nil {
		t.Fatal(err)
	}
	startServe(t)
	run := func(cfg map[string]any) serve.DeploymentHandle {
		t.Helper()
		h, err := serve.Run(ctx, tunableDep.Options(serve.DeploymentConfig{UserConfig: cfg}).Bind(), serve.RunOptions{Name: "tunable", RoutePrefix: "/tunable"})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	replicas := func() []string {
		st, err := serve.GetStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, a := range st.Applications {
			for _, r := range a.Deployments[0].Replicas {
				ids = append(ids, r.ID)
			}
		}
		return ids
	}
	h := run(map[string]any{"value": "a"})
	if v, err := serve.Result[string](ctx, h.Call(ctx, "Value")); err != nil || v != "a" {
		t.Fatalf("the first config: %q %v", v, err)
	}
	first := replicas()
	run(map[string]any{"value": "b"})
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := serve.Result[string](ctx, h.Call(ctx, "Value"))
		if err == nil && v == "b" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new config never reached the replica: %q %v", v, err)
		}
		time.Sleep(20 * time.Millisecond) // polling the replica
	}
	if got := replicas(); strings.Join(got, ",") != strings.Join(first, ",") {
		t.Fatalf("replicas %v after a UserConfig change, were %v: restarted", got, first)
	}

	run(map[string]any{"value": "c", "hang": true})
	deadline = time.Now().Add(30 * time.Second)
	for {
		if _, err := rayo.KVGet(ctx, "tunable/hung", rayo.KVNamespace("serve-test")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replica was never given the config whose Reconfigure hangs")
		}
		time.Sleep(10 * time.Millisecond) // polling the replica's flag
	}
	if err := serve.Delete(ctx, "tunable"); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		st, err := serve.GetStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Applications) == 0 && st.Stopping == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deployment with a stuck Reconfigure was not removed: %+v", st)
		}
		time.Sleep(20 * time.Millisecond) // polling the controller's status
	}
}

// flaky's constructor fails when told to (a bad model version), and
// otherwise until the key-value store has "flaky/ready" (a model store
// coming up).
type flaky struct{}

var flakyDep = serve.NewDeployment[flaky]("test.flaky", func(ctx context.Context, bad bool) (*flaky, error) {
	if bad {
		return nil, errors.New("bad model version")
	}
	if _, err := rayo.KVGet(ctx, "flaky/ready", rayo.KVNamespace("serve-test")); err != nil {
		return nil, errors.New("the model store is not up yet")
	}
	return &flaky{}, nil
}, serve.DeploymentConfig{NumCPUs: 0.1})

func (*flaky) Ping() string { return "pong" }

// A round of replicas that fail together counts as one failure, not one
// per replica: Run waits through it; and a deployment made UNHEALTHY by
// a bad version runs once a good version is deployed, without waiting
// out the bad one's backoff.
func TestReplicaStartsRecover(t *testing.T) {
	ctx := context.Background()
	ns := rayo.KVNamespace("serve-test")
	if _, err := rayo.KVDelete(ctx, "flaky/ready", ns); err != nil {
		t.Fatal(err)
	}
	startServe(t)
	opts := serve.RunOptions{Name: "flaky", RoutePrefix: "/flaky", Wait: time.Minute}
	done := make(chan error, 1)
	go func() {
		_, err := serve.Run(ctx, flakyDep.Options(serve.DeploymentConfig{NumReplicas: 3}).Bind(false), opts)
		done <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := serve.ReplicaStarts(ctx, "flaky", flakyDep.Name())
		if err == nil && n >= 6 {
			break // a round of three has failed, and a second one began
		}
		if time.Now().After(deadline) {
			t.Fatalf("no round of starts: %d %v", n, err)
		}
		time.Sleep(10 * time.Millisecond) // polling the controller's record
	}
	if _, err := rayo.KVPut(ctx, "flaky/ready", []byte("yes"), ns); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run through one failed round of three replicas: %v", err)
	}

	if _, err := serve.Run(ctx, flakyDep.Options(serve.DeploymentConfig{NumReplicas: 1}).Bind(true), opts); !errors.Is(err, serve.ErrUnavailable) ||
		!strings.Contains(err.Error(), "bad model version") {
		t.Fatalf("a bad version: %v", err)
	}
	// A new good version (its options differ from the first one's, whose
	// replicas still serve).
	h, err := serve.Run(ctx, flakyDep.Options(serve.DeploymentConfig{NumReplicas: 1, NumCPUs: 0.12}).Bind(false), opts)
	if err != nil {
		t.Fatalf("the good version after a bad one: %v", err)
	}
	if got, err := serve.Result[string](ctx, h.Call(ctx, "Ping")); err != nil || got != "pong" {
		t.Fatalf("Ping: %q %v", got, err)
	}
}
