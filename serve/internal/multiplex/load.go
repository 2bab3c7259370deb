package multiplex

import (
	"context"
	"fmt"
	"runtime/debug"
)

// runLoad is the goroutine that loads e: it first unloads the models
// evicted to make room (so their memory is free before the new model takes
// its own, as in Ray), then waits for an earlier instance of the same ID to
// finish unloading, then calls the loader.
func (c *Cache[M]) runLoad(ctx context.Context, e *entry[M], victims []*entry[M]) {
	defer c.loadEnded()
	defer e.cancel()
	c.unloadAll(context.WithoutCancel(ctx), victims)

	var (
		m   M
		err error
	)
	c.mu.Lock()
	prev := c.unloading[e.id]
	c.mu.Unlock()
	if prev != nil {
		select {
		case <-prev.unloaded:
		case <-ctx.Done(): // only Close cancels a load
			err = fmt.Errorf("multiplex: load model %q: %w", e.id, ctx.Err())
		}
	}
	start := c.cfg.Now()
	if err == nil {
		m, err = c.callLoad(ctx, e.id)
	}
	took := c.cfg.Now().Sub(start)

	c.mu.Lock()
	var discard []*entry[M]
	if err == nil && c.closed {
		// Loaded after Close: nobody may use it; unload it at once.
		e.model = m
		discard = append(discard, c.evictLocked(e))
		err = ErrClosed
	} else if err != nil {
		c.lru.remove(e)
		delete(c.entries, e.id)
		e.state = gone
		c.version++
	} else {
		e.model = m
		e.state = ready
		// Callers that stopped waiting left it unpinned; whatever overflow
		// is left above the limit can go now.
		discard = c.trimLocked(nil, nil)
	}
	e.err = err
	n := c.lru.n
	c.mu.Unlock()
	// Reported before the waiters wake, so that a caller sees its own load's
	// event before its call returns.
	if err != nil {
		c.emit(Event{Kind: EventLoadError, ModelID: e.id, Duration: took, Err: err, Models: n})
	} else {
		c.emit(Event{Kind: EventLoad, ModelID: e.id, Duration: took, Models: n})
	}
	close(e.done)
	c.unloadAll(context.WithoutCancel(ctx), discard)
}

// loadEnded counts a load goroutine out; the last one after Close may make
// the cache idle.
func (c *Cache[M]) loadEnded() {
	c.mu.Lock()
	c.loads--
	c.idleCheckLocked()
	c.mu.Unlock()
}

// callLoad runs the loader, turning a panic into a *PanicError.
func (c *Cache[M]) callLoad(ctx context.Context, id string) (m M, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{ModelID: id, Hook: "load", Value: r, Stack: debug.Stack()}
		}
	}()
	m, err = c.load(ctx, id)
	if err != nil {
		err = fmt.Errorf("multiplex: load model %q: %w", id, err)
	}
	return m, err
}

// unloadAll runs the unload hook on each evicted entry, one after another,
// and reports each as EventEvict.
func (c *Cache[M]) unloadAll(ctx context.Context, victims []*entry[M]) {
	for _, v := range victims {
		start := c.cfg.Now()
		err := c.callUnload(ctx, v)
		took := c.cfg.Now().Sub(start)
		c.mu.Lock()
		if c.unloading[v.id] == v {
			delete(c.unloading, v.id)
		}
		close(v.unloaded)
		n := c.lru.n
		c.idleCheckLocked()
		c.mu.Unlock()
		c.emit(Event{Kind: EventEvict, ModelID: v.id, Duration: took, Err: err, Models: n})
	}
}

// callUnload runs the unload hook, if any, turning a panic into a
// *PanicError.
func (c *Cache[M]) callUnload(ctx context.Context, v *entry[M]) (err error) {
	if c.cfg.Unload == nil {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{ModelID: v.id, Hook: "unload", Value: r, Stack: debug.Stack()}
		}
	}()
	if err = c.cfg.Unload(ctx, v.id, v.model); err != nil {
		err = fmt.Errorf("multiplex: unload model %q: %w", v.id, err)
	}
	return err
}
