package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rayo-dev/rayo"
)

// The controller is one detached actor ("rayo.serve.controller", named
// in namespace "serve"). It keeps the applications' desired state in the
// head's key-value store, so a restarted controller (rayo restarts it)
// picks up where it was, and reconciles: it starts replicas (detached,
// named, so that they outlive it), checks their health, replaces the
// failing ones, removes the extra ones after draining them, rolls new
// versions out (the new replica is healthy before an old one drains),
// and publishes the route table that proxies and handles long-poll.

const (
	serveNamespace = "serve"
	controllerName = "rayo.serve.controller"
	kvPrefix       = "serve/apps/"
	kvNamespace    = "rayo.serve"
)

type controllerActor struct {
	proxyCfg proxyConfig
	proxies  map[string]*proxyState // by node ID

	// applyMu serialises config applies and the shutdown; handling is
	// set while a dashboard request is handled (requests.go).
	applyMu  sync.Mutex
	handling atomic.Bool

	mu   sync.Mutex
	apps map[string]*appSpec
	deps map[depKey]*depState
	// stopping: a shutdown runs; deploys are refused.
	stopping bool
	version  int64
	changed  chan struct{} // closed and replaced when the route table changes
	kick     chan struct{}
	stop     context.CancelFunc
	// published is the status last written to the key-value store, and
	// pubSeq its number; pubMu serialises the writes and guards pubDone,
	// the number of the last one written (lock order: mu, then pubMu is
	// never taken under mu).
	published string
	pubSeq    uint64
	pubMu     sync.Mutex
	pubDone   uint64
	log       *slog.Logger
	// steps are the goroutines of the reconcile loop (reconcile steps,
	// the statistics poll); the loop waits for them when it ends.
	steps sync.WaitGroup
}

// depState is a deployment's running replicas.
type depState struct {
	spec     depSpec
	replicas []*replicaState
	next     int         // the next replica's number
	auto     *autoscaler // with spec.Autoscaling
	busy     bool        // a reconcile step runs (under controllerActor.mu)
	// failures counts the replica starts that failed in a row (a
	// constructor's error, say); the next start waits until retryAt
	// (exponential backoff), and from failedUnhealthy on the deployment
	// is UNHEALTHY with lastError as its message.
	failures  int
	retryAt   time.Time
	lastError string
}

// Replica start backoff: the first retry after startBackoff, doubling up
// to maxStartBackoff; failedUnhealthy failures in a row mark the
// deployment UNHEALTHY (Ray's backoff on failed replica starts).
const (
	startBackoff    = 100 * time.Millisecond
	maxStartBackoff = 30 * time.Second
	failedUnhealthy = 3
)

// startFailedLocked records a failed replica start.
func (st *depState) startFailedLocked(err error) {
	st.failures++
	st.lastError = err.Error()
	st.retryAt = time.Now().Add(min(startBackoff<<min(st.failures-1, 20), maxStartBackoff))
}

// wanted is how many replicas the deployment should have now.
func (st *depState) wanted() int {
	if st.auto != nil && st.spec.NumReplicas != 0 {
		return st.auto.target
	}
	return st.spec.NumReplicas
}

// syncAutoscaler makes st's policy follow its spec. Called with c.mu held.
func (st *depState) syncAutoscaler() {
	if st.spec.Autoscaling == nil {
		st.auto = nil
		return
	}
	if st.auto == nil {
		if a, err := newAutoscaler(*st.spec.Autoscaling); err == nil {
			st.auto = a
		}
		return
	}
	_ = st.auto.policy.SetConfig(st.spec.Autoscaling.WithDefaults())
}

type replicaState struct {
	ref        replicaRef
	ongoing    int64
	version    string
	state      string // STARTING, RUNNING, STOPPING
	lastCheck  time.Time
	userConfig []byte
	// pg is the replica's placement group (PlacementGroupBundles);
	// pgWaitLogged says the wait for it was logged.
	pg           *rayo.PlacementGroup
	pgWaitLogged bool
}

