package serve

import (
	"strconv"
	"sync"
	"time"

	"github.com/rayo-dev/rayo"
)

// Serve's metrics on the cluster's /metrics:
//
//	rayo_serve_requests_total{application,deployment,code}    requests through the proxies, by status code
//	rayo_serve_request_latency_ms{application,deployment}     their latency at the proxy (histogram)
//	rayo_serve_ongoing_requests{application,deployment}       requests running on the replicas (the controller's view)
//	rayo_serve_replicas{application,deployment,state}         replicas by state
var serveMetrics struct {
	once     sync.Once
	requests *rayo.Counter
	latency  *rayo.Histogram
	ongoing  *rayo.Gauge
	replicas *rayo.Gauge
}

var latencyBounds = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}

func metricsInit() {
	serveMetrics.once.Do(func() {
		serveMetrics.requests, _ = rayo.NewCounter("rayo_serve_requests_total", "HTTP requests through Serve's proxies.", "application", "deployment", "code")
		serveMetrics.latency, _ = rayo.NewHistogram("rayo_serve_request_latency_ms", "Latency of requests through Serve's proxies, in milliseconds.", latencyBounds, "application", "deployment")
		serveMetrics.ongoing, _ = rayo.NewGauge("rayo_serve_ongoing_requests", "Requests running on a deployment's replicas.", "application", "deployment")
		serveMetrics.replicas, _ = rayo.NewGauge("rayo_serve_replicas", "A deployment's replicas by state.", "application", "deployment", "state")
	})
}

// observeRequest records one proxied request.
func observeRequest(app routeApp, code int, took time.Duration) {
	metricsInit()
	if c := serveMetrics.requests; c != nil {
		_ = c.Inc(1, "application", app.Name, "deployment", app.Ingress, "code", strconv.Itoa(code))
	}
	if h := serveMetrics.latency; h != nil {
		_ = h.Observe(float64(took.Microseconds())/1000, "application", app.Name, "deployment", app.Ingress)
	}
}
