package config

import "go.yaml.in/yaml/v3"

// applications: each application, and the deployment overrides in it.

func (d *decoder) applications(n *yaml.Node, path string) []Application {
	items, ok := d.list(n, path)
	if !ok {
		return nil
	}
	apps := make([]Application, 0, len(items))
	for i, it := range items {
		apps = append(apps, d.application(it, index(path, i), len(items)))
	}
	return apps
}

func (d *decoder) application(n *yaml.Node, path string, count int) Application {
	ps, ok := d.pairs(n, path)
	if !ok {
		return Application{} // no route, so no clash with the others reported
	}
	a := Application{RoutePrefix: DefaultRoutePrefix}
	sawName, sawImport := false, false
	for _, p := range ps {
		at := field(path, p.key)
		switch p.key {
		case "name":
			sawName = true
			if s, ok := d.str(p.v, at); ok {
				a.Name = s
				d.remember(at, resolve(p.v))
				d.checkName(resolve(p.v), at, s)
			}
		case "route_prefix":
			if isNull(p.v) {
				a.RoutePrefix = ""
			} else if s, ok := d.str(p.v, at); ok {
				a.RoutePrefix = s
				d.remember(at, resolve(p.v))
				d.checkRoutePrefix(resolve(p.v), at, s)
			}
		case "import_path":
			sawImport = true
			if s, ok := d.str(p.v, at); ok {
				if s == "" {
					d.fail(resolve(p.v), at, "must not be empty: name an application builder registered in the binary, e.g. \"app:build\"")
				}
				a.ImportPath = s
			}
		case "args":
			if isNull(p.v) {
				continue
			}
			if r := resolve(p.v); r.Kind != yaml.MappingNode { // Ray: a Dict
				d.typeErr(r, at, "a mapping")
				continue
			}
			if v, ok := d.freeform(p.v, at); ok {
				a.Args = v.(map[string]any)
			}
		case "runtime_env":
			d.unsupported(p, path, noRuntimeEnv)
		case "deployments":
			if !isNull(p.v) {
				a.Deployments = d.deployments(p.v, at)
			}
		case "logging_config":
			a.LoggingConfig = d.logging(p.v, at)
		case "host", "port":
			d.fail(p.k, at, "set in http_options at the top level, not per application")
		case "external_scaler_enabled":
			d.unsupported(p, path, "scale deployments through num_replicas and autoscaling_config")
		case "autoscaling_policy":
			d.unsupported(p, path, "set autoscaling_config per deployment")
		default:
			d.unknown(p, path, appFields)
		}
	}
	if !sawImport {
		d.fail(resolve(n), field(path, "import_path"), "required: the name of an application builder registered in the binary")
	}
	if !sawName {
		if count > 1 {
			d.fail(resolve(n), field(path, "name"), "required when the config has several applications")
		} else {
			a.Name = DefaultAppName
		}
	}
	return a
}

func (d *decoder) deployments(n *yaml.Node, path string) []Deployment {
	items, ok := d.list(n, path)
	if !ok {
		return nil
	}
	out := make([]Deployment, 0, len(items))
	for i, it := range items {
		out = append(out, d.deployment(it, index(path, i)))
	}
	return out
}

func (d *decoder) deployment(n *yaml.Node, path string) Deployment {
	var dep Deployment
	ps, ok := d.pairs(n, path)
	if !ok {
		return dep
	}
	sawName := false
	for _, p := range ps {
		at := field(path, p.key)
		if p.key == "name" {
			sawName = true
			if s, ok := d.str(p.v, at); ok {
				dep.Name = s
				d.remember(at, resolve(p.v))
				d.checkName(resolve(p.v), at, s)
			}
			continue
		}
		if isNull(p.v) && contains(depFields, p.key) { // null leaves the code's value, like an absent field
			continue
		}
		switch p.key {
		case "num_replicas":
			dep.NumReplicas = d.numReplicas(p.v, at)
		case "max_ongoing_requests":
			if v, ok := d.small(p.v, at); ok {
				if v < 1 {
					d.fail(resolve(p.v), at, "must be at least 1, got %d", v)
				}
				dep.MaxOngoingRequests = &v
			}
		case "max_queued_requests":
			if v, ok := d.small(p.v, at); ok {
				if v < -1 {
					d.fail(resolve(p.v), at, "must be -1 (unlimited) or at least 0, got %d", v)
				}
				dep.MaxQueuedRequests = &v
			}
		case "user_config":
			if v, ok := d.freeform(p.v, at); ok {
				dep.UserConfig = v
			}
		case "autoscaling_config":
			dep.AutoscalingConfig = d.autoscaling(p.v, at)
			d.remember(at, resolve(p.v))
		case "graceful_shutdown_wait_loop_s":
			dep.GracefulShutdownWaitLoop = d.optSeconds(p.v, at, false)
		case "graceful_shutdown_timeout_s":
			dep.GracefulShutdownTimeout = d.optSeconds(p.v, at, false)
		case "health_check_period_s":
			dep.HealthCheckPeriod = d.optSeconds(p.v, at, true)
		case "health_check_timeout_s":
			dep.HealthCheckTimeout = d.optSeconds(p.v, at, true)
		case "ray_actor_options":
			dep.ActorOptions = d.actorOptions(p.v, at)
		case "placement_group_bundles":
			dep.PlacementGroupBundles = d.bundles(p.v, at)
			d.remember(at, resolve(p.v))
		case "placement_group_strategy":
			if s, ok := d.str(p.v, at); ok {
				switch s {
				case "PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD":
				default:
					d.fail(resolve(p.v), at, "unknown strategy %q (PACK, SPREAD, STRICT_PACK or STRICT_SPREAD)", s)
				}
				dep.PlacementGroupStrategy = &s
			}
		case "logging_config":
			dep.LoggingConfig = d.logging(p.v, at)
		case "max_replicas_per_node":
			d.unsupported(p, path, "spread replicas with placement_group_bundles and placement_group_strategy")
		case "request_router_config":
			d.unsupported(p, path, "rayo routes by power of two choices")
		case "route_prefix":
			d.fail(p.k, at, "set route_prefix on the application, not on a deployment")
		default:
			d.unknown(p, path, depFields)
		}
	}
	if !sawName {
		d.fail(resolve(n), field(path, "name"), "required: the deployment's name in the application's code")
	}
	d.checkDeployment(resolve(n), path, &dep)
	return dep
}

func (d *decoder) numReplicas(n *yaml.Node, path string) *NumReplicas {
	r := resolve(n)
	if r.Kind == yaml.ScalarNode && r.ShortTag() == "!!str" {
		if r.Value != "auto" {
			d.fail(r, path, "expected an integer ≥ 0 or \"auto\", got %q", r.Value)
			return nil
		}
		return &NumReplicas{Auto: true}
	}
	if r.Kind != yaml.ScalarNode || r.ShortTag() != "!!int" {
		d.typeErr(r, path, "an integer ≥ 0 or \"auto\"")
		return nil
	}
	v, ok := d.small(r, path)
	if !ok {
		return nil
	}
	if v < 0 {
		d.fail(r, path, "must be at least 0, got %d", v)
	}
	return &NumReplicas{Count: v}
}
