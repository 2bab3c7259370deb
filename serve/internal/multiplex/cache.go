package multiplex

import (
	"context"
	"fmt"
	"sync"
)

// Cache holds a replica's multiplexed models: at most Config.MaxModels,
// loaded on demand, least recently used evicted first. It is safe for
// concurrent use.
type Cache[M any] struct {
	load func(ctx context.Context, id string) (M, error)
	cfg  Config[M]

	mu        sync.Mutex
	entries   map[string]*entry[M] // loading and loaded models
	lru       lru[M]               // the same entries, most recently used first
	unloading map[string]*entry[M] // evicted entries whose Unload runs
	loads     int                  // load goroutines not yet finished
	version   uint64               // bumped when the set of entries changes
	closed    bool
	idle      chan struct{} // closed once closed and nothing is left
}

// New returns a Cache that loads models with load (Ray's function under
// @serve.multiplexed). load's context carries the values of the request
// that caused the load but not its cancellation; Close cancels it. New
// fails, with an error wrapping ErrInvalidConfig, when load is nil or a
// Config field is out of range.
func New[M any](load func(ctx context.Context, modelID string) (M, error), cfg Config[M]) (*Cache[M], error) {
	if load == nil {
		return nil, fmt.Errorf("%w: the load function is nil", ErrInvalidConfig)
	}
	cfg, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	c := &Cache[M]{
		load:      load,
		cfg:       cfg,
		entries:   make(map[string]*entry[M]),
		unloading: make(map[string]*entry[M]),
		idle:      make(chan struct{}),
	}
	c.lru.init()
	return c, nil
}

// Get returns the model named id, loading it if needed, as Ray's
// multiplexed loader does. It does not pin the model: a later load may
// evict it and run Unload while the caller still uses it. Use Acquire when
// that matters.
//
// Concurrent calls for one ID share one load; a failed load is not cached
// and every caller waiting for it gets its error. A caller whose ctx ends
// stops waiting with ctx.Err(); the load goes on for the others. An invalid
// id gives an error wrapping ErrInvalidModelID, a closed cache ErrClosed.
func (c *Cache[M]) Get(ctx context.Context, id string) (M, error) {
	m, _, err := c.get(ctx, id, false)
	return m, err
}

// Acquire is Get that also pins the model: it is not unloaded before
// release is called. Call release exactly once, when the request is done
// with the model (extra calls are ignored while the model is unpinned, but
// could otherwise release another caller's pin, as with a sync.WaitGroup).
// On error release is a no-op.
func (c *Cache[M]) Acquire(ctx context.Context, id string) (m M, release func(), err error) {
	m, e, err := c.get(ctx, id, true)
	if err != nil {
		return m, noop, err
	}
	return m, e.release, nil
}

func noop() {}

func (c *Cache[M]) get(ctx context.Context, id string, pin bool) (M, *entry[M], error) {
	c.mu.Lock()
	// The hit path: no validation (only valid IDs get in) and no allocation.
	if e := c.entries[id]; e != nil && e.state == ready && !c.closed {
		c.lru.moveToFront(e)
		if pin {
			e.pins++
		}
		m, n := e.model, c.lru.n
		c.mu.Unlock()
		c.emit(Event{Kind: EventHit, ModelID: id, Models: n})
		return m, e, nil
	}
	c.mu.Unlock()
	return c.miss(ctx, id, pin)
}

// miss waits for the model's load, starting it if nobody has.
func (c *Cache[M]) miss(ctx context.Context, id string, pin bool) (M, *entry[M], error) {
	var zero M
	if err := ValidateModelID(id); err != nil {
		return zero, nil, err
	}
	if err := ctx.Err(); err != nil {
		return zero, nil, err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return zero, nil, ErrClosed
	}
	e := c.entries[id]
	if e != nil && e.state == ready { // loaded since get looked
		c.mu.Unlock()
		return c.get(ctx, id, pin)
	}
	var start func()
	overflow := false
	if e != nil {
		e.pins++ // held while waiting, so the model is not evicted before we take it
		c.lru.moveToFront(e)
	} else {
		e, start = c.addLocked(ctx, id)
		overflow = c.overLocked()
	}
	n := c.lru.n
	c.mu.Unlock()
	c.emit(Event{Kind: EventMiss, ModelID: id, Models: n})
	if overflow {
		c.emit(Event{Kind: EventOverflow, ModelID: id, Models: n})
	}
	if start != nil {
		start() // after the events above, so that they come before the load's
	}

	select {
	case <-e.done:
	case <-ctx.Done():
		c.unpin(e)
		return zero, nil, ctx.Err()
	}
	if e.err != nil {
		return zero, nil, e.err
	}
	c.mu.Lock()
	var victims []*entry[M]
	closed := c.closed
	switch {
	case closed: // closed after the load ended: refuse, as any later call
		victims = c.unpinLocked(e, nil)
	case !pin:
		// Get must not unload, in its own call, the model it returns.
		victims = c.unpinLocked(e, e)
	}
	c.mu.Unlock()
	c.unloadAll(context.Background(), victims)
	if closed {
		return zero, nil, ErrClosed
	}
	return e.model, e, nil
}

