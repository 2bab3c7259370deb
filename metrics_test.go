package rayo

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rayo-dev/rayo/internal/protocol"
)

// snapshotOf returns the snapshot of one metric (nil if it has no series).
func snapshotOf(name string) *protocol.MetricData {
	for _, d := range appMetrics.MetricsSnapshot(false) {
		if d.Name == name {
			return &d
		}
	}
	return nil
}

func seriesOf(d *protocol.MetricData, tags ...string) *protocol.MetricSeries {
	if d == nil {
		return nil
	}
	for i := range d.Series {
		if strings.Join(d.Series[i].Tags, ",") == strings.Join(tags, ",") {
			return &d.Series[i]
		}
	}
	return nil
}

func wantMetricError(t *testing.T, what string, err error, metric string) {
	t.Helper()
	var me *MetricError
	if !errors.Is(err, ErrInvalidMetric) || !errors.As(err, &me) {
		t.Errorf("%s: %v, want a *MetricError", what, err)
		return
	}
	if me.Metric != metric || me.Problem == "" {
		t.Errorf("%s: %+v", what, me)
	}
}

func TestMetricsDefinitionsAreChecked(t *testing.T) {
	for _, c := range []struct {
		what string
		def  func() error
		name string
	}{
		{"empty name", func() error { _, err := NewCounter("", "x"); return err }, ""},
		{"name with a dash", func() error { _, err := NewCounter("a-b", "x"); return err }, "a-b"},
		{"name starting with a digit", func() error { _, err := NewGauge("1x", "x"); return err }, "1x"},
		{"name too long", func() error { _, err := NewGauge(strings.Repeat("a", 201), "x"); return err }, strings.Repeat("a", 201)},
		{"reserved tag key le", func() error { _, err := NewHistogram("test_h_le", "x", []float64{1}, "le"); return err }, "test_h_le"},
		{"reserved tag key worker_id", func() error { _, err := NewGauge("test_g_w", "x", "worker_id"); return err }, "test_g_w"},
		{"tag key with __", func() error { _, err := NewCounter("test_c_u", "x", "__x"); return err }, "test_c_u"},
		{"tag key with a space", func() error { _, err := NewCounter("test_c_s", "x", "a b"); return err }, "test_c_s"},
		{"tag key twice", func() error { _, err := NewCounter("test_c_d", "x", "a", "a"); return err }, "test_c_d"},
		{"no boundaries", func() error { _, err := NewHistogram("test_h_none", "x", nil); return err }, "test_h_none"},
		{"boundaries not increasing", func() error { _, err := NewHistogram("test_h_dec", "x", []float64{1, 1}); return err }, "test_h_dec"},
		{"boundary NaN", func() error { _, err := NewHistogram("test_h_nan", "x", []float64{math.NaN()}); return err }, "test_h_nan"},
		{"boundary +Inf", func() error { _, err := NewHistogram("test_h_inf", "x", []float64{1, math.Inf(1)}); return err }, "test_h_inf"},
		{"a library's name", func() error { _, err := NewCounter("rayo_data_rows", "x"); return err }, "rayo_data_rows"},
	} {
		wantMetricError(t, c.what, c.def(), c.name)
	}

	// The same definition twice is the same metric; a different one is
	// refused.
	a, err := NewCounter("test_shared", "x", "k")
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewCounter("test_shared", "another description", "k")
	if err != nil || b.m != a.m {
		t.Fatalf("defining the same counter again: %v", err)
	}
	_, err = NewGauge("test_shared", "x", "k")
	wantMetricError(t, "a gauge under a counter's name", err, "test_shared")
	_, err = NewCounter("test_shared", "x", "other")
	wantMetricError(t, "other tag keys", err, "test_shared")
	_, err = NewHistogram("test_shared_h", "x", []float64{1, 2})
	if err == nil {
		_, err = NewHistogram("test_shared_h", "x", []float64{1, 3})
	}
	wantMetricError(t, "other boundaries", err, "test_shared_h")
}