var (
	controllerType = rayo.RegisterActor[controllerActor]("rayo.serve.controller", newController)
	ctlDeploy      = rayo.RegisterMethod[bool](controllerType, "deploy", (*controllerActor).deploy)
	ctlDelete      = rayo.RegisterMethod[bool](controllerType, "delete", (*controllerActor).delete)
	ctlRoutes      = rayo.RegisterMethod[routeTable](controllerType, "routes", (*controllerActor).routes)
	ctlStatus      = rayo.RegisterMethod[Status](controllerType, "status", (*controllerActor).status)
	ctlDead        = rayo.RegisterMethod[bool](controllerType, "dead", (*controllerActor).dead)
	ctlProxyAddr   = rayo.RegisterMethod[string](controllerType, "proxyAddress", (*controllerActor).proxyAddress)
	ctlShutdown    = rayo.RegisterMethod[bool](controllerType, "shutdown", (*controllerActor).shutdown)
	ctlApply       = rayo.RegisterMethod[bool](controllerType, "applyConfig", (*controllerActor).applyConfig)
	ctlQueued      = rayo.RegisterMethod[bool](controllerType, "queued", (*controllerActor).queued)
)

// dead: a proxy or handle saw replica id's actor die under a request.
// Its next health check is made now.
func (c *controllerActor) dead(_ context.Context, id string) (bool, error) {
	c.mu.Lock()
	for _, st := range c.deps {
		for _, r := range st.replicas {
			if r.ref.ID == id {
				r.lastCheck = time.Time{}
			}
		}
	}
	c.mu.Unlock()
	c.poke()
	return true, nil
}

// reportDead tells the controller, in the background, that a replica
// died under a request.
func reportDead(id string) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if ctl, err := controller(ctx); err == nil {
			_, _ = ctlDead.Remote(ctl, id).Get(ctx)
		}
	}()
}

func newController(ctx context.Context, pc proxyConfig) (*controllerActor, error) {
	c := &controllerActor{proxyCfg: pc, proxies: map[string]*proxyState{}, apps: map[string]*appSpec{}, deps: map[depKey]*depState{}, changed: make(chan struct{}),
		kick: make(chan struct{}, 1), log: slog.Default().With("component", "serve-controller"),
		// A restarted controller's tables must differ from its
		// predecessor's, which proxies and handles hold: start from the
		// clock, not from zero.
		version: time.Now().UnixNano()}
	keys, err := rayo.KVList(ctx, kvPrefix, rayo.KVNamespace(kvNamespace))
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		b, err := rayo.KVGet(ctx, k, rayo.KVNamespace(kvNamespace))
		if err != nil {
			continue
		}
		var a appSpec
		if msgpack.Unmarshal(b, &a) == nil {
			c.apps[a.Name] = &a
			c.adopt(ctx, &a)
		}
	}
	lctx, cancel := context.WithCancel(context.Background())
	c.stop = cancel
	go c.loop(lctx)
	return c, nil
}

// replicaName is a replica actor's name: the controller finds its
// replicas again by name after a restart.
func replicaName(app, dep string, n int) string {
	return fmt.Sprintf("rayo.serve.replica:%s:%s:%d", app, dep, n)
}

