package serve_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/serve"
)

// scrapeMetric returns a series' value at the cluster's /metrics
// (name{labels}, labels in the exposition's order: sorted by key; a
// gauge's worker_id label, which follows, is ignored) and whether it is there.
func scrapeMetric(t *testing.T, series string) (float64, bool) {
	t.Helper()
	resp, err := http.Get("http://" + rayo.DashboardAddress() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	open := strings.TrimSuffix(series, "}")
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, series+" ") || strings.HasPrefix(line, open+",") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			return v, true
		}
	}
	return 0, false
}

// waitMetric waits until series is at /metrics with a value of at least
// atLeast (processes push their metrics about every second).
func waitMetric(t *testing.T, series string, atLeast float64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		v, ok := scrapeMetric(t, series)
		if ok && v >= atLeast {
			return
		}
		if time.Now().After(deadline) {
			resp, _ := http.Get("http://" + rayo.DashboardAddress() + "/metrics")
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var lines []string
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, "rayo_serve_") {
					lines = append(lines, l)
				}
			}
			t.Fatalf("%s: %v (present %v), want at least %v; Serve at /metrics:\n%s", series, v, ok, atLeast, strings.Join(lines, "\n"))
		}
		time.Sleep(100 * time.Millisecond) // polling a scrape: the push is periodic
	}
}

// Serve's metrics per deployment: requests through the proxy by code,
// requests run on the replica (HTTP and handle calls) by outcome with
// their latency, replicas by state, and the multiplexed model cache's
// events.
func TestServeMetrics(t *testing.T) {
	ctx := context.Background()
	addr := startServe(t)
	h, err := serve.Run(ctx, multiDep.Bind(), serve.RunOptions{Name: "metered", RoutePrefix: "/metered"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "a", "b", "c", "a", ""} { // "": refused with 400
		req, _ := http.NewRequest("GET", "http://"+addr+"/metered", nil)
		if id != "" {
			req.Header.Set(serve.ModelIDHeader, id)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if _, err := serve.Result[string](ctx, h.WithModelID("a").Call(ctx, "Which")); err != nil {
		t.Fatal(err)
	}
	if err := h.Call(ctx, "Which").Result(ctx, nil); err == nil { // no model ID: an error
		t.Fatal("a call without a model ID succeeded")
	}
	const labels = `application="metered",deployment="test.multi"`
	waitMetric(t, `rayo_serve_requests_total{application="metered",code="200",deployment="test.multi"}`, 5)
	waitMetric(t, `rayo_serve_requests_total{application="metered",code="400",deployment="test.multi"}`, 1)
	waitMetric(t, `rayo_serve_request_latency_ms_count{`+labels+`}`, 6)
	waitMetric(t, `rayo_serve_replica_requests_total{`+labels+`,outcome="ok"}`, 7) // 6 over HTTP, 1 call
	waitMetric(t, `rayo_serve_replica_requests_total{`+labels+`,outcome="error"}`, 1)
	waitMetric(t, `rayo_serve_replica_latency_ms_count{`+labels+`}`, 8)
	waitMetric(t, `rayo_serve_replicas{`+labels+`,state="RUNNING"}`, 1)
	waitMetric(t, `rayo_serve_multiplexed_events_total{`+labels+`,event="load"}`, 4) // a, b, c, a again
	waitMetric(t, `rayo_serve_multiplexed_events_total{`+labels+`,event="evict"}`, 2)
	waitMetric(t, `rayo_serve_multiplexed_events_total{`+labels+`,event="hit"}`, 2)
	waitMetric(t, `rayo_serve_multiplexed_models{`+labels+`}`, 2)
}
