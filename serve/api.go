package serve

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rayo-dev/rayo"
)

// ProxyLocation says which nodes run an HTTP proxy (Ray's
// proxy_location).
type ProxyLocation string

const (
	EveryNode ProxyLocation = "EveryNode" // the default
	HeadOnly  ProxyLocation = "HeadOnly"  // the node Start was called from
	NoProxy   ProxyLocation = "Disabled"  // handles only
)

// HTTPOptions say where the proxies listen (Ray's http_options).
type HTTPOptions struct {
	// Host is the address to bind: loopback (127.0.0.1) unless given.
	Host string
	// Port is the proxies' port (default 8000; -1 picks a free one on
	// each node).
	Port int
	// Location is where proxies run (default EveryNode).
	Location ProxyLocation
}

func (o HTTPOptions) addr() string {
	host, port := o.Host, o.Port
	if host == "" {
		host = "127.0.0.1"
	}
	if port == 0 {
		port = 8000
	}
	if port < 0 {
		port = 0
	}
	return fmt.Sprintf("%s:%d", host, port)
}

func (o HTTPOptions) validate() error {
	switch o.Location {
	case "", EveryNode, HeadOnly, NoProxy:
	default:
		return fmt.Errorf("%w: proxy location %q: want EveryNode, HeadOnly or Disabled", ErrInvalidConfig, o.Location)
	}
	if o.Port > 65535 || o.Port < -1 {
		return fmt.Errorf("%w: port %d", ErrInvalidConfig, o.Port)
	}
	return nil
}

// controller returns the running controller's handle.
func controller(ctx context.Context) (rayo.ActorHandle[controllerActor], error) {
	h, err := rayo.GetActor[controllerActor](ctx, controllerName, rayo.Namespace(serveNamespace))
	if err != nil {
		return h, fmt.Errorf("%w: %v", ErrNotStarted, err)
	}
	return h, nil
}

// Start starts Serve on the cluster, if it is not running: the
// controller, which keeps a proxy on every node (or the head only), as
// Ray's serve.start. It returns this node's proxy address ("" with
// NoProxy).
func Start(ctx context.Context, opts HTTPOptions) (string, error) {
	ctl, err := startController(ctx, opts)
	if err != nil || opts.Location == NoProxy {
		return "", err
	}
	return ctlProxyAddr.Remote(ctl, rayo.NodeID()).Get(ctx)
}

// startController starts the controller, or finds the running one.
func startController(ctx context.Context, opts HTTPOptions) (rayo.ActorHandle[controllerActor], error) {
	if err := opts.validate(); err != nil {
		return rayo.ActorHandle[controllerActor]{}, err
	}
	if opts.Location == "" {
		opts.Location = EveryNode
	}
	return controllerType.Options(rayo.Name(controllerName), rayo.Namespace(serveNamespace), rayo.Detached(),
		rayo.GetIfExists(), rayo.NumCPUs(0), rayo.MaxConcurrency(1000), rayo.MaxRestarts(-1)).New(ctx, proxyConfig{Addr: opts.addr(), Location: opts.Location, Head: rayo.NodeID()})
}

// RunOptions name an application and its route (Ray's serve.run
// arguments).
type RunOptions struct {
	Name        string // default "default"
	RoutePrefix string // default "/"
	// Wait bounds how long Run waits for the replicas (default 2 min).
	Wait time.Duration
}

// Run deploys app (or updates it in place: a rolling update) and waits
// until its deployments run (Ray's serve.run). It returns a handle to
// its ingress deployment.
func Run(ctx context.Context, app *Application, o RunOptions) (DeploymentHandle, error) {
	if o.Name == "" {
		o.Name = "default"
	}
	if o.RoutePrefix == "" {
		o.RoutePrefix = "/"
	}
	if o.Wait == 0 {
		o.Wait = defaultRunWait
	}
	spec, err := build(o.Name, o.RoutePrefix, app)
	if err != nil {
		return DeploymentHandle{}, err
	}
	if err := checkFeasible(ctx, spec); err != nil {
		return DeploymentHandle{}, err
	}
	if _, err := withController(ctx, func(ctl rayo.ActorHandle[controllerActor]) (bool, error) {
		return ctlDeploy.Remote(ctl, *spec).Get(ctx)
	}); err != nil {
		return DeploymentHandle{}, err
	}
	if err := waitRunning(ctx, o.Name, o.Wait); err != nil {
		return DeploymentHandle{}, err
	}
	return DeploymentHandle{App: o.Name, Deployment: spec.Ingress}, nil
}

