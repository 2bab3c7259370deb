package serve

import (
	"context"
	"fmt"
	"time"

	"github.com/rayo-dev/rayo"
)

// proxyConfig is where the controller keeps proxies.
type proxyConfig struct {
	Addr     string        `msgpack:"a"`
	Location ProxyLocation `msgpack:"l"`
	Head     string        `msgpack:"h"` // the node Start ran on (HeadOnly's)
}

type proxyState struct {
	h    rayo.ActorHandle[proxyActor]
	addr string
	err  error
}

// proxyName is a node's proxy actor's name.
func proxyName(node string) string { return "rayo.serve.proxy:" + node }

// reconcileProxies keeps a proxy on each node the location names (a
// node that joins gets one; a dead node's is forgotten).
func (c *controllerActor) reconcileProxies(ctx context.Context) {
	c.mu.Lock()
	cfg := c.proxyCfg
	c.mu.Unlock()
	if cfg.Location == NoProxy {
		return
	}
	want := map[string]bool{}
	if cfg.Location == HeadOnly {
		want[cfg.Head] = true
	} else {
		nodes, err := rayo.Nodes(ctx)
		if err != nil {
			return
		}
		for _, n := range nodes {
			if n.Alive {
				want[n.NodeID] = true
			}
		}
	}
	c.mu.Lock()
	var missing []string
	for node := range want {
		if p := c.proxies[node]; p == nil || p.err != nil {
			missing = append(missing, node)
		}
	}
	for node := range c.proxies {
		if !want[node] {
			delete(c.proxies, node)
		}
	}
	c.mu.Unlock()
	for _, node := range missing {
		st := &proxyState{}
		h, err := proxyType.Options(rayo.Name(proxyName(node)), rayo.Namespace(serveNamespace), rayo.Detached(), rayo.GetIfExists(),
			rayo.NumCPUs(0), rayo.MaxConcurrency(1000), rayo.NodeAffinity(node, false)).New(ctx, cfg.Addr)
		if err == nil {
			actx, cancel := context.WithTimeout(ctx, 30*time.Second)
			st.addr, err = proxyAddr.Remote(h).Get(actx)
			cancel()
		}
		st.h, st.err = h, err
		if err != nil {
			c.log.Warn("starting a proxy", "node", node, "err", err)
		}
		c.mu.Lock()
		c.proxies[node] = st
		c.mu.Unlock()
	}
}

// proxyAddress returns a node's proxy address once it runs.
func (c *controllerActor) proxyAddress(ctx context.Context, node string) (string, error) {
	for {
		c.mu.Lock()
		p := c.proxies[node]
		c.mu.Unlock()
		if p != nil && p.err == nil {
			return p.addr, nil
		}
		if p != nil && p.err != nil {
			return "", fmt.Errorf("serve: the proxy on node %s: %w", node, p.err)
		}
		c.poke()
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stopProxies kills every proxy (shutdown).
func (c *controllerActor) stopProxies(ctx context.Context) {
	c.mu.Lock()
	ps := c.proxies
	c.proxies = map[string]*proxyState{}
	c.proxyCfg.Location = NoProxy
	c.mu.Unlock()
	for _, p := range ps {
		if p.h.ID() != "" {
			_ = rayo.Kill(ctx, p.h, true)
		}
	}
}
