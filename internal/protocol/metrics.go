package protocol

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Metrics methods: node daemons and the head expose their Prometheus
// registries (text exposition format), and every driver and worker
// pushes its application metrics to the head.
const (
	NodeMetrics       = "node.Metrics"
	HeadMetrics       = "head.Metrics"
	HeadReportMetrics = "head.ReportMetrics"
)

// MetricsReply is a daemon's metrics in the Prometheus text exposition
// format (version 0.0.4).
type MetricsReply struct {
	NodeID string `msgpack:"node,omitempty"`
	Text   []byte `msgpack:"text"`
}

// Application metric kinds.
const (
	MetricCounter   = "counter"
	MetricGauge     = "gauge"
	MetricHistogram = "histogram"
)

// ReportMetricsRequest carries one process's application metrics: the
// current value of every series it recorded (counters and histograms are
// cumulative since the process started), so the head can keep the
// latest and a lost report loses nothing.
type ReportMetricsRequest struct {
	// ProcessID is the runtime's worker ID (drivers have one too).
	ProcessID string `msgpack:"proc"`
	NodeID    string `msgpack:"node,omitempty"`
	JobID     string `msgpack:"job,omitempty"`
	Pid       int    `msgpack:"pid"`
	// Final: the process is closing; the head retires it now rather
	// than when its reports stop.
	Final   bool         `msgpack:"final,omitempty"`
	Metrics []MetricData `msgpack:"metrics"`
}

// MetricData is one application metric and its series.
type MetricData struct {
	Name string `msgpack:"name"`
	Help string `msgpack:"help,omitempty"`
	Kind string `msgpack:"kind"`
	// TagKeys name the tag values of each series, in order.
	TagKeys []string `msgpack:"keys,omitempty"`
	// Bounds are a histogram's bucket upper bounds (+Inf implied).
	Bounds []float64      `msgpack:"bounds,omitempty"`
	Series []MetricSeries `msgpack:"series"`
}

// MetricSeries is one tag combination's value.
type MetricSeries struct {
	Tags []string `msgpack:"tags,omitempty"`
	// Value is a counter's total or a gauge's value.
	Value float64 `msgpack:"v,omitempty"`
	// Buckets are a histogram's per-bucket counts (not cumulative), one
	// more than Bounds (the last is +Inf); Sum and Count its totals.
	Buckets []uint64 `msgpack:"b,omitempty"`
	Sum     float64  `msgpack:"sum,omitempty"`
	Count   uint64   `msgpack:"n,omitempty"`
}

// ReportMetricsReply says how much of a report the head kept.
type ReportMetricsReply struct {
	// Rejected counts series the head did not keep (malformed, in
	// conflict with another process's definition, or over its bound).
	Rejected int `msgpack:"rejected,omitempty"`
}

// Limits on application metrics, checked where they are defined and
// again by the head.
const (
	MaxMetricNameLen = 200
	MaxTagValueLen   = 1024
)

// ReservedTagKeys are label names the exposition adds itself (le for
// histogram buckets, worker_id for gauges, node_id for node metrics) or
// that Prometheus reserves; a tag may not use them.
var ReservedTagKeys = map[string]bool{"le": true, "quantile": true, "worker_id": true, "node_id": true}

func validIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// LibraryMetricPrefixes begin the metric names of rayo's libraries
// (Data, Train, Tune, Serve): exported under their own names, not as
// rayo_app_<name>. Only packages of the rayo module may define them.
var LibraryMetricPrefixes = []string{"rayo_data_", "rayo_train_", "rayo_tune_", "rayo_serve_"}

// IsLibraryMetric reports whether name is a library metric's.
func IsLibraryMetric(name string) bool {
	for _, p := range LibraryMetricPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// CheckMetricName says what is wrong with an application metric's name,
// or returns "" when it is valid: letters, digits and underscores, not
// starting with a digit (the exposition prefixes it with rayo_app_).
func CheckMetricName(name string) string {
	switch {
	case name == "":
		return "the name is empty"
	case len(name) > MaxMetricNameLen:
		return "the name is longer than 200 bytes"
	case !validIdent(name):
		return "the name may hold only letters, digits and underscores, and may not start with a digit"
	}
	return ""
}

// CheckTagKey says what is wrong with a tag key, or returns "".
func CheckTagKey(key string) string {
	switch {
	case !validIdent(key):
		return "tag key " + strconv.Quote(key) + " may hold only letters, digits and underscores, and may not start with a digit"
	case len(key) >= 2 && key[:2] == "__":
		return "tag key " + strconv.Quote(key) + " starts with __, which Prometheus reserves"
	case ReservedTagKeys[key]:
		return "tag key " + strconv.Quote(key) + " is reserved"
	}
	return ""
}

// CheckBounds says what is wrong with histogram bucket bounds, or "".
func CheckBounds(bounds []float64) string {
	if len(bounds) == 0 {
		return "a histogram needs at least one bucket boundary"
	}
	for i, b := range bounds {
		if math.IsNaN(b) || math.IsInf(b, 0) {
			return "bucket boundaries must be finite numbers"
		}
		if i > 0 && b <= bounds[i-1] {
			return "bucket boundaries must be strictly increasing"
		}
	}
	return ""
}

// CheckTagValue says what is wrong with a tag value, or returns "".
func CheckTagValue(v string) string {
	switch {
	case len(v) > MaxTagValueLen:
		return "a tag value is longer than 1024 bytes"
	case !utf8.ValidString(v):
		return "a tag value is not valid UTF-8"
	}
	return ""
}
