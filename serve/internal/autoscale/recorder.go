package autoscale

import (
	"sync"
	"time"
)

// minHandleTimeout is the least time a silent handle is kept (Ray's
// RAY_SERVE_MIN_HANDLE_METRICS_TIMEOUT_S).
const minHandleTimeout = 10 * time.Second

// Load is the aggregated load at one instant, as a Decision sees it.
type Load struct {
	// Replicas is the sum over replicas of each one's ongoing (running plus
	// queued) requests, aggregated over the look-back period.
	Replicas float64
	// Queued is the sum over handles and proxies of requests they hold that
	// no replica has taken, aggregated likewise.
	Queued float64
	// ReplicaSources and HandleSources count the sources that contributed.
	ReplicaSources, HandleSources int
}

// Total is all ongoing requests: Replicas + Queued.
func (l Load) Total() float64 { return l.Replicas + l.Queued }

// Recorder keeps, per replica and per handle, the reports of the last
// look-back period and aggregates them. It is safe for concurrent use.
//
// Replicas are kept until DropReplica (the controller calls it when a
// replica stops), as Ray does; handles silent for 2×MetricsInterval (at
// least 10 s) are forgotten, since a handle's process may die unseen.
type Recorder struct {
	mu            sync.Mutex
	lookBack      time.Duration
	handleTimeout time.Duration
	agg           Aggregation
	replicas      map[string]*series
	handles       map[string]*series
}

// NewRecorder returns a Recorder for cfg's LookBackPeriod, MetricsInterval
// and Aggregation (Ray's defaults where unset).
func NewRecorder(cfg Config) *Recorder {
	r := &Recorder{
		replicas: make(map[string]*series),
		handles:  make(map[string]*series),
	}
	r.Configure(cfg)
	return r
}

// Configure applies a new config's LookBackPeriod, MetricsInterval and
// Aggregation, keeping the reports already held (a config update must not
// blind the autoscaler).
func (r *Recorder) Configure(cfg Config) {
	cfg = cfg.WithDefaults()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookBack = cfg.LookBackPeriod
	r.handleTimeout = max(2*cfg.MetricsInterval, minHandleTimeout)
	r.agg = cfg.Aggregation
}

// Record stores a replica's report at now: the requests it is running
// (ongoing) and those waiting in its own queue (queued). Negative counts
// are taken as zero.
func (r *Recorder) Record(replicaID string, now time.Time, ongoing, queued int) {
	r.add(r.replicas, replicaID, now, max(ongoing, 0)+max(queued, 0))
}

// RecordQueued stores a handle's or proxy's report at now: the requests it
// holds that no replica has taken yet. With no replica running, any
// positive count scales the deployment from zero at once (Ray's cold
// start); a router waiting for the first replica reports here.
func (r *Recorder) RecordQueued(handleID string, now time.Time, queued int) {
	r.add(r.handles, handleID, now, max(queued, 0))
}

func (r *Recorder) add(m map[string]*series, id string, now time.Time, v int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cutoff := now.Add(-r.lookBack).UnixNano()
	x := m[id]
	if x == nil {
		x = &series{}
		m[id] = x
	}
	x.add(now.UnixNano(), float64(v), cutoff)
}

// DropReplica forgets a replica's reports; call it when the replica stops.
func (r *Recorder) DropReplica(replicaID string) {
	r.mu.Lock()
	delete(r.replicas, replicaID)
	r.mu.Unlock()
}

// DropHandle forgets a handle's reports.
func (r *Recorder) DropHandle(handleID string) {
	r.mu.Lock()
	delete(r.handles, handleID)
	r.mu.Unlock()
}

// Load aggregates every source over the look-back period ending at now,
// and forgets handles silent past their timeout.
func (r *Recorder) Load(now time.Time) Load {
	var l Load
	r.mu.Lock()
	defer r.mu.Unlock()
	t := now.UnixNano()
	from := now.Add(-r.lookBack).UnixNano()
	stale := now.Add(-r.handleTimeout).UnixNano()
	for _, x := range r.replicas {
		if v, ok := x.aggregate(from, t, r.agg); ok {
			l.Replicas += v
			l.ReplicaSources++
		}
	}
	for id, x := range r.handles {
		if x.len() == 0 || x.last().t < stale {
			delete(r.handles, id)
			continue
		}
		if v, ok := x.aggregate(from, t, r.agg); ok {
			l.Queued += v
			l.HandleSources++
		}
	}
	return l
}

// Sources reports how many replicas and handles the Recorder holds.
func (r *Recorder) Sources() (replicas, handles int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.replicas), len(r.handles)
}
