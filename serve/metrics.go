package serve

import (
	"strconv"
	"sync"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/serve/internal/multiplex"
)

// Serve's metrics on the cluster's /metrics:
//
//	rayo_serve_requests_total{application,deployment,code}    requests through the proxies, by status code
//	rayo_serve_request_latency_ms{application,deployment}     their latency at the proxy (histogram)
//	rayo_serve_ongoing_requests{application,deployment}       requests running on the replicas (the controller's view)
//	rayo_serve_replicas{application,deployment,state}         replicas by state
//	rayo_serve_queued_requests{application,deployment}        requests a proxy or handle holds for want of a replica slot (per process)
//	rayo_serve_replica_requests_total{application,deployment,outcome}  requests run by the replicas (HTTP and handle calls), ok or error
//	rayo_serve_replica_latency_ms{application,deployment}     their time on the replica (histogram)
//	rayo_serve_multiplexed_events_total{application,deployment,event}  model cache hits, misses, loads, load errors, evictions
//	rayo_serve_multiplexed_models{application,deployment}     models resident on a replica (per process)
var serveMetrics struct {
	once           sync.Once
	requests       *rayo.Counter
	latency        *rayo.Histogram
	ongoing        *rayo.Gauge
	replicas       *rayo.Gauge
	queued         *rayo.Gauge
	replicaReqs    *rayo.Counter
	replicaLatency *rayo.Histogram
	modelEvents    *rayo.Counter
	models         *rayo.Gauge
}

var latencyBounds = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}

func metricsInit() {
	serveMetrics.once.Do(func() {
		serveMetrics.requests, _ = rayo.NewCounter("rayo_serve_requests_total", "HTTP requests through Serve's proxies.", "application", "deployment", "code")
		serveMetrics.latency, _ = rayo.NewHistogram("rayo_serve_request_latency_ms", "Latency of requests through Serve's proxies, in milliseconds.", latencyBounds, "application", "deployment")
		serveMetrics.ongoing, _ = rayo.NewGauge("rayo_serve_ongoing_requests", "Requests running on a deployment's replicas.", "application", "deployment")
		serveMetrics.replicas, _ = rayo.NewGauge("rayo_serve_replicas", "A deployment's replicas by state.", "application", "deployment", "state")
		serveMetrics.queued, _ = rayo.NewGauge("rayo_serve_queued_requests", "Requests a proxy or handle holds until a replica has room.", "application", "deployment")
		serveMetrics.replicaReqs, _ = rayo.NewCounter("rayo_serve_replica_requests_total", "Requests run by a deployment's replicas, by outcome (ok or error).", "application", "deployment", "outcome")
		serveMetrics.replicaLatency, _ = rayo.NewHistogram("rayo_serve_replica_latency_ms", "Time requests take on a deployment's replicas, in milliseconds.", latencyBounds, "application", "deployment")
		serveMetrics.modelEvents, _ = rayo.NewCounter("rayo_serve_multiplexed_events_total", "Multiplexed model cache events: hit, miss, load, load_error, evict, overflow.", "application", "deployment", "event")
		serveMetrics.models, _ = rayo.NewGauge("rayo_serve_multiplexed_models", "Multiplexed models resident on a replica.", "application", "deployment")
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

// observeQueued records how many requests this process holds for a
// deployment.
func observeQueued(app, dep string, n int64) {
	metricsInit()
	if g := serveMetrics.queued; g != nil {
		_ = g.Set(float64(n), "application", app, "deployment", dep)
	}
}

// observeReplicaRequest records one request run by a replica.
func observeReplicaRequest(app, dep string, took time.Duration, failed bool) {
	metricsInit()
	outcome := "ok"
	if failed {
		outcome = "error"
	}
	if c := serveMetrics.replicaReqs; c != nil {
		_ = c.Inc(1, "application", app, "deployment", dep, "outcome", outcome)
	}
	if h := serveMetrics.replicaLatency; h != nil {
		_ = h.Observe(float64(took.Microseconds())/1000, "application", app, "deployment", dep)
	}
}

// observeModelEvent records a multiplexed model cache's event.
func observeModelEvent(app, dep string, e multiplex.Event) {
	metricsInit()
	if c := serveMetrics.modelEvents; c != nil {
		_ = c.Inc(1, "application", app, "deployment", dep, "event", e.Kind.String())
	}
	if g := serveMetrics.models; g != nil {
		_ = g.Set(float64(e.Models), "application", app, "deployment", dep)
	}
}

// observeDeploymentGone zeroes a removed deployment's gauges, which
// would otherwise keep their last values.
func observeDeploymentGone(app, dep string) {
	metricsInit()
	if g := serveMetrics.ongoing; g != nil {
		_ = g.Set(0, "application", app, "deployment", dep)
	}
	if g := serveMetrics.replicas; g != nil {
		for _, state := range []string{"STARTING", "RUNNING", "STOPPING"} {
			_ = g.Set(0, "application", app, "deployment", dep, "state", state)
		}
	}
}
