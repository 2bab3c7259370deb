package serve_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/serve"
)

type slow struct{}

var slowDep = serve.NewDeployment[slow]("test.slow", func() *slow { return &slow{} }, serve.DeploymentConfig{NumCPUs: 0.1})

func (slow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	time.Sleep(20 * time.Millisecond)
	w.Write([]byte("ok"))
}

func zero() *time.Duration { d := time.Duration(0); return &d }

// Autoscaling on real replicas: load scales 1 → more, its end scales
// back, and a deployment at zero replicas starts one for a request that
// waits for it.
func TestAutoscalingUpDownAndFromZero(t *testing.T) {
	ctx := context.Background()
	addr := startServe(t)
	cfg := &serve.AutoscalingConfig{MinReplicas: 0, MaxReplicas: 4, TargetOngoingRequests: 1, LookBackPeriod: time.Second,
		UpscaleDelay: zero(), DownscaleDelay: zero(), DownscaleToZeroDelay: zero()}
	if _, err := serve.Run(ctx, slowDep.Options(serve.DeploymentConfig{Autoscaling: cfg}).Bind(), serve.RunOptions{Name: "auto", RoutePrefix: "/auto"}); err != nil {
		t.Fatal(err)
	}
	replicas := func() (int, string) {
		st, err := serve.GetStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		d := st.Applications[0].Deployments[0]
		return d.Running, d.Autoscaling
	}
	waitFor := func(what string, cond func(n int) bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			n, why := replicas()
			if cond(n) {
				t.Logf("%s: %d replicas (%s)", what, n, why)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: still %d replicas; last decision: %s", what, n, why)
			}
			time.Sleep(50 * time.Millisecond) // polling the controller's status
		}
	}
	// From zero: a request waits for the first replica.
	resp, err := http.Get("http://" + addr + "/auto")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("a request at zero replicas: %d", resp.StatusCode)
	}
	l := startLoad(addr, "/auto", 6)
	waitFor("under load", func(n int) bool { return n >= 3 })
	l.end()
	waitFor("after the load", func(n int) bool { return n == 0 })
}