func TestMetricsRecordingsAreChecked(t *testing.T) {
	c, err := NewCounter("test_rec_counter", "x", "route", "code")
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewGauge("test_rec_gauge", "x")
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHistogram("test_rec_hist", "x", []float64{1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what string
		err  error
		name string
	}{
		{"odd tags", c.Inc(1, "route"), "test_rec_counter"},
		{"unknown tag key", c.Inc(1, "route", "/", "code", "200", "x", "y"), "test_rec_counter"},
		{"tag key twice", c.Inc(1, "route", "/", "route", "/b", "code", "200"), "test_rec_counter"},
		{"missing tag", c.Inc(1, "route", "/"), "test_rec_counter"},
		{"negative increment", c.Inc(-1, "route", "/", "code", "200"), "test_rec_counter"},
		{"NaN increment", c.Inc(math.NaN(), "route", "/", "code", "200"), "test_rec_counter"},
		{"invalid UTF-8 value", c.Inc(1, "route", "\xff", "code", "200"), "test_rec_counter"},
		{"tag on a metric without tags", g.Set(1, "a", "b"), "test_rec_gauge"},
		{"infinite gauge", g.Set(math.Inf(-1)), "test_rec_gauge"},
		{"NaN observation", h.Observe(math.NaN()), "test_rec_hist"},
		{"default for an unknown key", c.SetDefaultTags(map[string]string{"x": "y"}), "test_rec_counter"},
	} {
		wantMetricError(t, tc.what, tc.err, tc.name)
	}
	if d := snapshotOf("test_rec_counter"); d != nil {
		t.Errorf("failed recordings left series: %+v", d)
	}
}

func TestMetricsValues(t *testing.T) {
	c, err := NewCounter("test_val_requests", "Requests.", "route", "code")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetDefaultTags(map[string]string{"code": "200"}); err != nil {
		t.Fatal(err)
	}
	g, _ := NewGauge("test_val_queue", "Queue.")
	h, err := NewHistogram("test_val_latency", "Latency.", []float64{0.1, 1}, "route")
	if err != nil {
		t.Fatal(err)
	}
	v0 := appMetrics.MetricsVersion()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if err := c.Inc(1, "route", "/a"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Inc(2.5, "code", "500", "route", "/a"))
	must(g.Set(3))
	must(g.Set(-2))
	for _, v := range []float64{0.05, 0.1, 0.5, 7} {
		must(h.Observe(v, "route", "/a"))
	}
	if appMetrics.MetricsVersion() == v0 {
		t.Error("recording did not change the version")
	}

	d := snapshotOf("test_val_requests")
	if d == nil || d.Kind != protocol.MetricCounter || d.Help != "Requests." || strings.Join(d.TagKeys, ",") != "route,code" {
		t.Fatalf("snapshot: %+v", d)
	}
	if s := seriesOf(d, "/a", "200"); s == nil || s.Value != 800 {
		t.Errorf("requests{/a,200} = %+v, want 800", s)
	}
	if s := seriesOf(d, "/a", "500"); s == nil || s.Value != 2.5 {
		t.Errorf("requests{/a,500} = %+v, want 2.5", s)
	}
	if s := seriesOf(snapshotOf("test_val_queue")); s == nil || s.Value != -2 {
		t.Errorf("queue = %+v, want -2", s)
	}
	s := seriesOf(snapshotOf("test_val_latency"), "/a")
	// Buckets hold v <= bound: 0.05 and 0.1 in the first, 0.5 in the
	// second, 7 in +Inf.
	if s == nil || len(s.Buckets) != 3 || s.Buckets[0] != 2 || s.Buckets[1] != 1 || s.Buckets[2] != 1 || s.Count != 4 || s.Sum != 7.65 {
		t.Errorf("latency = %+v", s)
	}

	// A reset (the runtime closed, the head folded the values in) zeroes
	// counters and histograms, not gauges.
	appMetrics.MetricsSnapshot(true)
	if s := seriesOf(snapshotOf("test_val_requests"), "/a", "200"); s == nil || s.Value != 0 {
		t.Errorf("after reset, requests = %+v", s)
	}
	if s := seriesOf(snapshotOf("test_val_latency"), "/a"); s == nil || s.Count != 0 || s.Buckets[0] != 0 {
		t.Errorf("after reset, latency = %+v", s)
	}
	if s := seriesOf(snapshotOf("test_val_queue")); s == nil || s.Value != -2 {
		t.Errorf("after reset, queue = %+v", s)
	}
}

func TestMetricsSeriesAreBounded(t *testing.T) {
	c, err := NewCounter("test_bound", "x", "i")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Leave the registry as it was for the other tests.
		appMetrics.mu.Lock()
		delete(appMetrics.metrics, "test_bound")
		appMetrics.mu.Unlock()
		c.m.mu.Lock()
		appMetrics.nSeries.Add(-int64(len(c.m.series)))
		c.m.mu.Unlock()
	})
	room := MaxMetricSeries - int(appMetrics.nSeries.Load())
	for i := range room {
		if err := c.Inc(1, "i", strconv.Itoa(i)); err != nil {
			t.Fatalf("series %d of %d: %v", i, room, err)
		}
	}
	wantMetricError(t, "one series too many", c.Inc(1, "i", "over"), "test_bound")
	if err := c.Inc(1, "i", "0"); err != nil {
		t.Errorf("an existing series at the bound: %v", err)
	}
}
