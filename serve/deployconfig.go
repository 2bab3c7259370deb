package serve

import (
	"context"
	"fmt"
	"sync"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/serve/internal/config"
)

// Config files (Ray's serve deploy config.yaml): Go cannot import code by
// path, so an application's import_path names a builder registered in
// the binary with RegisterBuilder; the file's args go to it, and its
// deployments entries override the options the code gave, by name.

// A Builder makes an application from a config file's args (Ray's
// application builder).
type Builder func(args map[string]any) (*Application, error)

var builders = struct {
	sync.RWMutex
	m map[string]Builder
}{m: map[string]Builder{}}

// RegisterBuilder registers an application builder under an import path
// ("app:build"), at package level.
func RegisterBuilder(importPath string, b Builder) {
	if importPath == "" || b == nil {
		panic("serve: RegisterBuilder needs an import path and a builder")
	}
	builders.Lock()
	defer builders.Unlock()
	if _, dup := builders.m[importPath]; dup {
		panic(fmt.Sprintf("serve: builder %q registered twice", importPath))
	}
	builders.m[importPath] = b
}

// Deploy starts Serve as the file says (proxy location, HTTP options) and
// deploys its applications (Ray's serve deploy), each built by its
// registered builder with the file's overrides. A malformed file is an
// error naming each bad field, and nothing is deployed. It returns this
// node's proxy address.
func Deploy(ctx context.Context, file []byte) (string, error) {
	cfg, err := config.Parse(file)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	type planned struct {
		app  *Application
		opts RunOptions
	}
	var plan []planned
	for i, a := range cfg.Applications {
		builders.RLock()
		b := builders.m[a.ImportPath]
		builders.RUnlock()
		if b == nil {
			return "", fmt.Errorf("%w: applications[%d].import_path: no builder %q is registered in this binary (serve.RegisterBuilder)", ErrInvalidConfig, i, a.ImportPath)
		}
		app, err := b(a.Args)
		if err != nil {
			return "", fmt.Errorf("%w: applications[%d] (%s): its builder: %w", ErrInvalidConfig, i, a.Name, err)
		}
		for j, d := range a.Deployments {
			if !app.override(d.Name, func(c *DeploymentConfig) { applyOverride(c, d) }) {
				return "", fmt.Errorf("%w: applications[%d].deployments[%d].name: the application has no deployment %q", ErrInvalidConfig, i, j, d.Name)
			}
		}
		prefix := a.RoutePrefix
		if prefix == "" {
			prefix = "/" + a.Name // handles only in Ray; here a route of its own
		}
		plan = append(plan, planned{app, RunOptions{Name: a.Name, RoutePrefix: prefix}})
	}
	for _, p := range plan {
		if _, err := build(p.opts.Name, p.opts.RoutePrefix, p.app); err != nil {
			return "", err
		}
	}
	loc := ProxyLocation(cfg.ProxyLocation)
	if cfg.ProxyLocation == config.Disabled {
		loc = NoProxy
	}
	port := cfg.HTTPOptions.Port
	if port == 0 {
		port = -1
	}
	addr, err := Start(ctx, HTTPOptions{Host: cfg.HTTPOptions.Host, Port: port, Location: loc})
	if err != nil {
		return "", err
	}
	for _, p := range plan {
		if _, err := Run(ctx, p.app, p.opts); err != nil {
			return addr, err
		}
	}
	return addr, nil
}

// override applies f to the options of the deployment named name in a's
// tree; it reports whether there was one.
func (a *Application) override(name string, f func(*DeploymentConfig)) bool {
	found := false
	if a.deployment == name {
		f(&a.cfg)
		found = true
	}
	for _, arg := range a.args {
		if child, ok := arg.(*Application); ok && child.override(name, f) {
			found = true
		}
	}
	return found
}

// applyOverride sets what a config file's deployment entry names.
func applyOverride(c *DeploymentConfig, d config.Deployment) {
	if n := d.NumReplicas; n != nil {
		if n.Auto {
			a := d.AutoscalingConfig.Effective(true)
			c.Autoscaling = autoscalingFrom(a)
		} else {
			c.NumReplicas, c.Autoscaling = n.Count, nil
		}
	}
	if d.AutoscalingConfig != nil && (d.NumReplicas == nil || !d.NumReplicas.Auto) {
		c.Autoscaling = autoscalingFrom(d.AutoscalingConfig.Effective(false))
	}
	if d.MaxOngoingRequests != nil {
		c.MaxOngoingRequests = *d.MaxOngoingRequests
	}
	if d.MaxQueuedRequests != nil {
		c.MaxQueuedRequests = *d.MaxQueuedRequests
	}
	if d.UserConfig != nil {
		c.UserConfig = d.UserConfig
	}
	if d.HealthCheckPeriod != nil {
		c.HealthCheckPeriod = *d.HealthCheckPeriod
	}
	if d.HealthCheckTimeout != nil {
		c.HealthCheckTimeout = *d.HealthCheckTimeout
	}
	if d.GracefulShutdownTimeout != nil {
		c.GracefulShutdownTimeout = *d.GracefulShutdownTimeout
	}
	if d.PlacementGroupBundles != nil {
		c.PlacementGroupBundles = d.PlacementGroupBundles
	}
	if s := d.PlacementGroupStrategy; s != nil {
		for _, st := range []rayo.PlacementStrategy{rayo.PACK, rayo.SPREAD, rayo.STRICT_PACK, rayo.STRICT_SPREAD} {
			if st.String() == *s { // Parse took only these names
				c.PlacementGroupStrategy = st
			}
		}
	}
	if o := d.ActorOptions; o != nil {
		if o.NumCPUs != nil {
			c.NumCPUs = *o.NumCPUs
		}
		if o.NumGPUs != nil {
			c.NumGPUs = *o.NumGPUs
		}
		if o.Memory != nil {
			c.Memory = *o.Memory
		}
		if o.Resources != nil {
			c.Resources = o.Resources
		}
	}
}

// autoscalingFrom converts the file's autoscaling_config.
func autoscalingFrom(a config.AutoscalingConfig) *AutoscalingConfig {
	out := &AutoscalingConfig{UpscaleDelay: a.UpscaleDelay, DownscaleDelay: a.DownscaleDelay, DownscaleToZeroDelay: a.DownscaleToZeroDelay,
		InitialReplicas: a.InitialReplicas, UpscalingFactor: a.UpscalingFactor, DownscalingFactor: a.DownscalingFactor,
		UpscaleSmoothingFactor: a.UpscaleSmoothingFactor, DownscaleSmoothingFactor: a.DownscaleSmoothingFactor}
	if a.MinReplicas != nil {
		out.MinReplicas = *a.MinReplicas
	}
	if a.MaxReplicas != nil {
		out.MaxReplicas = *a.MaxReplicas
	}
	if a.TargetOngoingRequests != nil {
		out.TargetOngoingRequests = *a.TargetOngoingRequests
	}
	if a.MetricsInterval != nil {
		out.MetricsInterval = *a.MetricsInterval
	}
	if a.LookBackPeriod != nil {
		out.LookBackPeriod = *a.LookBackPeriod
	}
	if a.SmoothingFactor != nil {
		out.SmoothingFactor = *a.SmoothingFactor
	}
	return out
}
