package gcs

import (
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/rayo-dev/rayo/internal/protocol"
)

func counterReport(proc string, v float64, routes ...string) *protocol.ReportMetricsRequest {
	m := protocol.MetricData{Name: "hits", Kind: protocol.MetricCounter, TagKeys: []string{"route"}}
	for _, r := range routes {
		m.Series = append(m.Series, protocol.MetricSeries{Tags: []string{r}, Value: v})
	}
	g := protocol.MetricData{Name: "level", Kind: protocol.MetricGauge, Series: []protocol.MetricSeries{{Value: v}}}
	return &protocol.ReportMetricsRequest{ProcessID: proc, Metrics: []protocol.MetricData{m, g}}
}

// gather collects a and returns its families by name.
func gather(t *testing.T, a *appMetrics) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(a)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func TestMetricsProcessesThatStopReportingAreRetired(t *testing.T) {
	now := time.Unix(1000, 0)
	a := newAppMetrics(func() time.Time { return now })
	a.report(counterReport("p1", 5, "/a"))
	a.report(counterReport("p2", 1, "/a"))
	now = now.Add(AppProcessTTL / 2)
	a.report(counterReport("p2", 2, "/a")) // p2 keeps reporting; p1 went silent
	now = now.Add(AppProcessTTL/2 + time.Second)
	fams := gather(t, a)
	if got := fams[AppPrefix+"hits"].Metric[0].Counter.GetValue(); got != 7 {
		t.Errorf("hits = %v after p1 was retired, want 7 (its count kept)", got)
	}
	if got := len(fams[AppPrefix+"level"].Metric); got != 1 {
		t.Errorf("%d gauge series, want p2's only", got)
	}
	if got := fams["rayo_metrics_app_processes"].Metric[0].Gauge.GetValue(); got != 1 {
		t.Errorf("processes = %v, want 1", got)
	}
	// Live: p2's two series; retired: p1's counter series.
	if got := fams["rayo_metrics_app_series"].Metric[0].Gauge.GetValue(); got != 3 {
		t.Errorf("series = %v, want 3", got)
	}
}

func TestMetricsSeriesAreBoundedOnTheHead(t *testing.T) {
	a := newAppMetrics(time.Now)
	routes := make([]string, MaxAppSeries)
	for i := range routes {
		routes[i] = strconv.Itoa(i)
	}
	// One gauge series and MaxAppSeries counter series: one too many.
	if rejected := a.report(counterReport("p1", 1, routes...)); rejected != 1 {
		t.Fatalf("rejected %d, want 1", rejected)
	}
	// The same process again: what it had is still its own.
	if rejected := a.report(counterReport("p1", 2, routes...)); rejected != 1 {
		t.Fatalf("again: rejected %d, want 1", rejected)
	}
	if rejected := a.report(counterReport("p2", 1, "x")); rejected != 2 {
		t.Fatalf("another process over the bound: rejected %d, want 2", rejected)
	}
	a.report(&protocol.ReportMetricsRequest{ProcessID: "p1"}) // p1 reports nothing now
	if rejected := a.report(counterReport("p2", 1, "x")); rejected != 0 {
		t.Fatalf("after p1 dropped its series: rejected %d", rejected)
	}
}
