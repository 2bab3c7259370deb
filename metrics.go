package rayo

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rayo-dev/rayo/internal/core"
	"github.com/rayo-dev/rayo/internal/protocol"
)

// Application metrics, in the manner of Ray's ray.util.metrics: define a
// Counter, Gauge or Histogram with a name, a description and the keys of
// its tags, then record values with tag values as key/value pairs:
//
//	var requests, _ = rayo.NewCounter("requests", "Requests served.", "route")
//	...
//	err := requests.Inc(1, "route", "/predict")
//
// Values are recorded in the process (driver or worker) and pushed to
// the head about every second; the head's /metrics endpoint exposes them
// as rayo_app_<name> (rayo's libraries' own metrics, rayo_data_... and
// the like, keep their names; only rayo's packages may define those).
// Counters and histograms are summed over every
// process that recorded them; gauges are exposed per process, with a
// worker_id label. Defining a metric before Init is fine (package level);
// values recorded before Init are pushed once a runtime runs.

// ErrInvalidMetric is what a *MetricError matches: an invalid name, tag,
// value or bucket boundary, or a name defined twice in different ways.
var ErrInvalidMetric = errors.New("rayo: invalid metric")

// MetricError says what is wrong with a metric's definition or with one
// recording. errors.Is(err, ErrInvalidMetric) holds.
type MetricError struct {
	Metric  string
	Problem string
}

func (e *MetricError) Error() string {
	return fmt.Sprintf("rayo: metric %q: %s", e.Metric, e.Problem)
}

func (e *MetricError) Unwrap() error { return ErrInvalidMetric }

// MaxMetricSeries bounds the series (tag combinations) one process
// records, over all its metrics; a recording that would add one more
// fails with a *MetricError.
const MaxMetricSeries = 10000

// Counter is a cumulative count that only goes up.
type Counter struct{ m *metric }

// Gauge is a value that goes up and down.
type Gauge struct{ m *metric }

// Histogram counts observations in buckets (and keeps their sum).
type Histogram struct{ m *metric }

// NewCounter defines a counter. Names and tag keys hold letters, digits
// and underscores and do not start with a digit; the tag keys le,
// quantile, worker_id and node_id are reserved. Defining the same name
// again with the same kind and tags returns the same counter.
func NewCounter(name, description string, tagKeys ...string) (*Counter, error) {
	m, err := appMetrics.define(name, description, protocol.MetricCounter, tagKeys, nil)
	if err != nil {
		return nil, err
	}
	return &Counter{m}, nil
}

// NewGauge defines a gauge (see NewCounter for names and tags).
func NewGauge(name, description string, tagKeys ...string) (*Gauge, error) {
	m, err := appMetrics.define(name, description, protocol.MetricGauge, tagKeys, nil)
	if err != nil {
		return nil, err
	}
	return &Gauge{m}, nil
}

// NewHistogram defines a histogram with the given bucket upper bounds,
// strictly increasing (an implicit +Inf bucket follows them).
func NewHistogram(name, description string, boundaries []float64, tagKeys ...string) (*Histogram, error) {
	m, err := appMetrics.define(name, description, protocol.MetricHistogram, tagKeys, boundaries)
	if err != nil {
		return nil, err
	}
	return &Histogram{m}, nil
}

// Inc adds value (not negative) to the counter's series named by tags,
// given as key/value pairs: c.Inc(1, "route", "/a"). Every tag key of
// the definition needs a value, from tags or from SetDefaultTags.
func (c *Counter) Inc(value float64, tags ...string) error {
	if math.IsNaN(value) || math.IsInf(value, 0) || value < 0 {
		return &MetricError{c.m.name, fmt.Sprintf("a counter grows by a finite, non-negative value, not %v", value)}
	}
	return c.m.record(tags, func(s *series) { s.value += value })
}

// Set sets the gauge's series named by tags (see Inc) to value.
func (g *Gauge) Set(value float64, tags ...string) error {
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return &MetricError{g.m.name, fmt.Sprintf("a gauge takes a finite value, not %v", value)}
	}
	return g.m.record(tags, func(s *series) { s.value = value })
}

// Observe records value in the histogram's series named by tags (see
// Inc): in the first bucket whose bound is at least value.
func (h *Histogram) Observe(value float64, tags ...string) error {
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return &MetricError{h.m.name, fmt.Sprintf("a histogram observes finite values, not %v", value)}
	}
	i := sort.SearchFloat64s(h.m.bounds, value) // first bound >= value; len: +Inf
	return h.m.record(tags, func(s *series) {
		s.buckets[i]++
		s.sum += value
		s.count++
	})
}

// SetDefaultTags sets tag values used when a recording does not give
// them. The keys must be the metric's.
func (c *Counter) SetDefaultTags(tags map[string]string) error   { return c.m.setDefaults(tags) }
func (g *Gauge) SetDefaultTags(tags map[string]string) error     { return g.m.setDefaults(tags) }
func (h *Histogram) SetDefaultTags(tags map[string]string) error { return h.m.setDefaults(tags) }

// ---- the process's registry ----

type series struct {
	tags    []string
	value   float64
	buckets []uint64
	sum     float64
	count   uint64
}

type metric struct {
	reg    *metricRegistry
	name   string
	help   string
	kind   string
	keys   []string
	bounds []float64

	mu       sync.Mutex
	defaults []string // by key position; "" with hasDef false: none
	hasDef   []bool
	series   map[string]*series
}

