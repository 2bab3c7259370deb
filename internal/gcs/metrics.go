package gcs

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// The head's metrics: its own RPC latencies, and the application metrics
// that drivers and workers push (head.ReportMetrics). The dashboard asks
// for them with head.Metrics and merges them with the nodes'.
//
// Application metrics are kept per (process, metric, tags), latest value
// wins: each report carries a process's cumulative values. They are
// exported as rayo_app_<name>:
//   - counters and histograms summed over processes. A process that
//     closes (its final report) or stops reporting for AppProcessTTL is
//     retired: its totals are folded into a per-series remainder, so the
//     sums never go down when workers come and go;
//   - gauges per process, with a worker_id label (a sum or a pick of one
//     process's value would mislead); a retired process's gauges go.

// MaxAppSeries bounds the application series the head keeps (live and
// retired together); series beyond it are rejected and counted.
const MaxAppSeries = 20000

// MaxAppMetrics bounds the application metric names the head knows.
const MaxAppMetrics = 2000

// AppProcessTTL is how long a process that stopped reporting keeps its
// series before it is retired (processes report at least every 10 s).
const AppProcessTTL = time.Minute

// AppPrefix is prepended to application metric names on export.
const AppPrefix = "rayo_app_"

// ExportName is the name an application metric is exported under: a
// library's (rayo_data_...) as it is, any other with AppPrefix.
func ExportName(name string) string {
	if protocol.IsLibraryMetric(name) {
		return name
	}
	return AppPrefix + name
}

type headMetrics struct {
	reg *prometheus.Registry
	app *appMetrics
}

// startMetrics sets up the head's registry, times its RPCs, and serves
// head.Metrics and head.ReportMetrics.
func (s *Server) startMetrics() {
	reg := prometheus.NewRegistry()
	obs, err := rpc.LatencyObserver(reg, "head")
	if err != nil { // only on a programming error (a duplicate registration)
		s.cfg.Log.Error("head metrics disabled", "err", err)
		return
	}
	app := newAppMetrics(time.Now)
	reg.MustRegister(app)
	s.metrics = &headMetrics{reg: reg, app: app}
	s.rpc.SetObserver(obs)
	rpc.Register(s.rpc, protocol.HeadMetrics, s.serveMetrics)
	rpc.Register(s.rpc, protocol.HeadReportMetrics, s.reportMetrics)
}

func (s *Server) serveMetrics(context.Context, *protocol.Empty) (*protocol.MetricsReply, error) {
	text, err := rpc.ExpositionText(s.metrics.reg)
	if err != nil {
		return nil, err
	}
	return &protocol.MetricsReply{Text: text}, nil
}

func (s *Server) reportMetrics(_ context.Context, req *protocol.ReportMetricsRequest) (*protocol.ReportMetricsReply, error) {
	if req.ProcessID == "" {
		return nil, rpc.Errorf(rpc.CodeBadRequest, "gcs: a metrics report needs the process's ID")
	}
	rejected := s.metrics.app.report(req)
	return &protocol.ReportMetricsReply{Rejected: rejected}, nil
}

// ---- application metrics ----

type appDef struct {
	name, help, kind string
	keys             []string
	bounds           []float64
	desc             *prometheus.Desc
}

// appValue is one series' value: a counter's or gauge's Value, or a
// histogram's buckets, sum and count.
type appValue struct {
	tags    []string
	value   float64
	buckets []uint64
	sum     float64
	count   uint64
}

func (v *appValue) add(o *appValue) {
	v.value += o.value
	if len(v.buckets) < len(o.buckets) {
		v.buckets = append(v.buckets, make([]uint64, len(o.buckets)-len(v.buckets))...)
	}
	for i, b := range o.buckets {
		v.buckets[i] += b
	}
	v.sum += o.sum
	v.count += o.count
}

type appProc struct {
	lastSeen time.Time
	// values: metric name -> tags key -> value.
	values map[string]map[string]*appValue
	n      int
}

type appMetrics struct {
	now func() time.Time

	mu      sync.Mutex
	defs    map[string]*appDef
	procs   map[string]*appProc
	retired map[string]map[string]*appValue // counters and histograms of retired processes
	series  int                             // live and retired series
	// expiredAt is when expireLocked last looked.
	expiredAt time.Time

	rejected  prometheus.Counter
	seriesD   *prometheus.Desc
	processD  *prometheus.Desc
	gaugeDesc map[string]*prometheus.Desc
}

