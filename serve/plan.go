package serve

import (
	"context"
	"fmt"

	"github.com/rayo-dev/rayo/serve/internal/config"
)

// configPlan is a config file made ready to apply: every application
// built by its registered builder with the file's overrides, checked and
// feasible, and the proxies' options. A driver's Deploy and the
// controller (a `rayo serve deploy` through the dashboard) make it with
// the same function, planConfig; the controller applies it.
type configPlan struct {
	File     string        `msgpack:"f"` // the config as given (kept: `rayo serve config`)
	Addr     string        `msgpack:"a"` // the proxies' host:port
	Location ProxyLocation `msgpack:"l"`
	Apps     []appSpec     `msgpack:"ap"`
	// http are the options Start takes (the driver's path).
	http HTTPOptions
}

// maxConfigText bounds a config file that Serve keeps: it lives in the
// key-value store (protocol.MaxKVValue, 1 MiB), and travels there as
// JSON in a dashboard request.
const maxConfigText = 256 << 10

// planConfig parses file (strictly: an error names each bad field),
// builds its applications and checks that every deployment fits a node.
// It changes nothing.
func planConfig(ctx context.Context, file []byte) (*configPlan, error) {
	if len(file) > maxConfigText {
		return nil, fmt.Errorf("%w: the config is %d bytes, over the %d Serve keeps", ErrInvalidConfig, len(file), maxConfigText)
	}
	cfg, err := config.Parse(file)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	p := &configPlan{File: string(file)}
	prefixes := map[string]int{}
	for i, a := range cfg.Applications {
		spec, err := planApp(i, a)
		if err != nil {
			return nil, err
		}
		if j, dup := prefixes[spec.RoutePrefix]; dup {
			return nil, fmt.Errorf("%w: applications[%d].route_prefix: %s is applications[%d]'s too", ErrInvalidConfig, i, spec.RoutePrefix, j)
		}
		prefixes[spec.RoutePrefix] = i
		if err := checkFeasible(ctx, spec); err != nil {
			return nil, fmt.Errorf("applications[%d] (%s): %w", i, a.Name, err)
		}
		p.Apps = append(p.Apps, *spec)
	}
	loc := ProxyLocation(cfg.ProxyLocation)
	if cfg.ProxyLocation == config.Disabled {
		loc = NoProxy
	}
	port := cfg.HTTPOptions.Port
	if port == 0 {
		port = -1 // the file's 0: a free port
	}
	p.http = HTTPOptions{Host: cfg.HTTPOptions.Host, Port: port, Location: loc}
	if err := p.http.validate(); err != nil {
		return nil, err
	}
	p.Addr, p.Location = p.http.addr(), loc
	return p, nil
}

// planApp builds the config's application i.
func planApp(i int, a config.Application) (*appSpec, error) {
	b := lookupBuilder(a.ImportPath)
	if b == nil {
		return nil, fmt.Errorf("%w: applications[%d].import_path: no builder %q is registered in this binary (serve.RegisterBuilder)", ErrInvalidConfig, i, a.ImportPath)
	}
	app, err := b(a.Args)
	if err != nil {
		return nil, fmt.Errorf("%w: applications[%d] (%s): its builder: %w", ErrInvalidConfig, i, a.Name, err)
	}
	if app == nil {
		return nil, fmt.Errorf("%w: applications[%d] (%s): its builder returned no application", ErrInvalidConfig, i, a.Name)
	}
	for j, d := range a.Deployments {
		if !app.override(d.Name, func(c *DeploymentConfig) { applyOverride(c, d) }) {
			return nil, fmt.Errorf("%w: applications[%d].deployments[%d].name: the application has no deployment %q", ErrInvalidConfig, i, j, d.Name)
		}
	}
	prefix := a.RoutePrefix
	if prefix == "" {
		prefix = "/" + a.Name // handles only in Ray; here a route of its own
	}
	return build(a.Name, prefix, app)
}