// addLocked adds a loading entry for id, pinned once for its caller, and
// picks the models to evict for it; start, called without the lock, starts
// the load.
func (c *Cache[M]) addLocked(ctx context.Context, id string) (e *entry[M], start func()) {
	e = &entry[M]{id: id, state: loading, pins: 1, done: make(chan struct{})}
	e.release = func() { c.unpin(e) }
	c.entries[id] = e
	c.lru.pushFront(e)
	c.version++
	victims := c.trimLocked(nil, nil)
	// The load keeps the caller's values (a trace ID) but not its
	// cancellation or deadline: see the package doc.
	loadCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.cancel = cancel
	c.loads++ // counted now, so that Close waits for it
	return e, func() { go c.runLoad(loadCtx, e, victims) }
}

// unpin drops one pin of e and unloads what that lets go.
func (c *Cache[M]) unpin(e *entry[M]) {
	c.mu.Lock()
	victims := c.unpinLocked(e, nil)
	c.mu.Unlock()
	c.unloadAll(context.Background(), victims)
}

// unpinLocked drops one pin of e. When it was the last, the models above
// the limit are evicted, keep aside; once the cache is closed, e itself is.
// It returns the evicted entries for unloadAll.
func (c *Cache[M]) unpinLocked(e, keep *entry[M]) []*entry[M] {
	if e.pins <= 0 { // a release called once too often
		return nil
	}
	e.pins--
	if e.pins > 0 || e.state != ready {
		return nil
	}
	if c.closed {
		return []*entry[M]{c.evictLocked(e)}
	}
	return c.trimLocked(nil, keep)
}

func (c *Cache[M]) overLocked() bool {
	return c.cfg.MaxModels != NoLimit && c.lru.n > c.cfg.MaxModels
}

// trimLocked evicts least recently used, unpinned, loaded models other
// than keep until the cache is within MaxModels or none is left to evict.
func (c *Cache[M]) trimLocked(victims []*entry[M], keep *entry[M]) []*entry[M] {
	for c.overLocked() {
		v := c.lru.oldestIdle(keep)
		if v == nil {
			break
		}
		victims = append(victims, c.evictLocked(v))
	}
	return victims
}

// evictLocked takes e out of the cache; the caller runs unloadAll on it.
func (c *Cache[M]) evictLocked(e *entry[M]) *entry[M] {
	c.lru.remove(e)
	delete(c.entries, e.id)
	e.state = gone
	e.unloaded = make(chan struct{})
	c.unloading[e.id] = e
	c.version++
	return e
}

func (c *Cache[M]) emit(ev Event) {
	if f := c.cfg.OnEvent; f != nil {
		f(ev)
	}
}

// Loaded returns the IDs of the models loaded or loading, most recently
// used first: what the replica reports to the router (Ray reports loading
// IDs too, so that requests for a model follow it while it loads).
func (c *Cache[M]) Loaded() []string {
	return c.AppendLoaded(nil)
}

// AppendLoaded is Loaded appending to dst, for a reporter that reuses its
// slice.
func (c *Cache[M]) AppendLoaded(dst []string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.lru.root.next; e != &c.lru.root; e = e.next {
		dst = append(dst, e.id)
	}
	return dst
}

// Version changes whenever the set Loaded reports changes (not when a hit
// only reorders it), so that a reporter pushes the set only when it moved.
func (c *Cache[M]) Version() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.version
}

// Len is the number of models loaded or loading.
func (c *Cache[M]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.n
}
