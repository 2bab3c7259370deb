package serve

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/rayo-dev/rayo"
)

// The controller's operations on the whole of Serve: applying a config
// file (Ray's serve deploy), from a driver's Deploy or a dashboard
// request, and shutting down (Ray's serve shutdown).

// errShuttingDown refuses deploys while Serve shuts down.
var errShuttingDown = fmt.Errorf("%w: Serve is shutting down", ErrNotStarted)

// configKey holds the last config applied, as its text (`rayo serve
// config`, the dashboard's GET /api/serve/config).
const configKey = "serve/config"

// applyConfig makes p the desired state: the file names every
// application, so those it does not name are deleted. Proxy options
// other than those the controller runs with are refused (they would
// need new proxies: shut Serve down first), and nothing changes.
func (c *controllerActor) applyConfig(ctx context.Context, p configPlan) (bool, error) {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	c.mu.Lock()
	running, stopping := c.proxyCfg, c.stopping
	c.mu.Unlock()
	if stopping {
		return false, errShuttingDown
	}
	const change = "(to change it, run `rayo serve shutdown` first)"
	if p.Location != running.Location {
		return false, fmt.Errorf("%w: proxy_location: Serve runs with %s, the config asks for %s %s", ErrInvalidConfig, running.Location, p.Location, change)
	}
	if p.Location != NoProxy && p.Addr != running.Addr {
		return false, fmt.Errorf("%w: http_options: Serve's proxies listen on %s, the config asks for %s (port 0: a free port) %s", ErrInvalidConfig, running.Addr, p.Addr, change)
	}
	if _, err := rayo.KVPut(ctx, configKey, []byte(p.File), rayo.KVNamespace(kvNamespace)); err != nil {
		return false, err
	}
	keep := map[string]bool{}
	for _, a := range p.Apps {
		keep[a.Name] = true
	}
	c.mu.Lock()
	var gone []string
	for name := range c.apps {
		if !keep[name] {
			gone = append(gone, name)
		}
	}
	c.mu.Unlock()
	// Deleted first: a new application may take a deleted one's route.
	for _, name := range gone {
		if _, err := c.delete(ctx, name); err != nil {
			return false, err
		}
	}
	for _, a := range p.Apps {
		if err := c.putApp(ctx, a); err != nil {
			return false, err
		}
	}
	return true, nil
}

// deployFile plans a config file in the controller's process (its
// builders are the binary's that started Serve) and applies it.
func (c *controllerActor) deployFile(ctx context.Context, file []byte) error {
	p, err := planConfig(ctx, file)
	if err != nil {
		return err
	}
	_, err = c.applyConfig(ctx, *p)
	return err
}

// shutdown deletes every application, waits for their replicas to drain
// and stop, stops the proxies and the reconcile loop, and removes
// Serve's state from the key-value store. The caller then kills the
// controller.
func (c *controllerActor) shutdown(ctx context.Context) (bool, error) {
	return c.shutdownAnswering(ctx, "")
}

// shutdownAnswering is shutdown for the dashboard's request reqID ("" for
// a driver's call): that request's record and claim stay for its answer;
// any other request and claim go, so that no request outlives Serve and
// runs on the next one.
func (c *controllerActor) shutdownAnswering(ctx context.Context, reqID string) (_ bool, err error) {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	c.mu.Lock()
	c.stopping = true
	c.mu.Unlock()
	stopped := false
	defer func() {
		if err != nil && !stopped { // not shut down: deploys may come again
			c.mu.Lock()
			c.stopping = false
			c.mu.Unlock()
		}
	}()
	c.mu.Lock()
	var names []string
	for name := range c.apps {
		names = append(names, name)
	}
	c.mu.Unlock()
	for _, name := range names {
		if _, err := c.delete(ctx, name); err != nil {
			return false, err
		}
	}
	// The loop drains the replicas and drops a deployment once none is
	// left.
	for {
		c.mu.Lock()
		left := len(c.deps)
		c.mu.Unlock()
		if left == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("serve: shutting down: %d deployments still draining: %w", left, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	c.stopProxies(ctx)
	c.stop() // no way back from here: a failure below leaves deploys refused
	stopped = true
	// No status write after this one: a late one would bring the key back.
	c.pubMu.Lock()
	c.pubDone = math.MaxUint64
	c.pubMu.Unlock()
	keys, err := rayo.KVList(ctx, "serve/", rayo.KVNamespace(kvNamespace))
	if err != nil {
		return false, err
	}
	for _, k := range keys {
		switch {
		case k == requestKey && reqID != "":
			continue // the request being answered
		case strings.HasPrefix(k, claimPrefix):
			if k == claimPrefix+reqID {
				continue
			}
		case strings.HasPrefix(k, resultPrefix):
			continue // answers not yet read (swept after answerTTL)
		}
		if _, err := rayo.KVDelete(ctx, k, rayo.KVNamespace(kvNamespace)); err != nil {
			return false, err
		}
	}
	return true, nil
}
