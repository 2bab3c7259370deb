package dashboard

import (
	"bytes"
	"context"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rayo-dev/rayo/internal/gcs"
	"github.com/rayo-dev/rayo/internal/gcs/gcstest"
	"github.com/rayo-dev/rayo/internal/node"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/sched"
)

// scrape GETs /metrics and parses it.
func scrape(t *testing.T, s *Server, token string) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	resp, body := get(t, http.DefaultClient, "http://"+s.Addr()+"/metrics", token)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("/metrics Content-Type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, body)
	}
	return fams, body
}

// find returns the metric of family name whose labels include want.
func find(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	mf := fams[name]
	if mf == nil {
		return nil
	}
next:
	for _, m := range mf.Metric {
		for k, v := range want {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	return nil
}

// value is a gauge's, counter's or untyped metric's value (NaN if absent).
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	m := find(fams, name, want)
	switch {
	case m == nil:
		return math.NaN()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return math.NaN()
}

// startNode starts a real node daemon registered with g.
func startNode(t *testing.T, g *gcs.Server) *node.Node {
	t.Helper()
	dir := t.TempDir()
	n, err := node.Start(node.Config{HeadAddr: g.Addr(), Token: testToken, Resources: sched.Resources{"CPU": 3 * sched.Unit},
		LogsDir: dir + "/logs", BinariesDir: dir + "/bin", StoreDir: dir, ObjectStoreMemory: 8 << 20, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	return n
}

func report(t *testing.T, c *rpc.Client, req *protocol.ReportMetricsRequest) {
	t.Helper()
	var reply protocol.ReportMetricsReply
	if err := c.Call(context.Background(), protocol.HeadReportMetrics, req, &reply); err != nil {
		t.Fatal(err)
	}
	if reply.Rejected != 0 {
		t.Fatalf("the head rejected %d series", reply.Rejected)
	}
}

func appReport(proc string, requests float64, gauge float64, buckets []uint64, sum float64, final bool) *protocol.ReportMetricsRequest {
	var n uint64
	for _, b := range buckets {
		n += b
	}
	return &protocol.ReportMetricsRequest{ProcessID: proc, Pid: 1, Final: final, Metrics: []protocol.MetricData{
		{Name: "requests", Help: "Requests served.", Kind: protocol.MetricCounter, TagKeys: []string{"route"},
			Series: []protocol.MetricSeries{{Tags: []string{"/a"}, Value: requests}}},
		{Name: "queue", Kind: protocol.MetricGauge, Series: []protocol.MetricSeries{{Value: gauge}}},
		{Name: "latency", Kind: protocol.MetricHistogram, Bounds: []float64{0.1, 1},
			Series: []protocol.MetricSeries{{Buckets: buckets, Sum: sum, Count: n}}},
	}}
}

func TestMetricsScrapeSeesTheWholeCluster(t *testing.T) {
	s, g := startHead(t) // with two registered nodes that do not answer
	n := startNode(t, g)
	c, err := rpc.Dial(context.Background(), g.Addr(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	report(t, c, appReport("p1", 3, 5, []uint64{1, 1, 0}, 0.55, false))
	report(t, c, appReport("p2", 4, 7, []uint64{0, 0, 2}, 6, false))
	events := &protocol.TaskEventsRequest{Dropped: 2, Events: []protocol.TaskEvent{
		{TaskID: "t1", Attempt: 1, Name: "f", State: protocol.TaskFinished, TimeUs: 1},
		{TaskID: "t2", Attempt: 1, Name: "f", State: protocol.TaskFailed, TimeUs: 1},
		{TaskID: "t3", Attempt: 1, Name: "g", State: protocol.TaskRunning, TimeUs: 1}}}
	if err := c.Call(context.Background(), protocol.HeadReportTaskEvents, events, nil); err != nil {
		t.Fatal(err)
	}

	// The daemons' latency histograms see a call once it was answered:
	// scrape until the node's shows node.Metrics (the scrape's own call).
	var fams map[string]*dto.MetricFamily
	var body string
	deadline := time.Now().Add(15 * time.Second)
	for {
		fams, body = scrape(t, s, "") // loopback: no token needed
		if find(fams, "rayo_rpc_server_latency_seconds", map[string]string{"component": "node", "node_id": n.ID(), "method": protocol.NodeMetrics}) != nil &&
			find(fams, "rayo_rpc_server_latency_seconds", map[string]string{"component": "head", "method": protocol.HeadClusterStatus}) != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no RPC latency histograms for the node and the head:\n%s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The parser lists the +Inf bucket too.
	h := find(fams, "rayo_rpc_server_latency_seconds", map[string]string{"component": "node", "node_id": n.ID(), "method": protocol.NodeMetrics}).Histogram
	if h.GetSampleCount() < 1 || len(h.Bucket) != len(rpc.LatencyBuckets)+1 || fams["rayo_rpc_server_latency_seconds"].GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("node latency histogram: %v", h)
	}

	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"rayo_nodes", map[string]string{"state": "ALIVE"}, 3},
		{"rayo_nodes", map[string]string{"state": "DEAD"}, 0},
		{"rayo_jobs", map[string]string{"state": "RUNNING"}, 0},
		{"rayo_actors", map[string]string{"state": "ALIVE"}, 0},
		{"rayo_placement_groups", map[string]string{"state": "CREATED"}, 0},
		{"rayo_tasks", map[string]string{"state": "FINISHED"}, 1},
		{"rayo_tasks", map[string]string{"state": "FAILED"}, 1},
		{"rayo_tasks", map[string]string{"state": "RUNNING"}, 1},
		{"rayo_tasks", map[string]string{"state": "PENDING_NODE_ASSIGNMENT"}, 0},
		{"rayo_tasks_by_name", map[string]string{"name": "f", "state": "FAILED"}, 1},
		{"rayo_task_events_dropped_total", nil, 2},
		{"rayo_resources_total", map[string]string{"node_id": n.ID(), "resource": "CPU"}, 3},
		{"rayo_resources_used", map[string]string{"node_id": n.ID(), "resource": "CPU"}, 0},
		{"rayo_node_workers", map[string]string{"node_id": n.ID()}, 0},
		{"rayo_object_store_capacity_bytes", map[string]string{"node_id": n.ID()}, 8 << 20},
		{"rayo_object_store_used_bytes", map[string]string{"node_id": n.ID()}, 0},
		{"rayo_object_store_spilled_bytes", map[string]string{"node_id": n.ID()}, 0},
		{"rayo_object_store_objects", map[string]string{"node_id": n.ID()}, 0},
		// The nodes registered by hand do not answer: left out, counted.
		{"rayo_scrape_errors_total", map[string]string{"component": "node", "node_id": "aaaa"}, 1},
		{"rayo_scrape_errors_total", map[string]string{"component": "node", "node_id": "bbbb"}, 1},
		// Application metrics: counters summed over processes, gauges
		// per process.
		{"rayo_app_requests", map[string]string{"route": "/a"}, 7},
		{"rayo_app_queue", map[string]string{"worker_id": "p1"}, 5},
		{"rayo_app_queue", map[string]string{"worker_id": "p2"}, 7},
		{"rayo_metrics_app_processes", nil, 2},
	}
	for _, c := range checks {
		got := value(fams, c.name, c.labels)
		if c.name == "rayo_scrape_errors_total" {
			if got < c.want {
				t.Errorf("%s%v = %v, want at least %v", c.name, c.labels, got, c.want)
			}
			continue
		}
		if got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if fams["rayo_app_requests"].GetType() != dto.MetricType_COUNTER || fams["rayo_app_queue"].GetType() != dto.MetricType_GAUGE ||
		fams["rayo_app_requests"].GetHelp() != "Requests served." {
		t.Errorf("application metric types or help: %v %v", fams["rayo_app_requests"], fams["rayo_app_queue"])
	}
	if !strings.Contains(body, "# rayo: node aaaa left out") {
		t.Errorf("no comment for the node that did not answer:\n%s", body)
	}
	lat := find(fams, "rayo_app_latency", nil)
	if lat == nil || lat.Histogram == nil {
		t.Fatalf("no histogram rayo_app_latency:\n%s", body)
	}
	hb := lat.Histogram
	if hb.GetSampleCount() != 4 || hb.GetSampleSum() != 6.55 || len(hb.Bucket) != 3 ||
		hb.Bucket[0].GetUpperBound() != 0.1 || hb.Bucket[0].GetCumulativeCount() != 1 ||
		hb.Bucket[1].GetUpperBound() != 1 || hb.Bucket[1].GetCumulativeCount() != 2 ||
		!math.IsInf(hb.Bucket[2].GetUpperBound(), 1) || hb.Bucket[2].GetCumulativeCount() != 4 {
		t.Errorf("rayo_app_latency: %v", hb)
	}

	// p1 closes (its final report): its count stays in the sum, its
	// gauge goes; p2 goes on counting.
	report(t, c, appReport("p1", 4, 5, []uint64{1, 1, 0}, 0.55, true))
	report(t, c, appReport("p2", 10, 8, []uint64{0, 0, 2}, 6, false))
	fams, body = scrape(t, s, "")
	if got := value(fams, "rayo_app_requests", map[string]string{"route": "/a"}); got != 14 {
		t.Errorf("after p1 closed, rayo_app_requests = %v, want 14\n%s", got, body)
	}
	if find(fams, "rayo_app_queue", map[string]string{"worker_id": "p1"}) != nil {
		t.Errorf("the gauge of a closed process is still exposed")
	}
	if got := value(fams, "rayo_app_queue", map[string]string{"worker_id": "p2"}); got != 8 {
		t.Errorf("rayo_app_queue{p2} = %v, want 8", got)
	}
	if got := find(fams, "rayo_app_latency", nil).Histogram.GetSampleCount(); got != 4 {
		t.Errorf("histogram count after p1 closed = %v, want 4", got)
	}
}

func TestMetricsReportsAreChecked(t *testing.T) {
	_, g := startHead(t)
	c, err := rpc.Dial(context.Background(), g.Addr(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Call(context.Background(), protocol.HeadReportMetrics, &protocol.ReportMetricsRequest{}, nil); rpc.CodeOf(err) != rpc.CodeBadRequest {
		t.Fatalf("a report without a process ID: %v", err)
	}
	report(t, c, appReport("p1", 1, 1, []uint64{1, 0, 0}, 0.05, false))
	bad := &protocol.ReportMetricsRequest{ProcessID: "p2", Metrics: []protocol.MetricData{
		{Name: "bad-name", Kind: protocol.MetricCounter, Series: []protocol.MetricSeries{{Value: 1}}},
		{Name: "requests", Kind: protocol.MetricGauge, TagKeys: []string{"route"}, Series: []protocol.MetricSeries{{Tags: []string{"/a"}, Value: 1}}},
		{Name: "neg", Kind: protocol.MetricCounter, Series: []protocol.MetricSeries{{Value: -1}}},
		{Name: "tags", Kind: protocol.MetricCounter, TagKeys: []string{"le"}, Series: []protocol.MetricSeries{{Tags: []string{"x"}, Value: 1}}},
		{Name: "latency", Kind: protocol.MetricHistogram, Bounds: []float64{0.1, 1}, Series: []protocol.MetricSeries{{Buckets: []uint64{1}, Count: 1}}},
	}}
	var reply protocol.ReportMetricsReply
	if err := c.Call(context.Background(), protocol.HeadReportMetrics, bad, &reply); err != nil {
		t.Fatal(err)
	}
	if reply.Rejected != 5 {
		t.Fatalf("rejected %d series, want 5", reply.Rejected)
	}
}

func TestMetricsNeedTheTokenWhenConfigured(t *testing.T) {
	g := gcstest.Start(t, testToken)
	s, err := Start(Config{Listen: "127.0.0.1:0", Token: testToken, HeadAddr: g.Addr(), MetricsNeedToken: true, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	for _, tok := range []string{"", "wrong"} {
		if resp, body := get(t, http.DefaultClient, "http://"+s.Addr()+"/metrics", tok); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("token %q: %d %s, want 401", tok, resp.StatusCode, body)
		}
	}
	fams, _ := scrape(t, s, testToken)
	if got := value(fams, "rayo_nodes", map[string]string{"state": "ALIVE"}); got != 0 {
		t.Errorf("rayo_nodes{ALIVE} = %v", got)
	}
}

func TestMetricsScrapeSurvivesADeadHead(t *testing.T) {
	s, g := startHead(t)
	g.Stop()
	fams, body := scrape(t, s, "")
	if got := value(fams, "rayo_scrape_errors_total", map[string]string{"component": "head"}); got < 1 {
		t.Errorf("rayo_scrape_errors_total{head} = %v\n%s", got, body)
	}
	if !bytes.Contains([]byte(body), []byte("# rayo: head left out")) {
		t.Errorf("no comment for the head:\n%s", body)
	}
}