// adopt finds the replicas an earlier controller started for a: their
// names are recorded in the key-value store as they start, and each is
// asked for its version and state (a rolling update may have been under
// way).
func (c *controllerActor) adopt(ctx context.Context, a *appSpec) {
	for _, d := range a.Deployments {
		st := &depState{spec: d}
		st.syncAutoscaler()
		k := depKey{a.Name, d.Name}
		c.deps[k] = st
		b, err := rayo.KVGet(ctx, replicasKey(k), rayo.KVNamespace(kvNamespace))
		if err != nil {
			continue
		}
		var rec replicasRecord
		if msgpack.Unmarshal(b, &rec) != nil {
			continue
		}
		st.next = rec.Next
		for _, name := range rec.Names {
			pg := findGroup(ctx, name)
			h, err := rayo.GetActor[replica](ctx, name, rayo.Namespace(serveNamespace))
			if err != nil {
				c.removeGroup(ctx, &replicaState{ref: replicaRef{ID: name}, pg: pg}) // orphaned
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			stats, err := replicaStatsM.Remote(h).Get(sctx)
			cancel()
			r := &replicaState{ref: replicaRef{ID: name, Actor: h}, version: stats.Version, state: "RUNNING", userConfig: d.UserConfig, pg: pg}
			if err != nil {
				r.state, r.version = "STOPPING", "" // unreachable: replaced
				go func() {
					_ = rayo.Kill(context.Background(), h, true)
					c.removeGroup(context.Background(), r)
				}()
				continue
			}
			st.replicas = append(st.replicas, r)
		}
	}
	c.version++
}

// replicasRecord is a deployment's replica names in the key-value store.
type replicasRecord struct {
	Next  int      `msgpack:"n"`
	Names []string `msgpack:"r"`
}

func replicasKey(k depKey) string { return "serve/replicas/" + k.app + "/" + k.dep }

// recordReplicas writes a deployment's replica names (with c.mu held;
// the write is quick and rare: a replica started or stopped).
func (c *controllerActor) recordReplicasLocked(ctx context.Context, k depKey, st *depState) {
	rec := replicasRecord{Next: st.next}
	for _, r := range st.replicas {
		rec.Names = append(rec.Names, r.ref.ID)
	}
	b, err := msgpack.Marshal(&rec)
	if err != nil {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, _ = rayo.KVPut(wctx, replicasKey(k), b, rayo.KVNamespace(kvNamespace))
}

func (c *controllerActor) deploy(ctx context.Context, a appSpec) (bool, error) {
	c.mu.Lock()
	stopping := c.stopping
	c.mu.Unlock()
	if stopping { // refused at once, not after the shutdown's drain
		return false, errShuttingDown
	}
	c.applyMu.Lock() // not while a config applies or Serve shuts down
	defer c.applyMu.Unlock()
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		return false, errShuttingDown
	}
	for _, o := range c.apps {
		if o.Name != a.Name && o.RoutePrefix == a.RoutePrefix {
			c.mu.Unlock()
			return false, fmt.Errorf("%w: route prefix %s is application %s's", ErrInvalidConfig, a.RoutePrefix, o.Name)
		}
	}
	c.mu.Unlock()
	return true, c.putApp(ctx, a)
}

// putApp records application a's spec and makes it the desired state.
func (c *controllerActor) putApp(ctx context.Context, a appSpec) error {
	b, err := msgpack.Marshal(&a)
	if err != nil {
		return err
	}
	if _, err := rayo.KVPut(ctx, kvPrefix+a.Name, b, rayo.KVNamespace(kvNamespace)); err != nil {
		return err
	}
	c.mu.Lock()
	c.apps[a.Name] = &a
	keep := map[depKey]bool{}
	for _, d := range a.Deployments {
		k := depKey{a.Name, d.Name}
		keep[k] = true
		st := c.deps[k]
		if st == nil {
			st = &depState{spec: d}
			c.deps[k] = st
		}
		if d.Version != st.spec.Version {
			// New code: the old one's failed starts say nothing of it.
			st.failures, st.lastError, st.retryAt = 0, "", time.Time{}
		}
		st.spec = d
		st.syncAutoscaler()
	}
	for k, st := range c.deps {
		if k.app == a.Name && !keep[k] {
			st.spec.NumReplicas = 0 // removed from the app: drained away
		}
	}
	c.bumpLocked()
	c.mu.Unlock()
	c.poke()
	return nil
}

func (c *controllerActor) delete(ctx context.Context, name string) (bool, error) {
	if _, err := rayo.KVDelete(ctx, kvPrefix+name, rayo.KVNamespace(kvNamespace)); err != nil {
		return false, err
	}
	c.mu.Lock()
	_, had := c.apps[name]
	delete(c.apps, name)
	for k, st := range c.deps {
		if k.app == name {
			st.spec.NumReplicas = 0
		}
	}
	c.bumpLocked()
	c.mu.Unlock()
	c.poke()
	return had, nil
}

// routes returns the route table once its version differs from since,
// or after a few seconds (a long poll).
func (c *controllerActor) routes(ctx context.Context, since int64) (routeTable, error) {
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	for {
		c.mu.Lock()
		if c.version != since {
			rt := c.tableLocked()
			c.mu.Unlock()
			return rt, nil
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-t.C:
			c.mu.Lock()
			rt := c.tableLocked()
			c.mu.Unlock()
			return rt, nil
		case <-ctx.Done():
			return routeTable{}, ctx.Err()
		}
	}
}

func (c *controllerActor) tableLocked() routeTable {
	t := routeTable{Version: c.version}
	for _, a := range c.apps {
		ra := routeApp{Name: a.Name, Prefix: a.RoutePrefix, Ingress: a.Ingress}
		if d := a.deployment(a.Ingress); d != nil {
			ra.Stream = d.Stream
		}
		t.Apps = append(t.Apps, ra)
	}
	keys := make([]depKey, 0, len(c.deps))
	for k := range c.deps {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].app+"\x00"+keys[i].dep < keys[j].app+"\x00"+keys[j].dep })
	for _, k := range keys {
		st := c.deps[k]
		d := routeDep{App: k.app, Name: k.dep, MaxOngoing: st.spec.MaxOngoing, MaxQueued: st.spec.MaxQueued}
		for _, r := range st.replicas {
			if r.state == "RUNNING" {
				d.Replicas = append(d.Replicas, r.ref) // with its models
			}
		}
		t.Deployments = append(t.Deployments, d)
	}
	return t
}

