package rpc

import (
	"bytes"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// LatencyBuckets are the RPC latency histogram's bounds: 10 µs (a call
// within a node) to about 10 s (long polls), by factors of four.
var LatencyBuckets = prometheus.ExponentialBuckets(10e-6, 4, 11)

// LatencyObserver registers rayo_rpc_server_latency_seconds and
// rayo_rpc_server_errors_total, labelled with component (a constant
// label: "head", "node") and method, in reg, and returns the Observer
// that feeds them, for SetObserver.
func LatencyObserver(reg prometheus.Registerer, component string) (Observer, error) {
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:        "rayo_rpc_server_latency_seconds",
		Help:        "Time a daemon took to serve an RPC, from its arrival to its reply's send, by method.",
		ConstLabels: prometheus.Labels{"component": component},
		Buckets:     LatencyBuckets,
	}, []string{"method"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        "rayo_rpc_server_errors_total",
		Help:        "RPCs a daemon answered with an error, by method.",
		ConstLabels: prometheus.Labels{"component": component},
	}, []string{"method"})
	for _, c := range []prometheus.Collector{lat, errs} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Each method's histogram is looked up once: a sync.Map load is
	// cheaper than hashing the label value on every call.
	var byMethod sync.Map // method -> prometheus.Observer
	return func(method string, took time.Duration, err error) {
		h, ok := byMethod.Load(method)
		if !ok {
			h, _ = byMethod.LoadOrStore(method, lat.WithLabelValues(method))
		}
		h.(prometheus.Observer).Observe(took.Seconds())
		if err != nil {
			errs.WithLabelValues(method).Inc()
		}
	}, nil
}

// ExpositionText gathers g and encodes it in the Prometheus text format.
// What gathered is encoded even when some collector failed.
func ExpositionText(g prometheus.Gatherer) ([]byte, error) {
	mfs, gerr := g.Gather()
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return nil, err
		}
	}
	if gerr != nil && len(mfs) == 0 {
		return nil, gerr
	}
	return buf.Bytes(), nil
}