func newAppMetrics(now func() time.Time) *appMetrics {
	return &appMetrics{now: now, defs: map[string]*appDef{}, procs: map[string]*appProc{},
		retired: map[string]map[string]*appValue{}, gaugeDesc: map[string]*prometheus.Desc{},
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "rayo_metrics_app_rejected_series_total",
			Help: "Application metric series the head did not keep: malformed, in conflict with the metric's first definition, or over the head's bound."}),
		seriesD:  prometheus.NewDesc("rayo_metrics_app_series", "Application metric series the head keeps (live and retired).", nil, nil),
		processD: prometheus.NewDesc("rayo_metrics_app_processes", "Processes whose application metrics the head keeps.", nil, nil)}
}

func tagsKey(tags []string) string { return strings.Join(tags, "\xff") }

// checkDef checks a reported metric's definition; the first valid one of
// a name is kept, and later ones must agree with it.
func (a *appMetrics) checkDefLocked(m *protocol.MetricData) (*appDef, string) {
	if p := protocol.CheckMetricName(m.Name); p != "" {
		return nil, p
	}
	switch m.Kind {
	case protocol.MetricCounter, protocol.MetricGauge:
		if len(m.Bounds) > 0 {
			return nil, "only histograms have bucket boundaries"
		}
	case protocol.MetricHistogram:
		if p := protocol.CheckBounds(m.Bounds); p != "" {
			return nil, p
		}
	default:
		return nil, fmt.Sprintf("unknown metric kind %q", m.Kind)
	}
	seen := map[string]bool{}
	for _, k := range m.TagKeys {
		if p := protocol.CheckTagKey(k); p != "" {
			return nil, p
		}
		if seen[k] {
			return nil, "tag key " + k + " is declared twice"
		}
		seen[k] = true
	}
	if d := a.defs[m.Name]; d != nil {
		if d.kind != m.Kind || !slices.Equal(d.keys, m.TagKeys) || !slices.Equal(d.bounds, m.Bounds) {
			return nil, "defined differently by another process"
		}
		return d, ""
	}
	if len(a.defs) >= MaxAppMetrics {
		return nil, "the head keeps no more metric names"
	}
	labels := slices.Clone(m.TagKeys)
	if m.Kind == protocol.MetricGauge {
		labels = append(labels, "worker_id")
	}
	help := m.Help
	if help == "" {
		help = "Application metric " + m.Name + "."
	}
	d := &appDef{name: m.Name, help: help, kind: m.Kind, keys: slices.Clone(m.TagKeys), bounds: slices.Clone(m.Bounds),
		desc: prometheus.NewDesc(ExportName(m.Name), help, labels, nil)}
	a.defs[m.Name] = d
	return d, ""
}

// checkSeries says what is wrong with one reported series, or "".
func checkSeries(d *appDef, s *protocol.MetricSeries) string {
	if len(s.Tags) != len(d.keys) {
		return "wrong number of tag values"
	}
	for _, v := range s.Tags {
		if p := protocol.CheckTagValue(v); p != "" {
			return p
		}
	}
	switch d.kind {
	case protocol.MetricCounter:
		if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) || s.Value < 0 {
			return "a counter's value must be finite and not negative"
		}
	case protocol.MetricGauge:
		if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
			return "a gauge's value must be finite"
		}
	case protocol.MetricHistogram:
		if len(s.Buckets) != len(d.bounds)+1 {
			return "wrong number of histogram buckets"
		}
		var n uint64
		for _, b := range s.Buckets {
			n += b
		}
		if n != s.Count || math.IsNaN(s.Sum) || math.IsInf(s.Sum, 0) {
			return "a histogram's count must be its buckets' total and its sum finite"
		}
	}
	return ""
}

