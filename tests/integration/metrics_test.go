package integration_test

import (
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Application metrics, defined at package level so that workers have
// them too, and a task that records them.
var (
	itestServed       = must(rayo.NewCounter("itest_served", "Requests itest.serve handled.", "route"))
	itestDriverEvents = must(rayo.NewCounter("itest_driver_events", "Events the driver recorded."))
	itestDriverUp     = must(rayo.NewGauge("itest_driver_up", "1 while the driver runs."))
	itestLatency      = must(rayo.NewHistogram("itest_latency_seconds", "itest.serve's latency.", []float64{0.01, 0.1, 1}, "route"))

	serve = rayo.Register[int]("itest.serve", func(route string, n int) (int, error) {
		for i := range n {
			if err := itestServed.Inc(1, "route", route); err != nil {
				return 0, err
			}
			if err := itestLatency.Observe(0.05*float64(i+1), "route", route); err != nil {
				return 0, err
			}
		}
		return os.Getpid(), nil
	})
)

// scrapeMetrics GETs the head's /metrics (from loopback, no token) and
// parses it; nil if the dashboard does not answer.
func scrapeMetrics(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, body)
	}
	return fams
}

func labelsMatch(m *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		found := false
		for _, lp := range m.Label {
			if lp.GetName() == k && lp.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// metricsOf returns the metrics of a family whose labels include want.
func metricsOf(fams map[string]*dto.MetricFamily, name string, want map[string]string) []*dto.Metric {
	var out []*dto.Metric
	if mf := fams[name]; mf != nil {
		for _, m := range mf.Metric {
			if labelsMatch(m, want) {
				out = append(out, m)
			}
		}
	}
	return out
}

func gaugeOf(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	ms := metricsOf(fams, name, want)
	if len(ms) != 1 {
		return math.NaN()
	}
	if ms[0].Gauge != nil {
		return ms[0].Gauge.GetValue()
	}
	return ms[0].Counter.GetValue()
}

func labelOf(m *dto.Metric, name string) string {
	for _, lp := range m.Label {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

func TestMetricsFromWorkersAndNodesReachTheHead(t *testing.T) {
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 1, ExtraArgs: []string{"--dashboard-port", "0"}},
		testcluster.NodeSpec{CPUs: 2})
	connect(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	url := dashboardURL(t, c) + "/metrics"

	// Workers record: 4 tasks of 3 requests each, on whichever workers.
	refs := make([]rayo.ObjectRef[int], 4)
	for i := range refs {
		refs[i] = serve.Remote("/predict", 3)
	}
	pids, err := rayo.GetAll(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if pid == os.Getpid() {
			t.Fatal("a task ran in the driver")
		}
	}
	// A stored object (over the inline limit) on the driver's node.
	big, err := rayo.Put(ctx, make([]byte, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer runtime.KeepAlive(big)

	var fams map[string]*dto.MetricFamily
	route := map[string]string{"route": "/predict"}
	testcluster.WaitFor(t, 30*time.Second, func() bool {
		fams = scrapeMetrics(t, url)
		if fams == nil || gaugeOf(fams, "rayo_app_itest_served", route) != 12 {
			return false
		}
		h := metricsOf(fams, "rayo_app_itest_latency_seconds", route)
		return len(h) == 1 && h[0].Histogram.GetSampleCount() == 12 &&
			len(metricsOf(fams, "rayo_rpc_server_latency_seconds", map[string]string{"component": "node", "method": protocol.NodeRequestLease})) > 0 &&
			gaugeOf(fams, "rayo_object_store_objects", map[string]string{"node_id": rayo.NodeID()}) >= 1
	}, "the head's /metrics to show the workers' counter and histogram, a node's lease latency and the stored object")

	if mf := fams["rayo_app_itest_served"]; mf.GetType() != dto.MetricType_COUNTER || mf.GetHelp() != "Requests itest.serve handled." {
		t.Errorf("rayo_app_itest_served: %v", mf)
	}
	h := metricsOf(fams, "rayo_app_itest_latency_seconds", route)[0].Histogram
	// Each task observes 0.05, 0.10, 0.15: buckets 0.01: 0, 0.1: 2, 1: 3.
	wantCum := []uint64{0, 8, 12, 12}
	if fams["rayo_app_itest_latency_seconds"].GetType() != dto.MetricType_HISTOGRAM || len(h.Bucket) != len(wantCum) ||
		math.Abs(h.GetSampleSum()-4*0.3) > 1e-9 {
		t.Fatalf("rayo_app_itest_latency_seconds: %v", h)
	}
	for i, b := range h.Bucket {
		if b.GetCumulativeCount() != wantCum[i] {
			t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), wantCum[i])
		}
	}

	// Both nodes: resources, workers and object store, under their IDs.
	cpus := map[string]float64{}
	for _, m := range metricsOf(fams, "rayo_resources_total", map[string]string{"resource": "CPU"}) {
		cpus[labelOf(m, "node_id")] = m.Gauge.GetValue()
	}
	if len(cpus) != 2 {
		t.Fatalf("rayo_resources_total{resource=CPU} for %d nodes, want 2: %v", len(cpus), cpus)
	}
	seen := map[float64]bool{}
	for id, v := range cpus {
		seen[v] = true
		for _, name := range []string{"rayo_resources_used", "rayo_node_workers", "rayo_object_store_capacity_bytes",
			"rayo_object_store_used_bytes", "rayo_object_store_spilled_bytes", "rayo_object_store_objects"} {
			labels := map[string]string{"node_id": id}
			if name == "rayo_resources_used" {
				labels["resource"] = "CPU"
			}
			if v := gaugeOf(fams, name, labels); math.IsNaN(v) || v < 0 {
				t.Errorf("%s{node_id=%s} = %v", name, id, v)
			}
		}
		if gaugeOf(fams, "rayo_object_store_capacity_bytes", map[string]string{"node_id": id}) <= 0 {
			t.Errorf("node %s: no object store capacity", id)
		}
	}
	if !seen[1] || !seen[2] {
		t.Errorf("CPU totals %v, want 1 and 2", cpus)
	}
	if used := gaugeOf(fams, "rayo_object_store_used_bytes", map[string]string{"node_id": rayo.NodeID()}); used < 1<<20 {
		t.Errorf("the driver's node's store uses %v bytes, want at least the 1 MiB object", used)
	}
	workers := 0.0
	for id := range cpus {
		workers += gaugeOf(fams, "rayo_node_workers", map[string]string{"node_id": id})
	}
	if workers < 1 {
		t.Errorf("no workers counted on any node")
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"rayo_nodes", map[string]string{"state": "ALIVE"}, 2},
		{"rayo_jobs", map[string]string{"state": "RUNNING"}, 1},
	} {
		if got := gaugeOf(fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if len(metricsOf(fams, "rayo_rpc_server_latency_seconds", map[string]string{"component": "head", "method": protocol.HeadReportMetrics})) != 1 {
		t.Errorf("no latency histogram for the head's %s", protocol.HeadReportMetrics)
	}

	// The driver's metrics: its final report on Shutdown retires it, so
	// its gauge goes and its count stays.
	if err := itestDriverEvents.Inc(5); err != nil {
		t.Fatal(err)
	}
	if err := itestDriverUp.Set(1); err != nil {
		t.Fatal(err)
	}
	testcluster.WaitFor(t, 30*time.Second, func() bool {
		fams = scrapeMetrics(t, url)
		return fams != nil && gaugeOf(fams, "rayo_app_itest_driver_up", nil) == 1
	}, "the driver's gauge")
	rayo.Shutdown()
	// Within the deadline, well before the head would retire a silent
	// process (gcs.AppProcessTTL).
	testcluster.WaitFor(t, 30*time.Second, func() bool {
		fams = scrapeMetrics(t, url)
		return fams != nil && gaugeOf(fams, "rayo_app_itest_driver_events", nil) == 5 &&
			len(metricsOf(fams, "rayo_app_itest_driver_up", nil)) == 0
	}, "the driver's final report: its counter kept, its gauge gone")
}
