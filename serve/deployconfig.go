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

// lookupBuilder returns the builder registered under importPath, or nil.
func lookupBuilder(importPath string) Builder {
	builders.RLock()
	defer builders.RUnlock()
	return builders.m[importPath]
}

// Deploy starts Serve as the file says (proxy location, HTTP options) and
// deploys its applications (Ray's serve deploy), each built by its
// registered builder with the file's overrides. The file is the whole
// desired set: running applications it does not name are deleted. A
// malformed file is an error naming each bad field, and nothing is
// deployed; so is a file whose proxy options differ from those Serve
// runs with (Shutdown first). It waits for the applications to run and
// returns this node's proxy address.
func Deploy(ctx context.Context, file []byte) (string, error) {
	p, err := planConfig(ctx, file)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	ctl, err := startController(ctx, p.http)
	if err != nil {
		return "", err
	}
	if _, err := ctlApply.Remote(ctl, *p).Get(ctx); err != nil {
		return "", err
	}
	addr := ""
	if p.Location != NoProxy {
		if addr, err = ctlProxyAddr.Remote(ctl, rayo.NodeID()).Get(ctx); err != nil {
			return "", err
		}
	}
	for _, a := range p.Apps {
		if err := waitRunning(ctx, a.Name, defaultRunWait); err != nil {
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
