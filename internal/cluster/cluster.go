package cluster

import (
	"errors"
	"fmt"
	"sync"

	"github.com/rayo-dev/rayo/dashboard"
	"github.com/rayo-dev/rayo/internal/gcs"
	"github.com/rayo-dev/rayo/internal/node"
)

// ErrInvalidConfig reports a Config that names no daemon or a dashboard
// without a head.
var ErrInvalidConfig = errors.New("cluster: invalid config")

// Config says which daemons run in this process (Ray's `ray start` flags
// and the local cluster ray.init() starts). Each daemon's own config
// keeps its own defaults and Validate; the HeadAddr of the node and the
// dashboard is filled with the head's address when the head runs here.
type Config struct {
	// Head runs the head (GCS) here when set.
	Head *gcs.Config
	// Dashboard runs the head's HTTP API and dashboard when set; it needs
	// Head.
	Dashboard *dashboard.Config
	// Node runs a node daemon here when set; without Head its HeadAddr
	// must name the cluster's head.
	Node *node.Config

	// OnHead, OnDashboard and OnNode run right after that daemon started
	// (to publish its address in the session directory, say, or tell a
	// reaper of its files). An error from one fails Start like the
	// daemon's own would.
	OnHead      func(*gcs.Server) error
	OnDashboard func(*dashboard.Server) error
	OnNode      func(*node.Node) error
}

// Validate checks that the config names something to run, coherently.
func (c *Config) Validate() error {
	switch {
	case c.Head == nil && c.Node == nil:
		return fmt.Errorf("%w: neither a head nor a node", ErrInvalidConfig)
	case c.Dashboard != nil && c.Head == nil:
		return fmt.Errorf("%w: a dashboard needs the head in the same process", ErrInvalidConfig)
	case c.Head == nil && c.Node.HeadAddr == "":
		return fmt.Errorf("%w: a node without a head here needs the head's address", ErrInvalidConfig)
	}
	return nil
}

// Cluster is the set of daemons Start started. Stop stops them (Ray's
// `ray stop` for the daemons of this process).
type Cluster struct {
	head *gcs.Server
	dash *dashboard.Server
	node *node.Node
	stop sync.Once
}

// Start validates cfg and starts the head, then the dashboard, then the
// node (Ray's `ray start`, which brings up the GCS, dashboard and raylet). When a step fails, what the earlier steps started is stopped
// before Start returns, and the error names the step.
func Start(cfg Config) (_ *Cluster, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Cluster{}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	if cfg.Head != nil {
		if c.head, err = gcs.Start(*cfg.Head); err != nil {
			return nil, fmt.Errorf("starting the head: %w", err)
		}
		if cfg.OnHead != nil {
			if err = cfg.OnHead(c.head); err != nil {
				return nil, fmt.Errorf("after starting the head: %w", err)
			}
		}
	}
	if cfg.Dashboard != nil {
		dc := *cfg.Dashboard
		dc.HeadAddr = c.head.Addr()
		if c.dash, err = dashboard.Start(dc); err != nil {
			return nil, fmt.Errorf("starting the dashboard: %w", err)
		}
		c.head.SetDashboardAddr(c.dash.Addr())
		if cfg.OnDashboard != nil {
			if err = cfg.OnDashboard(c.dash); err != nil {
				return nil, fmt.Errorf("after starting the dashboard: %w", err)
			}
		}
	}
	if cfg.Node != nil {
		nc := *cfg.Node
		if c.head != nil {
			nc.HeadAddr = c.head.Addr()
		}
		if c.node, err = node.Start(nc); err != nil {
			return nil, fmt.Errorf("starting the node daemon: %w", err)
		}
		if cfg.OnNode != nil {
			if err = cfg.OnNode(c.node); err != nil {
				return nil, fmt.Errorf("after starting the node daemon: %w", err)
			}
		}
	}
	return c, nil
}

// Head is the head started here (nil if none).
func (c *Cluster) Head() *gcs.Server { return c.head }

// Dashboard is the dashboard started here (nil if none).
func (c *Cluster) Dashboard() *dashboard.Server { return c.dash }

// Node is the node daemon started here (nil if none).
func (c *Cluster) Node() *node.Node { return c.node }

// Failed is closed when a listener of the head (or, without a head, of
// the node) stopped for good; Err says why.
func (c *Cluster) Failed() <-chan struct{} {
	if c.head != nil {
		return c.head.Failed()
	}
	return c.node.Failed()
}

// Err is the reason Failed was closed (nil before).
func (c *Cluster) Err() error {
	if c.head != nil {
		return c.head.Err()
	}
	return c.node.Err()
}

// Stop stops the node daemon (and its workers), the dashboard and the
// head, in that order: the node first, so that it does not see its head
// go and try to reach it. It is safe to call more than once.
func (c *Cluster) Stop() {
	c.stop.Do(func() {
		if c.node != nil {
			c.node.Stop()
		}
		if c.dash != nil {
			c.dash.Stop()
		}
		if c.head != nil {
			c.head.Stop()
		}
	})
}