type metricRegistry struct {
	mu      sync.Mutex
	metrics map[string]*metric
	nSeries atomic.Int64
	version atomic.Uint64
}

var appMetrics = &metricRegistry{metrics: map[string]*metric{}}

func init() { core.SetMetricsSource(appMetrics) }

func (r *metricRegistry) define(name, help, kind string, keys []string, bounds []float64) (*metric, error) {
	if p := protocol.CheckMetricName(name); p != "" {
		return nil, &MetricError{name, p}
	}
	if protocol.IsLibraryMetric(name) && !reservedAllowed(callerPackage()) {
		return nil, &MetricError{name, fmt.Sprintf("names beginning with %v are reserved for rayo's libraries", protocol.LibraryMetricPrefixes)}
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if p := protocol.CheckTagKey(k); p != "" {
			return nil, &MetricError{name, p}
		}
		if seen[k] {
			return nil, &MetricError{name, fmt.Sprintf("tag key %q is declared twice", k)}
		}
		seen[k] = true
	}
	if kind == protocol.MetricHistogram {
		if p := protocol.CheckBounds(bounds); p != "" {
			return nil, &MetricError{name, p}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.metrics[name]; m != nil {
		if m.kind != kind || !slices.Equal(m.keys, keys) || !slices.Equal(m.bounds, bounds) {
			return nil, &MetricError{name, fmt.Sprintf("already defined as a %s with tag keys %v", m.kind, m.keys)}
		}
		return m, nil
	}
	m := &metric{reg: r, name: name, help: help, kind: kind, keys: slices.Clone(keys), bounds: slices.Clone(bounds),
		defaults: make([]string, len(keys)), hasDef: make([]bool, len(keys)), series: map[string]*series{}}
	r.metrics[name] = m
	return m, nil
}

func (m *metric) keyIndex(k string) int { return slices.Index(m.keys, k) }

func (m *metric) setDefaults(tags map[string]string) error {
	idx := make(map[int]string, len(tags))
	for k, v := range tags {
		i := m.keyIndex(k)
		if i < 0 {
			return &MetricError{m.name, fmt.Sprintf("tag key %q is not one of the metric's %v", k, m.keys)}
		}
		if p := protocol.CheckTagValue(v); p != "" {
			return &MetricError{m.name, p}
		}
		idx[i] = v
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, v := range idx {
		m.defaults[i], m.hasDef[i] = v, true
	}
	return nil
}

// record applies f to the series that tags name, creating it if needed.
func (m *metric) record(tags []string, f func(*series)) error {
	if len(tags)%2 != 0 {
		return &MetricError{m.name, "tags come as key/value pairs; got an odd number of strings"}
	}
	vals := make([]string, len(m.keys))
	set := make([]bool, len(m.keys))
	for i := 0; i < len(tags); i += 2 {
		k, v := tags[i], tags[i+1]
		j := m.keyIndex(k)
		if j < 0 {
			return &MetricError{m.name, fmt.Sprintf("tag key %q is not one of the metric's %v", k, m.keys)}
		}
		if set[j] {
			return &MetricError{m.name, fmt.Sprintf("tag key %q is given twice", k)}
		}
		if p := protocol.CheckTagValue(v); p != "" {
			return &MetricError{m.name, p}
		}
		vals[j], set[j] = v, true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for j := range vals {
		if !set[j] {
			if !m.hasDef[j] {
				return &MetricError{m.name, fmt.Sprintf("tag %q has no value (and no default)", m.keys[j])}
			}
			vals[j] = m.defaults[j]
		}
	}
	key := strings.Join(vals, "\xff")
	s := m.series[key]
	if s == nil {
		if m.reg.nSeries.Add(1) > MaxMetricSeries {
			m.reg.nSeries.Add(-1)
			return &MetricError{m.name, fmt.Sprintf("this process records more than %d series", MaxMetricSeries)}
		}
		s = &series{tags: vals}
		if m.kind == protocol.MetricHistogram {
			s.buckets = make([]uint64, len(m.bounds)+1)
		}
		m.series[key] = s
	}
	f(s)
	m.reg.version.Add(1)
	return nil
}

// MetricsVersion implements core.MetricsSource.
func (r *metricRegistry) MetricsVersion() uint64 { return r.version.Load() }

// MetricsSnapshot implements core.MetricsSource.
func (r *metricRegistry) MetricsSnapshot(reset bool) []protocol.MetricData {
	r.mu.Lock()
	ms := make([]*metric, 0, len(r.metrics))
	for _, m := range r.metrics {
		ms = append(ms, m)
	}
	r.mu.Unlock()
	sort.Slice(ms, func(i, j int) bool { return ms[i].name < ms[j].name })
	var out []protocol.MetricData
	for _, m := range ms {
		m.mu.Lock()
		d := protocol.MetricData{Name: m.name, Help: m.help, Kind: m.kind, TagKeys: m.keys, Bounds: m.bounds}
		for _, s := range m.series {
			d.Series = append(d.Series, protocol.MetricSeries{Tags: s.tags, Value: s.value,
				Buckets: slices.Clone(s.buckets), Sum: s.sum, Count: s.count})
			if reset && m.kind != protocol.MetricGauge {
				s.value, s.sum, s.count = 0, 0, 0
				clear(s.buckets)
			}
		}
		m.mu.Unlock()
		if len(d.Series) > 0 {
			out = append(out, d)
		}
	}
	return out
}
