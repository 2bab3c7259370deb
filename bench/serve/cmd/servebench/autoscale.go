package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rayo-dev/rayo/serve"
)

// sleepy holds each request for a while without using the CPU, so that
// its ongoing requests count the clients, as a model waiting on an
// accelerator would.
type sleepy struct{}

const sleepyHold = 10 * time.Millisecond

var sleepyDep = serve.NewDeployment[sleepy]("servebench.sleepy", func() *sleepy { return &sleepy{} },
	serve.DeploymentConfig{NumCPUs: 0.01, MaxOngoingRequests: 100})

func (sleepy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	time.Sleep(sleepyHold)
	_, _ = w.Write([]byte("ok"))
}

// lookBack is row 4's LookBackPeriod: short, so that the load the
// policy sees follows the step within the delays.
const lookBack = 2 * time.Second

// rowAutoscale is row 4: one client, then 64, then one again; the
// controller's status, polled every 50 ms, timestamps the decisions and
// the replicas running, which are set beside the configured delays.
func rowAutoscale(ctx context.Context, serveURL string, f flags) error {
	const app = "autoscale"
	cfg := serve.AutoscalingConfig{MinReplicas: 1, MaxReplicas: f.maxRepl, TargetOngoingRequests: 2,
		LookBackPeriod: lookBack, UpscaleDelay: new(f.up), DownscaleDelay: new(f.down)}
	if _, err := serve.Run(ctx, sleepyDep.Options(serve.DeploymentConfig{Autoscaling: &cfg}).Bind(), serve.RunOptions{Name: app, RoutePrefix: "/" + app}); err != nil {
		return err
	}
	defer serve.Delete(ctx, app)
	url := serveURL + "/" + app
	var failed atomic.Int64
	one := clients(ctx, url, 1, &failed)
	defer one()
	time.Sleep(lookBack + time.Second) // one client's load settles: one replica
	header(fmt.Sprintf("Row 4: autoscaling, each request holding %v, TargetOngoingRequests 2, LookBackPeriod %v, replicas' load polled by the controller (statsEvery 1 s)",
		sleepyHold, lookBack), "step", "configured delay", "decided after", "replicas running after", "running − delay")
	var reasons []string
	step := func(name string, delay time.Duration, want int) error {
		decided, ready, why, err := waitReplicas(ctx, app, want, delay+30*time.Second)
		if err != nil {
			return err
		}
		reasons = append(reasons, why)
		row(name, delay.String(), secs(decided), secs(ready), secs(ready-delay))
		return nil
	}
	more := clients(ctx, url, 63, &failed)
	err := step(fmt.Sprintf("1 → 64 clients: 1 → %d replicas", f.maxRepl), f.up, f.maxRepl)
	more()
	if err != nil {
		return err
	}
	if err := step(fmt.Sprintf("64 → 1 clients: %d → 1 replica", f.maxRepl), f.down, 1); err != nil {
		return err
	}
	for _, r := range reasons {
		fmt.Printf("\n- decision: %s", r)
	}
	fmt.Printf("\n- failed requests: %d\n", failed.Load())
	return nil
}

// waitReplicas polls the status until the application's deployment
// wants n replicas and has exactly n running, and says when each came,
// with the decision's reason.
func waitReplicas(ctx context.Context, app string, n int, limit time.Duration) (decided, ready time.Duration, why string, err error) {
	start := time.Now()
	for decided, ready = -1, -1; time.Since(start) < limit; time.Sleep(50 * time.Millisecond) {
		st, err := serve.GetStatus(ctx)
		if err != nil {
			return 0, 0, "", err
		}
		for _, a := range st.Applications {
			if a.Name != app || len(a.Deployments) != 1 {
				continue
			}
			d := a.Deployments[0]
			if d.Wanted == n && decided < 0 {
				decided, why = time.Since(start), d.Autoscaling
			}
			if decided >= 0 && d.Running == n && len(d.Replicas) == n {
				return decided, time.Since(start), why, nil
			}
		}
	}
	return 0, 0, "", fmt.Errorf("%s: not at %d replicas after %v", app, n, limit)
}

// clients starts n clients that each send one request after the other
// until the returned stop is called; failures are counted in failed.
func clients(ctx context.Context, url string, n int, failed *atomic.Int64) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := c.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	return func() {
		cancel()
		wg.Wait()
		c.CloseIdleConnections()
	}
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