// report replaces a process's series with those it reports, and returns
// how many it rejected.
func (a *appMetrics) report(req *protocol.ReportMetricsRequest) int {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expireLocked(now)
	old := a.procs[req.ProcessID]
	p := &appProc{lastSeen: now, values: map[string]map[string]*appValue{}}
	rejected := 0
	for i := range req.Metrics {
		m := &req.Metrics[i]
		d, problem := a.checkDefLocked(m)
		if problem != "" {
			rejected += len(m.Series)
			continue
		}
		for j := range m.Series {
			s := &m.Series[j]
			if checkSeries(d, s) != "" {
				rejected++
				continue
			}
			key := tagsKey(s.Tags)
			byTags := p.values[d.name]
			if byTags == nil {
				byTags = map[string]*appValue{}
				p.values[d.name] = byTags
			}
			if byTags[key] != nil {
				rejected++ // reported twice
				continue
			}
			// Within the bound: series the process had count already.
			if !hasSeries(old, d.name, key) && a.series+1 > MaxAppSeries {
				rejected++
				continue
			}
			v := &appValue{tags: slices.Clone(s.Tags), value: s.Value, sum: s.Sum, count: s.Count}
			if d.kind == protocol.MetricHistogram {
				v.buckets = slices.Clone(s.Buckets)
			}
			byTags[key] = v
			p.n++
			if !hasSeries(old, d.name, key) {
				a.series++
			}
		}
	}
	if old != nil {
		// Series the process no longer reports are gone with it.
		a.series -= old.n - overlap(old, p)
	}
	a.procs[req.ProcessID] = p
	if req.Final {
		a.retireLocked(req.ProcessID)
	}
	if rejected > 0 {
		a.rejected.Add(float64(rejected))
	}
	return rejected
}

func hasSeries(p *appProc, name, key string) bool {
	return p != nil && p.values[name] != nil && p.values[name][key] != nil
}

// overlap counts the series of old that p reports too.
func overlap(old, p *appProc) int {
	n := 0
	for name, byTags := range old.values {
		for key := range byTags {
			if hasSeries(p, name, key) {
				n++
			}
		}
	}
	return n
}

// retireLocked folds a process's counters and histograms into the
// remainders and drops it.
func (a *appMetrics) retireLocked(id string) {
	p := a.procs[id]
	if p == nil {
		return
	}
	delete(a.procs, id)
	a.series -= p.n
	for name, byTags := range p.values {
		d := a.defs[name]
		if d.kind == protocol.MetricGauge {
			continue
		}
		rem := a.retired[name]
		if rem == nil {
			rem = map[string]*appValue{}
			a.retired[name] = rem
		}
		for key, v := range byTags {
			r := rem[key]
			if r == nil {
				r = &appValue{tags: v.tags}
				rem[key] = r
				a.series++
			}
			r.add(v)
		}
	}
}

// expireLocked retires the processes silent for AppProcessTTL. It looks
// at most once a second: reports arrive far more often than that.
func (a *appMetrics) expireLocked(now time.Time) {
	if now.Sub(a.expiredAt) < time.Second {
		return
	}
	a.expiredAt = now
	for id, p := range a.procs {
		if now.Sub(p.lastSeen) > AppProcessTTL {
			a.retireLocked(id)
		}
	}
}

// Describe sends nothing: the metrics are known only as reports come
// (an unchecked collector).
func (a *appMetrics) Describe(chan<- *prometheus.Desc) {}

func (a *appMetrics) Collect(ch chan<- prometheus.Metric) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expireLocked(a.now())
	ch <- a.rejected
	ch <- prometheus.MustNewConstMetric(a.seriesD, prometheus.GaugeValue, float64(a.series))
	ch <- prometheus.MustNewConstMetric(a.processD, prometheus.GaugeValue, float64(len(a.procs)))
	ids := make([]string, 0, len(a.procs))
	for id := range a.procs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, d := range a.defs {
		if d.kind == protocol.MetricGauge {
			for _, id := range ids {
				for _, v := range a.procs[id].values[d.name] {
					ch <- prometheus.MustNewConstMetric(d.desc, prometheus.GaugeValue, v.value, append(slices.Clone(v.tags), id)...)
				}
			}
			continue
		}
		total := map[string]*appValue{}
		sumInto := func(byTags map[string]*appValue) {
			for key, v := range byTags {
				t := total[key]
				if t == nil {
					t = &appValue{tags: v.tags}
					total[key] = t
				}
				t.add(v)
			}
		}
		sumInto(a.retired[d.name])
		for _, id := range ids {
			sumInto(a.procs[id].values[d.name])
		}
		for _, t := range total {
			if d.kind == protocol.MetricCounter {
				ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, t.value, t.tags...)
				continue
			}
			cum := make(map[float64]uint64, len(d.bounds))
			var n uint64
			for i, b := range d.bounds {
				if i < len(t.buckets) {
					n += t.buckets[i]
				}
				cum[b] = n
			}
			ch <- prometheus.MustNewConstHistogram(d.desc, t.count, t.sum, cum, t.tags...)
		}
	}
}