// defaultRunWait is how long Run waits for an application by default.
const defaultRunWait = 2 * time.Minute

// waitRunning waits, up to wait, until application name runs.
func waitRunning(ctx context.Context, name string, wait time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	notRunning := func() error {
		return fmt.Errorf("%w: application %s is not running after %v", ErrUnavailable, name, wait)
	}
	for {
		st, err := GetStatus(wctx)
		if err != nil {
			if wctx.Err() != nil && ctx.Err() == nil {
				return notRunning() // the wait ran out during the call
			}
			return err
		}
		for _, a := range st.Applications {
			if a.Name != name {
				continue
			}
			switch a.Status {
			case "RUNNING":
				return nil
			case "DEPLOY_FAILED": // as Ray's serve.run, fail rather than wait
				for _, d := range a.Deployments {
					if d.Message != "" {
						return fmt.Errorf("%w: application %s: deployment %s: %s", ErrUnavailable, name, d.Name, d.Message)
					}
				}
			}
		}
		select {
		case <-wctx.Done():
			return notRunning()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// GetStatus returns Serve's status (Ray's serve.status). While the
// controller restarts (rayo restarts it if its process dies), it waits
// for it, up to controllerWait.
func GetStatus(ctx context.Context) (Status, error) {
	return withController(ctx, func(ctl rayo.ActorHandle[controllerActor]) (Status, error) {
		return ctlStatus.Remote(ctl).Get(ctx)
	})
}

// controllerWait bounds how long a call waits for a restarting
// controller.
const controllerWait = 30 * time.Second

// withController calls the controller, again while it is restarting:
// its calls fail meanwhile with an *ActorDiedError (unavailable), or
// with ErrActorUnavailable when its process died under the call (the
// calls it retries are idempotent: they set or read desired state).
func withController[R any](ctx context.Context, call func(rayo.ActorHandle[controllerActor]) (R, error)) (R, error) {
	deadline := time.Now().Add(controllerWait)
	for {
		ctl, err := controller(ctx)
		var r R
		if err == nil {
			if r, err = call(ctl); err == nil {
				return r, nil
			}
		}
		var died *rayo.ActorDiedError
		restarting := errors.As(err, &died) || errors.Is(err, rayo.ErrActorUnavailable)
		if !restarting || time.Now().After(deadline) || ctx.Err() != nil {
			return r, err
		}
		select {
		case <-ctx.Done():
			return r, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Delete removes an application: its replicas drain and stop (Ray's
// serve.delete).
func Delete(ctx context.Context, name string) error {
	had, err := withController(ctx, func(ctl rayo.ActorHandle[controllerActor]) (bool, error) {
		return ctlDelete.Remote(ctl, name).Get(ctx)
	})
	if err != nil {
		return err
	}
	if !had {
		return fmt.Errorf("%w: application %s", ErrNotFound, name)
	}
	return nil
}

// Shutdown deletes every application, waits for its replicas to stop,
// stops the proxies and the controller and removes Serve's state from
// the key-value store (Ray's serve.shutdown).
func Shutdown(ctx context.Context) error {
	defer stopWatch()
	ctl, err := controller(ctx)
	if errors.Is(err, ErrNotStarted) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := ctlShutdown.Remote(ctl).Get(ctx); err != nil {
		return err
	}
	return rayo.Kill(ctx, ctl, true)
}

// checkFeasible fails at once when no node could hold a replica of one
// of the application's deployments, or its placement group, rather than
// after Run's wait.
func checkFeasible(ctx context.Context, spec *appSpec) error {
	nodes, err := rayo.Nodes(ctx)
	if err != nil {
		return err
	}
	var alive []map[string]float64
	for _, n := range nodes {
		if n.Alive {
			alive = append(alive, n.Resources)
		}
	}
	for i := range spec.Deployments {
		d := &spec.Deployments[i]
		want := replicaResources(d.NumCPUs, d.NumGPUs, d.Memory, d.Resources)
		if !fitsSomeNode(alive, want) {
			return fmt.Errorf("%w: deployment %s: no node can hold a replica (%v)", ErrUnavailable, d.Name, want)
		}
		if err := checkBundlesFeasible(alive, d); err != nil {
			return err
		}
	}
	return nil
}
