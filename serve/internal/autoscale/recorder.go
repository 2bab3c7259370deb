package autoscale

import (
	"math"
	"sync"
	"time"
)

// minHandleTimeout is the least time a silent handle is kept (Ray's
// RAY_SERVE_MIN_HANDLE_METRICS_TIMEOUT_S).
const minHandleTimeout = 10 * time.Second

// Load is the load at one instant, as a Decision sees it.
type Load struct {
	// Replicas is the ongoing (running plus queued) requests at replicas,
	// summed over replicas and aggregated over the look-back period.
	Replicas float64
	// Queued is the requests held by handles and proxies that no replica
	// has taken yet, summed and aggregated likewise.
	Queued float64
	// LatestReplicas and LatestQueued sum each live source's newest report,
	// unaveraged: what scale-from-zero looks at.
	LatestReplicas, LatestQueued float64
	// ReplicaSources and HandleSources count the live sources.
	ReplicaSources, HandleSources int
}

// Total is all ongoing requests over the window: Replicas + Queued.
func (l Load) Total() float64 { return l.Replicas + l.Queued }

// gone is a source that stopped (a dropped replica, a forgotten handle):
// its reports still count for the part of the window it was alive, so that
// stopping a replica does not make its past load vanish from the average.
type gone struct {
	x      *series
	end    int64 // its last report; it counts 0 after
	handle bool
}

// Recorder keeps, per replica and per handle, the reports of the last
// look-back period and aggregates them. It is safe for concurrent use.
//
// With the default mean aggregation, Load is the time-weighted average of
// the total over the window: each source's integral over the window, summed
// and divided by the window's length (the window starting no earlier than
// the Recorder's first report). A replica that started within the window
// counts 0 before its first report, and one stopped within it counts until
// its last report. With max or min, each live source is reduced over its own
// reports in the window and the results are summed, as Ray's replicas do.
//
// Replicas are kept until DropReplica (the controller calls it when a
// replica stops), as Ray does; handles silent for 2×MetricsInterval (at
// least 10 s) are forgotten, since a handle's process may die unseen.
type Recorder struct {
	mu            sync.Mutex
	lookBack      time.Duration
	handleTimeout time.Duration
	agg           Aggregation
	first         int64 // time of the first report ever; MaxInt64 before
	replicas      map[string]*series
	handles       map[string]*series
	gone          []gone
}

// NewRecorder returns a Recorder for cfg's LookBackPeriod, MetricsInterval
// and Aggregation (Ray's defaults where unset).
func NewRecorder(cfg Config) *Recorder {
	r := &Recorder{
		first:    math.MaxInt64,
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
	t := now.UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	x := m[id]
	if x == nil {
		x = &series{}
		m[id] = x
	}
	if x.add(t, float64(v), now.Add(-r.lookBack).UnixNano()) {
		r.first = min(r.first, t)
	}
}

// DropReplica stops a replica's reports; call it when the replica stops.
// What it reported still counts for the rest of the look-back period.
func (r *Recorder) DropReplica(replicaID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.retire(r.replicas, replicaID, false)
}

// DropHandle stops a handle's reports, as DropReplica does a replica's.
func (r *Recorder) DropHandle(handleID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.retire(r.handles, handleID, true)
}

func (r *Recorder) retire(m map[string]*series, id string, handle bool) {
	x := m[id]
	if x == nil {
		return
	}
	delete(m, id)
	if x.len() > 0 {
		r.gone = append(r.gone, gone{x: x, end: x.last().t, handle: handle})
	}
}

// Load aggregates every source over the look-back period ending at now. It
// also forgets handles silent past their timeout and stopped sources that
// have left the window, so memory stays bounded.
func (r *Recorder) Load(now time.Time) Load {
	var l Load
	r.mu.Lock()
	defer r.mu.Unlock()
	t := now.UnixNano()
	from := now.Add(-r.lookBack).UnixNano()
	stale := now.Add(-r.handleTimeout).UnixNano()
	for id, x := range r.handles {
		if x.last().t < stale {
			r.retire(r.handles, id, true)
		}
	}
	kept := r.gone[:0]
	for _, g := range r.gone {
		if g.end > from {
			kept = append(kept, g)
		}
	}
	clear(r.gone[len(kept):]) // let the dropped series be collected
	r.gone = kept

	for _, x := range r.replicas {
		l.LatestReplicas += x.last().v
	}
	for _, x := range r.handles {
		l.LatestQueued += x.last().v
	}
	l.ReplicaSources, l.HandleSources = len(r.replicas), len(r.handles)

	start := max(from, r.first)
	if r.agg == AggregationMax || r.agg == AggregationMin {
		for _, x := range r.replicas {
			l.Replicas += x.extreme(from, t, r.agg)
		}
		for _, x := range r.handles {
			l.Queued += x.extreme(from, t, r.agg)
		}
		return l
	}
	if t <= start { // an empty window: the newest reports are all there is
		l.Replicas, l.Queued = l.LatestReplicas, l.LatestQueued
		return l
	}
	span := float64(t - start)
	for _, x := range r.replicas {
		l.Replicas += x.integral(start, t, math.MaxInt64) / span
	}
	for _, x := range r.handles {
		l.Queued += x.integral(start, t, math.MaxInt64) / span
	}
	for _, g := range r.gone {
		v := g.x.integral(start, t, g.end) / span
		if g.handle {
			l.Queued += v
		} else {
			l.Replicas += v
		}
	}
	return l
}

// Sources reports how many replicas and handles the Recorder holds live.
func (r *Recorder) Sources() (replicas, handles int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.replicas), len(r.handles)
}