func (c *controllerActor) bumpLocked() {
	c.version++
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *controllerActor) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// loop reconciles every half second, and at once after a change, and
// handles the dashboard's requests on each tick; the replicas'
// statistics are polled every statsEvery by a goroutine of their own, so
// that a slow reconcile step does not delay autoscaling.
func (c *controllerActor) loop(ctx context.Context) {
	defer c.steps.Wait()
	c.steps.Go(func() { c.statsLoop(ctx) })
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		c.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.pollRequest(ctx)
		case <-c.kick:
		}
	}
}

// statsLoop polls the replicas' statistics every statsEvery.
func (c *controllerActor) statsLoop(ctx context.Context) {
	t := time.NewTicker(statsEvery)
	defer t.Stop()
	for {
		c.pollStats(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// reconcile moves each deployment one step towards its spec, each
// deployment in a goroutine of its own: one slow step (a replica
// draining for its graceful timeout, a health check timing out, a
// replica's constructor loading a model) holds up no other deployment,
// while each deployment's steps stay one at a time (busy). A step that
// changed something runs the next at once.
func (c *controllerActor) reconcile(ctx context.Context) {
	c.reconcileProxies(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	// Removed deployments whose replicas are gone go first.
	for k, st := range c.deps {
		if st.spec.NumReplicas == 0 && len(st.replicas) == 0 && !st.busy {
			if _, live := c.apps[k.app]; !live || c.apps[k.app].deployment(k.dep) == nil {
				delete(c.deps, k)
				c.bumpLocked()
				observeDeploymentGone(k.app, k.dep)
			}
		}
	}
	for k, st := range c.deps {
		if st.busy {
			continue
		}
		st.busy = true
		c.steps.Go(func() {
			acted := c.reconcileDep(ctx, k, st)
			c.mu.Lock()
			st.busy = false
			c.mu.Unlock()
			if acted {
				c.poke()
			}
		})
	}
}

// reconcileDep takes one step for a deployment; it reports whether it
// started or removed a replica.
func (c *controllerActor) reconcileDep(ctx context.Context, k depKey, st *depState) bool {
	c.mu.Lock()
	spec := st.spec
	var current, old, starting []*replicaState
	for _, r := range st.replicas {
		switch {
		case r.state == "STARTING":
			starting = append(starting, r)
		case r.version == spec.Version:
			current = append(current, r)
		default:
			old = append(old, r)
		}
	}
	c.mu.Unlock()
	acted := false

	// Health: check the running replicas whose period is up.
	for _, r := range append(append([]*replicaState{}, current...), old...) {
		c.mu.Lock()
		due := time.Since(r.lastCheck) >= spec.HealthEvery
		if due {
			r.lastCheck = time.Now()
		}
		c.mu.Unlock()
		if !due {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, spec.HealthLimit)
		ok, err := replicaCheck.Remote(r.ref.Actor).Get(cctx)
		cancel()
		if err != nil || !ok {
			c.log.Warn("replica failed its health check; replacing it", "replica", r.ref.ID, "err", err)
			c.removeReplica(ctx, k, st, r, false)
			acted = true
		} else if string(r.userConfig) != string(spec.UserConfig) && r.version == spec.Version {
			// Bounded as a health check is: a Reconfigure that hangs
			// must not hold this deployment's steps (and a shutdown).
			rctx, cancel := context.WithTimeout(ctx, spec.HealthLimit)
			_, err := replicaReconfigure.Remote(r.ref.Actor, spec.UserConfig).Get(rctx)
			cancel()
			if err == nil {
				r.userConfig = spec.UserConfig
			} else {
				// Replaced, as Ray replaces a replica whose reconfigure
				// fails: the new one gets the config in its constructor,
				// and if that fails too its starts back off and the
				// deployment turns UNHEALTHY with the error. (Re-sending
				// to this one would pile stuck calls up in its control
				// group.)
				c.log.Warn("a replica's Reconfigure failed or timed out; replacing it", "replica", r.ref.ID, "err", err)
				c.removeReplica(ctx, k, st, r, true)
				acted = true
			}
		}
	}
	c.mu.Lock()
	current, old = current[:0], old[:0]
	for _, r := range st.replicas {
		if r.state == "RUNNING" && r.version == spec.Version {
			current = append(current, r)
		} else if r.state == "RUNNING" {
			old = append(old, r)
		}
	}
	c.mu.Unlock()

	c.mu.Lock()
	want := st.wanted()
	backingOff := time.Now().Before(st.retryAt)
	c.mu.Unlock()
	// Starts finish within a round except those waiting for their
	// placement group: wait again, unless the replica is no longer wanted.
	for _, r := range starting {
		if r.version != spec.Version || len(current)+len(starting) > want {
			c.removeReplica(ctx, k, st, r, false)
			return true
		}
		err := c.launchReplica(ctx, k, st, r, spec)
		c.countStarts(st, err)
		c.mu.Lock()
		running := r.state == "RUNNING"
		c.mu.Unlock()
		return acted || running
	}
	switch {
	case len(current)+len(starting) < want && backingOff:
		return acted // a start failed just now: wait before the next
	case len(current)+len(starting) < want && len(old) == 0:
		// Scaling up: every missing replica at once.
		errs := make([]error, want-len(current))
		c.inParallel(len(errs), func(i int) { errs[i] = c.startReplica(ctx, k, st) })
		c.countStarts(st, errs...)
	case len(current)+len(starting) < want:
		// A rolling update starts one new replica at a time, before an
		// old one drains.
		c.countStarts(st, c.startReplica(ctx, k, st))
	case len(old) > 0 && len(current) >= min(want, len(current)+len(old)):
		// The new version is up: drain an old replica.
		c.removeReplica(ctx, k, st, old[0], true)
	case len(current) > want:
		// Scaling down: the extra replicas drain at once.
		extra := current[want:]
		c.inParallel(len(extra), func(i int) { c.removeReplica(ctx, k, st, extra[i], true) })
	default:
		return acted
	}
	return true
}

// inParallel runs f(0..n-1) at once and waits for them.
func (c *controllerActor) inParallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}

// countStarts records a round of replica starts (their errors, nil for
// those that started): a round in which none started is one failure,
// however many failed at once for the same cause.
func (c *controllerActor) countStarts(st *depState, errs ...error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var failed error
	for _, err := range errs {
		if err == nil {
			return // one started: launchReplica reset the count
		}
		failed = err
	}
	if failed != nil {
		st.startFailedLocked(failed)
	}
}

// startReplica starts one more replica; the error is its start's.
func (c *controllerActor) startReplica(ctx context.Context, k depKey, st *depState) error {
	c.mu.Lock()
	spec := st.spec
	n := st.next
	st.next++
	name := replicaName(k.app, k.dep, n)
	r := &replicaState{ref: replicaRef{ID: name}, version: spec.Version, state: "STARTING", userConfig: spec.UserConfig}
	st.replicas = append(st.replicas, r)
	c.recordReplicasLocked(ctx, k, st)
	c.mu.Unlock()
	return c.launchReplica(ctx, k, st, r, spec)
}

// launchReplica starts r's actor, in bundle 0 of its placement group if
// the deployment has bundles; a group not placed yet leaves r STARTING
// (no error). A start that failed removes r and returns why.
func (c *controllerActor) launchReplica(ctx context.Context, k depKey, st *depState, r *replicaState, spec depSpec) error {
	name := r.ref.ID
	var h rayo.ActorHandle[replica]
	var err error
	placed := true
	if len(spec.Bundles) > 0 {
		placed, err = c.placeGroup(ctx, r, &spec)
	}
	if !placed && err == nil {
		return nil
	}
	if err == nil {
		h, err = c.newReplicaActor(ctx, k, r, spec)
	}
	if err != nil {
		c.log.Warn("replica failed to start", "replica", name, "err", err)
		if h.ID() != "" {
			go func() { _ = rayo.Kill(context.Background(), h, true) }()
		}
		c.removeGroup(ctx, r)
		c.mu.Lock()
		defer c.mu.Unlock()
		st.replicas = removeReplicaState(st.replicas, r)
		c.recordReplicasLocked(ctx, k, st)
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st.failures, st.lastError, st.retryAt = 0, "", time.Time{}
	r.ref.Actor = h
	r.state = "RUNNING"
	r.lastCheck = time.Now()
	c.bumpLocked()
	return nil
}

// newReplicaActor creates r's actor and waits for its first health check.
func (c *controllerActor) newReplicaActor(ctx context.Context, k depKey, r *replicaState, spec depSpec) (rayo.ActorHandle[replica], error) {
	name := r.ref.ID
	opts := []rayo.Option{rayo.Name(name), rayo.Namespace(serveNamespace), rayo.Detached(), rayo.NumCPUs(spec.NumCPUs),
		rayo.MaxConcurrency(max(spec.MaxOngoing, 1)), rayo.ConcurrencyGroups(map[string]int{controlGroup: 4})}
	if spec.NumGPUs > 0 {
		opts = append(opts, rayo.NumGPUs(spec.NumGPUs))
	}
	if spec.Memory > 0 {
		opts = append(opts, rayo.Memory(spec.Memory))
	}
	if len(spec.Resources) > 0 {
		opts = append(opts, rayo.Resources(spec.Resources))
	}
	if r.pg != nil {
		opts = append(opts, rayo.InPlacementGroup(r.pg, 0))
	}
	rs := replicaSpec{App: k.app, Deployment: k.dep, ID: name, Version: spec.Version, Args: spec.Args, UserConfig: spec.UserConfig}
	h, err := replicaType.Options(opts...).New(ctx, rs)
	if err == nil {
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		_, err = replicaCheck.Remote(h).Get(cctx)
		cancel()
	}
	return h, err
}

// removeReplica takes r out of the routes, drains it (graceful) and
// kills it.
func (c *controllerActor) removeReplica(ctx context.Context, k depKey, st *depState, r *replicaState, graceful bool) {
	c.mu.Lock()
	r.state = "STOPPING"
	c.bumpLocked()
	c.mu.Unlock()
	if r.ref.Actor.ID() != "" { // one still waiting for its placement group has none
		c.stopReplicaActor(ctx, st, r, graceful)
	}
	c.removeGroup(ctx, r)
	c.mu.Lock()
	st.replicas = removeReplicaState(st.replicas, r)
	c.recordReplicasLocked(ctx, k, st)
	c.bumpLocked()
	c.mu.Unlock()
}

// stopReplicaActor drains r (graceful), runs its Close and kills it.
func (c *controllerActor) stopReplicaActor(ctx context.Context, st *depState, r *replicaState, graceful bool) {
	if graceful {
		c.mu.Lock() // a deploy may change the spec meanwhile
		wait := st.spec.Graceful
		c.mu.Unlock()
		dctx, cancel := context.WithTimeout(ctx, wait+5*time.Second)
		_, _ = replicaDrain.Remote(r.ref.Actor, wait).Get(dctx)
		cancel()
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		_, _ = replicaClose.Remote(r.ref.Actor).Get(cctx)
		ccancel()
	}
	kctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := rayo.Kill(kctx, r.ref.Actor, true)
	cancel()
	if err != nil && !errors.Is(err, context.Canceled) {
		c.log.Warn("killing a replica", "replica", r.ref.ID, "err", err)
	}
}

func removeReplicaState(rs []*replicaState, r *replicaState) []*replicaState {
	out := rs[:0]
	for _, x := range rs {
		if x != r {
			out = append(out, x)
		}
	}
	return out
}

// Status is Serve's state (Ray's serve status): per application and
// deployment, replicas wanted and running.
type Status struct {
	Applications []AppStatus `msgpack:"a" json:"applications"`
	// Stopping counts the replicas of deleted applications and removed
	// deployments still draining.
	Stopping int `msgpack:"st" json:"replicas_stopping"`
	// Proxies are the HTTP proxies' addresses by node ID (Ray's
	// serve.status() proxies).
	Proxies map[string]string `msgpack:"px,omitempty" json:"proxies,omitempty"`
}

// AppStatus is an application's state.
type AppStatus struct {
	Name        string             `msgpack:"n" json:"name"`
	RoutePrefix string             `msgpack:"p" json:"route_prefix"`
	Status      string             `msgpack:"s" json:"status"` // RUNNING, DEPLOYING, DEPLOY_FAILED
	Deployments []DeploymentStatus `msgpack:"d" json:"deployments"`
}

// DeploymentStatus is a deployment's state.
type DeploymentStatus struct {
	Name     string          `msgpack:"n" json:"name"`
	Status   string          `msgpack:"s" json:"status"` // HEALTHY, UPDATING, UNHEALTHY
	Wanted   int             `msgpack:"w" json:"replicas_wanted"`
	Running  int             `msgpack:"r" json:"replicas_running"`
	Version  string          `msgpack:"v" json:"version"`
	Replicas []ReplicaStatus `msgpack:"rs" json:"replicas"`
	// Message says why an UNHEALTHY deployment is: its replicas' last
	// start error.
	Message string `msgpack:"m,omitempty" json:"message,omitempty"`
	// Autoscaling is the last autoscaling decision, with its inputs.
	Autoscaling string `msgpack:"as,omitempty" json:"autoscaling,omitempty"`
}

// ReplicaStatus is a replica's state.
type ReplicaStatus struct {
	ID      string `msgpack:"i" json:"replica_id"`
	State   string `msgpack:"s" json:"state"`
	Version string `msgpack:"v" json:"version"`
}

func (c *controllerActor) status(context.Context) (Status, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.statusLocked(), nil
}

// publishStatusLocked writes the status, as JSON, to the key-value store,
// where the dashboard's /api/serve/applications and `rayo serve status`
// read it, when it changed.
func (c *controllerActor) publishStatusLocked(ctx context.Context) {
	b, err := json.Marshal(c.statusLocked())
	if err != nil || string(b) == c.published {
		return
	}
	c.published = string(b)
	c.pubSeq++
	seq := c.pubSeq
	go func() {
		c.pubMu.Lock()
		defer c.pubMu.Unlock()
		if seq < c.pubDone {
			return // a newer status was written already
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := rayo.KVPut(pctx, statusKey, b, rayo.KVNamespace(kvNamespace)); err == nil {
			c.pubDone = seq
		}
	}()
}

// statusKey is the status's key in the key-value store.
const statusKey = "serve/status"

func (c *controllerActor) statusLocked() Status {
	var s Status
	names := make([]string, 0, len(c.apps))
	for n := range c.apps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		a := c.apps[n]
		as := AppStatus{Name: a.Name, RoutePrefix: a.RoutePrefix, Status: "RUNNING"}
		for _, d := range a.Deployments {
			st := c.deps[depKey{a.Name, d.Name}]
			ds := DeploymentStatus{Name: d.Name, Wanted: d.NumReplicas, Version: d.Version, Status: "HEALTHY"}
			if st != nil {
				ds.Wanted = st.wanted()
				if st.auto != nil {
					ds.Autoscaling = st.auto.last
				}
				for _, r := range st.replicas {
					ds.Replicas = append(ds.Replicas, ReplicaStatus{ID: r.ref.ID, State: r.state, Version: r.version})
					if r.state == "RUNNING" && r.version == d.Version {
						ds.Running++
					}
				}
			}
			if ds.Running != ds.Wanted || len(ds.Replicas) != ds.Running {
				ds.Status, as.Status = "UPDATING", "DEPLOYING"
			}
			if st != nil && st.failures >= failedUnhealthy && ds.Running < ds.Wanted {
				ds.Status, ds.Message = "UNHEALTHY", fmt.Sprintf("%d replica starts failed in a row, the last: %s", st.failures, st.lastError)
				as.Status = "DEPLOY_FAILED"
			}
			as.Deployments = append(as.Deployments, ds)
		}
		s.Applications = append(s.Applications, as)
	}
	for k, st := range c.deps {
		if a := c.apps[k.app]; a == nil || a.deployment(k.dep) == nil {
			s.Stopping += len(st.replicas)
		}
	}
	for node, p := range c.proxies {
		if p.err == nil && p.addr != "" {
			if s.Proxies == nil {
				s.Proxies = map[string]string{}
			}
			s.Proxies[node] = p.addr
		}
	}
	return s
}

// statsEvery is how often the controller asks replicas for their
// ongoing requests and loaded models.
const statsEvery = time.Second

// pollStats learns each running replica's ongoing requests and
// multiplexed models (a change of models changes the route table, so
// that routers send a model's requests where it is loaded), and exports
// the deployments' gauges.
func (c *controllerActor) pollStats(ctx context.Context) {
	c.mu.Lock()
	var rs []*replicaState
	for _, st := range c.deps {
		for _, r := range st.replicas {
			if r.state == "RUNNING" {
				rs = append(rs, r)
			}
		}
	}
	c.mu.Unlock()
	got := make([]replicaStats, len(rs))
	ok := make([]bool, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			if s, err := replicaStatsM.Remote(r.ref.Actor).Get(sctx); err == nil {
				got[i], ok[i] = s, true
			}
		})
	}
	wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := false
	now := time.Now()
	for i, r := range rs {
		if !ok[i] {
			continue
		}
		r.ongoing = got[i].Ongoing
		if !slices.Equal(r.ref.Models, got[i].Models) {
			r.ref.Models = got[i].Models
			changed = true
		}
	}
	// Autoscaling: each replica's ongoing requests feed its deployment's
	// policy, which decides.
	for k, st := range c.deps {
		if st.auto == nil {
			continue
		}
		running := 0
		for _, r := range st.replicas {
			if r.state == "RUNNING" {
				st.auto.policy.Record(r.ref.ID, now, int(r.ongoing), 0)
				running++
			}
		}
		if d, moved := st.auto.decide(now, running); moved {
			c.log.Info("autoscaling decision", "application", k.app, "deployment", k.dep, "replicas", d.Desired, "reason", d.Reason)
			c.poke()
		}
	}
	if changed {
		c.bumpLocked()
	}
	c.publishStatusLocked(ctx)
	metricsInit()
	for k, st := range c.deps {
		var ongoing int64
		states := map[string]int{"STARTING": 0, "RUNNING": 0, "STOPPING": 0}
		for _, r := range st.replicas {
			ongoing += r.ongoing
			states[r.state]++
		}
		if g := serveMetrics.ongoing; g != nil {
			_ = g.Set(float64(ongoing), "application", k.app, "deployment", k.dep)
		}
		if g := serveMetrics.replicas; g != nil {
			for s, n := range states {
				_ = g.Set(float64(n), "application", k.app, "deployment", k.dep, "state", s)
			}
		}
	}
}
