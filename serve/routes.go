package serve

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rayo-dev/rayo"
)

// routeTable is what the controller publishes to proxies and handles:
// the applications' prefixes and each deployment's running replicas.
type routeTable struct {
	Version     int64      `msgpack:"v"`
	Apps        []routeApp `msgpack:"a"`
	Deployments []routeDep `msgpack:"d"`
}

type routeApp struct {
	Name    string `msgpack:"n"`
	Prefix  string `msgpack:"p"`
	Ingress string `msgpack:"i"`
	// Stream: the ingress streams its responses.
	Stream bool `msgpack:"s,omitempty"`
}

type routeDep struct {
	App        string       `msgpack:"a"`
	Name       string       `msgpack:"n"`
	MaxOngoing int          `msgpack:"m"`
	Replicas   []replicaRef `msgpack:"r"`
}

type replicaRef struct {
	ID    string                    `msgpack:"i"`
	Actor rayo.ActorHandle[replica] `msgpack:"h"`
}

// depKey names a deployment of an application.
type depKey struct{ app, dep string }

// router picks a replica for a request: power of two choices on the
// replicas' in-flight requests, never one at MaxOngoing.
type router struct {
	mu       sync.RWMutex
	replicas []*routeReplica
}

type routeReplica struct {
	ref      replicaRef
	max      int64
	inflight atomic.Int64
}

func (r *router) update(d routeDep) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := map[string]*routeReplica{}
	for _, x := range r.replicas {
		old[x.ref.ID] = x
	}
	next := make([]*routeReplica, 0, len(d.Replicas))
	for _, ref := range d.Replicas {
		x := old[ref.ID]
		if x == nil {
			x = &routeReplica{ref: ref}
		}
		x.max = int64(d.MaxOngoing)
		next = append(next, x)
	}
	r.replicas = next
}

// pick reserves a slot on a replica; release it with done.
func (r *router) pick() (*routeReplica, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := len(r.replicas)
	if n == 0 {
		return nil, fmt.Errorf("%w: no replica is running", ErrUnavailable)
	}
	try := func(x *routeReplica) bool {
		for {
			cur := x.inflight.Load()
			if x.max > 0 && cur >= x.max {
				return false
			}
			if x.inflight.CompareAndSwap(cur, cur+1) {
				return true
			}
		}
	}
	a := r.replicas[rand.IntN(n)]
	if n > 1 {
		b := r.replicas[rand.IntN(n-1)]
		if b == a {
			b = r.replicas[n-1]
		}
		if b.inflight.Load() < a.inflight.Load() {
			a, b = b, a
		}
		if try(a) {
			return a, nil
		}
		if try(b) {
			return b, nil
		}
	} else if try(a) {
		return a, nil
	}
	for _, x := range r.replicas {
		if try(x) {
			return x, nil
		}
	}
	return nil, fmt.Errorf("%w: every replica is at MaxOngoingRequests", ErrUnavailable)
}

func (x *routeReplica) done() { x.inflight.Add(-1) }

// drop takes a replica out of this process's routes at once (its actor
// died under a request), before the controller's next table says so.
func (r *router) drop(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.replicas[:0:0]
	for _, x := range r.replicas {
		if x.ref.ID != id {
			out = append(out, x)
		}
	}
	r.replicas = out
}

// watcher keeps this process's copy of the route table, long-polling the
// controller. One per process, started on first use, stopped by Shutdown.
type watcher struct {
	mu      sync.RWMutex
	table   *routeTable
	routers map[depKey]*router
	apps    []routeApp // by prefix length, longest first
	ready   chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
}

var (
	watchMu  sync.Mutex
	theWatch *watcher
)

// routes returns the process's watcher, started and holding a table.
func routes(ctx context.Context) (*watcher, error) {
	watchMu.Lock()
	w := theWatch
	if w == nil {
		wctx, cancel := context.WithCancel(context.Background())
		w = &watcher{routers: map[depKey]*router{}, ready: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
		theWatch = w
		go w.loop(wctx)
	}
	watchMu.Unlock()
	select {
	case <-w.ready:
		return w, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: waiting for the controller's routes: %v", ErrNotStarted, ctx.Err())
	}
}

// stopWatch ends the process's watcher.
func stopWatch() {
	watchMu.Lock()
	w := theWatch
	theWatch = nil
	watchMu.Unlock()
	if w != nil {
		w.cancel()
		<-w.done
	}
}

func (w *watcher) loop(ctx context.Context) {
	defer close(w.done)
	var since int64 = -1
	for ctx.Err() == nil {
		ctl, err := controller(ctx)
		var t routeTable
		if err == nil {
			t, err = ctlRoutes.Remote(ctl, since).Get(ctx)
		}
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		if t.Version != since {
			w.apply(&t)
			since = t.Version
		}
	}
}

func (w *watcher) apply(t *routeTable) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.table = t
	seen := map[depKey]bool{}
	for _, d := range t.Deployments {
		k := depKey{d.App, d.Name}
		seen[k] = true
		r := w.routers[k]
		if r == nil {
			r = &router{}
			w.routers[k] = r
		}
		r.update(d)
	}
	for k := range w.routers {
		if !seen[k] {
			delete(w.routers, k)
		}
	}
	w.apps = append(w.apps[:0], t.Apps...)
	sort.Slice(w.apps, func(i, j int) bool { return len(w.apps[i].Prefix) > len(w.apps[j].Prefix) })
	select {
	case <-w.ready:
	default:
		close(w.ready)
	}
}

// match finds the application whose route prefix is the longest one
// that path starts with (at a path segment's boundary).
func (w *watcher) match(path string) (routeApp, *router, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	for _, a := range w.apps {
		if a.Prefix == "/" || path == a.Prefix || strings.HasPrefix(path, a.Prefix+"/") {
			return a, w.routers[depKey{a.Name, a.Ingress}], true
		}
	}
	return routeApp{}, nil, false
}

func (w *watcher) router(app, dep string) *router {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.routers[depKey{app, dep}]
}
