package multiplex

import "context"

// Close shuts the cache down, as a replica does when it stops (Ray's
// multiplexer unloads every model at shutdown): Get and Acquire fail with
// ErrClosed from now on, callers still waiting for a load included, loads
// in flight are cancelled, models nobody pins
// are unloaded at once and pinned ones when their last release runs. Close
// waits for all of that, or for ctx to end, in which case it returns
// ctx.Err() and the rest still happens in the background. It may be called
// more than once.
func (c *Cache[M]) Close(ctx context.Context) error {
	c.mu.Lock()
	var victims []*entry[M]
	if !c.closed {
		c.closed = true
		for e := c.lru.root.prev; e != &c.lru.root; {
			prev := e.prev // evictLocked unlinks e
			switch {
			case e.state == loading:
				e.cancel()
			case e.pins == 0:
				victims = append(victims, c.evictLocked(e))
			}
			e = prev
		}
		c.idleCheckLocked()
	}
	c.mu.Unlock()
	c.unloadAll(context.WithoutCancel(ctx), victims)
	select {
	case <-c.idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// idleCheckLocked closes idle once the cache is closed and holds, loads and
// unloads nothing.
func (c *Cache[M]) idleCheckLocked() {
	if !c.closed || c.lru.n > 0 || len(c.unloading) > 0 || c.loads > 0 {
		return
	}
	select {
	case <-c.idle:
	default:
		close(c.idle)
	}
}
