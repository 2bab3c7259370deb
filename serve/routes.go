package serve

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/serve/internal/router"
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
	MaxQueued  int          `msgpack:"q,omitempty"`
	Replicas   []replicaRef `msgpack:"r"`
}

type replicaRef struct {
	ID     string                    `msgpack:"i"`
	Actor  rayo.ActorHandle[replica] `msgpack:"h"`
	Models []string                  `msgpack:"m,omitempty"` // multiplexed models loaded
}

// depKey names a deployment of an application.
type depKey struct{ app, dep string }

// depRouter routes one deployment's requests: power of two choices on
// in-flight counts, preferring replicas with the request's model
// (serve/internal/router), never above MaxOngoingRequests.
type depRouter struct {
	r *router.Router
	// maxQueued and queued: the requests this process may hold, and
	// holds, while every replica is full (MaxQueuedRequests).
	maxQueued atomic.Int64
	queued    atomic.Int64
	// waiting counts the requests this process holds for want of a
	// replica slot, full or none (the queued-requests gauge); waitMu
	// makes each change and its gauge's value one step, so that the
	// gauge ends at the count.
	waitMu  sync.Mutex
	waiting int64
	// last is the replica set of the last update, for drop.
	mu   sync.Mutex
	last []router.Replica
}

func newDepRouter() *depRouter { return &depRouter{r: router.New(router.Options{})} }

func (d *depRouter) update(dep routeDep) {
	rs := make([]router.Replica, 0, len(dep.Replicas))
	for _, ref := range dep.Replicas {
		rs = append(rs, router.Replica{ID: ref.ID, MaxOngoing: max(dep.MaxOngoing, 1), Models: ref.Models, Handle: ref})
	}
	d.maxQueued.Store(int64(dep.MaxQueued))
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.r.Update(rs); err == nil {
		d.last = rs
	}
}

// pick reserves a slot on a replica; give it back with the ticket's Done.
func (d *depRouter) pick(modelID string) (*router.Ticket, replicaRef, error) {
	t := new(router.Ticket)
	var err error
	*t, err = d.r.Pick(modelID)
	switch {
	case errors.Is(err, router.ErrNoReplicas):
		return nil, replicaRef{}, fmt.Errorf("%w: no replica is running", ErrUnavailable)
	case errors.Is(err, router.ErrNoCapacity):
		return nil, replicaRef{}, fmt.Errorf("%w: every replica is at MaxOngoingRequests", ErrUnavailable)
	case err != nil:
		return nil, replicaRef{}, err
	}
	return t, t.Handle().(replicaRef), nil
}

// waitPick picks a replica, waiting while the deployment has none
// (starting, or scaled to zero: the controller is told that requests
// wait, so that it scales up from zero at once), and, with waitFull,
// while every replica is full. It gives up at ctx's end.
func (d *depRouter) waitPick(ctx context.Context, app, dep, modelID string, waitFull bool) (*router.Ticket, replicaRef, error) {
	var told time.Time
	queued, waiting := false, false
	defer func() {
		if queued {
			d.queued.Add(-1)
		}
		if waiting {
			d.addWaiting(app, dep, -1)
		}
	}()
	for {
		changed := d.r.Changed()
		t, x, err := d.pick(modelID)
		if err == nil {
			return t, x, nil
		}
		empty := d.r.Len() == 0
		if !empty && !waitFull && !queued {
			// Every replica is full: hold the request only within
			// MaxQueuedRequests.
			if m := d.maxQueued.Load(); m == 0 || (m > 0 && d.queued.Load() >= m) {
				return nil, replicaRef{}, err
			}
			d.queued.Add(1)
			queued = true
		}
		if !waiting { // it waits (a refusal above is not counted)
			waiting = true
			d.addWaiting(app, dep, 1)
		}
		if empty && time.Since(told) > time.Second {
			told = time.Now()
			reportQueued(app, dep)
		}
		wait := time.NewTimer(5 * time.Millisecond)
		if empty {
			wait.Reset(time.Second) // woken by the route table's change
		}
		select {
		case <-ctx.Done():
			wait.Stop()
			return nil, replicaRef{}, err
		case <-changed:
		case <-wait.C:
		}
		wait.Stop()
	}
}

// addWaiting counts a request in (1) or out (-1) of this process's wait
// for a replica slot, and sets the gauge to the count.
func (d *depRouter) addWaiting(app, dep string, n int64) {
	d.waitMu.Lock()
	defer d.waitMu.Unlock()
	d.waiting += n
	observeQueued(app, dep, d.waiting)
}

// processID names this process as a source of queued requests.
var processID = fmt.Sprintf("proc-%d-%d", time.Now().UnixNano(), rand.Int64())

// reportQueued tells the controller, in the background, that this
// process holds a request for a deployment with no replica.
func reportQueued(app, dep string) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if ctl, err := controller(ctx); err == nil {
			_, _ = ctlQueued.Remote(ctl, app, dep, processID, 1).Get(ctx)
		}
	}()
}

// drop takes a replica out of this process's routes at once (its actor
// died under a request), before the controller's next table says so.
func (d *depRouter) drop(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	next := make([]router.Replica, 0, len(d.last))
	for _, r := range d.last {
		if r.ID != id {
			next = append(next, r)
		}
	}
	if err := d.r.Update(next); err == nil {
		d.last = next
	}
}

// watcher keeps this process's copy of the route table, long-polling the
// controller. One per process, started on first use, stopped by Shutdown.
type watcher struct {
	mu      sync.RWMutex
	table   *routeTable
	routers map[depKey]*depRouter
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
		w = &watcher{routers: map[depKey]*depRouter{}, ready: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
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
			r = newDepRouter()
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
func (w *watcher) match(path string) (routeApp, *depRouter, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	for _, a := range w.apps {
		if a.Prefix == "/" || path == a.Prefix || strings.HasPrefix(path, a.Prefix+"/") {
			return a, w.routers[depKey{a.Name, a.Ingress}], true
		}
	}
	return routeApp{}, nil, false
}

func (w *watcher) router(app, dep string) *depRouter {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.routers[depKey{app, dep}]
}
