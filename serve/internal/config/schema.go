package config

import (
	"time"

	"go.yaml.in/yaml/v3"
)

// Known field names per section, in the order Marshal writes them; the
// did-you-mean suggestions draw on these.
var (
	topFields  = []string{"proxy_location", "http_options", "grpc_options", "logging_config", "applications"}
	httpFields = []string{"host", "port", "request_timeout_s", "keep_alive_timeout_s"}
	grpcFields = []string{"port", "grpc_servicer_functions", "request_timeout_s", "enable_reflection"}
	appFields  = []string{"name", "route_prefix", "import_path", "args", "runtime_env", "deployments", "logging_config"}
	depFields  = []string{"name", "num_replicas", "max_ongoing_requests", "max_queued_requests", "user_config",
		"autoscaling_config", "graceful_shutdown_wait_loop_s", "graceful_shutdown_timeout_s",
		"health_check_period_s", "health_check_timeout_s", "ray_actor_options",
		"placement_group_bundles", "placement_group_strategy", "logging_config"}
	autoFields = []string{"min_replicas", "max_replicas", "initial_replicas", "target_ongoing_requests",
		"metrics_interval_s", "look_back_period_s", "smoothing_factor", "upscale_smoothing_factor",
		"downscale_smoothing_factor", "upscaling_factor", "downscaling_factor", "upscale_delay_s",
		"downscale_delay_s", "downscale_to_zero_delay_s", "aggregation_function"}
	actorFields = []string{"num_cpus", "num_gpus", "memory", "resources", "runtime_env"}
	logFields   = []string{"encoding", "log_level", "logs_dir", "enable_access_log", "additional_log_standard_attrs"}
)

const noRuntimeEnv = "a rayo binary carries its code and dependencies; build them into the binary (only an empty runtime_env is accepted)"

func (d *decoder) config(n *yaml.Node) *Config {
	c := &Config{ProxyLocation: EveryNode, HTTPOptions: defaultHTTP()}
	ps, ok := d.pairs(n, "")
	if !ok {
		return c
	}
	sawApps := false
	for _, p := range ps {
		switch p.key {
		case "proxy_location":
			c.ProxyLocation = d.proxyLocation(p.v, p.key)
		case "http_options":
			if !isNull(p.v) {
				c.HTTPOptions = d.http(p.v, p.key)
			}
		case "grpc_options":
			d.grpc(p.v, p.key)
		case "logging_config":
			c.LoggingConfig = d.logging(p.v, p.key)
		case "applications":
			sawApps = true
			c.Applications = d.applications(p.v, p.key)
		case "target_capacity":
			d.unsupported(p, "", "scale replica counts through num_replicas and autoscaling_config")
		case "import_path", "deployments", "route_prefix", "name", "args", "runtime_env":
			d.fail(p.k, p.key, "unknown field at the top level; this looks like Ray's single-application format: put the application under applications:")
		default:
			d.unknown(p, "", topFields)
		}
	}
	if !sawApps {
		d.fail(n, "applications", "required")
	}
	return c
}

func defaultHTTP() HTTPOptions {
	return HTTPOptions{Host: DefaultHTTPHost, Port: DefaultHTTPPort, KeepAliveTimeout: DefaultKeepAliveTimeout}
}

func (d *decoder) proxyLocation(n *yaml.Node, path string) ProxyLocation {
	s, ok := d.str(n, path)
	if !ok {
		return EveryNode
	}
	switch ProxyLocation(s) {
	case EveryNode, HeadOnly, Disabled:
		return ProxyLocation(s)
	case "NoServer": // Ray's older name for Disabled
		return Disabled
	}
	all := []string{string(EveryNode), string(HeadOnly), string(Disabled)}
	if m := closest(s, lowerAll(all)); m != "" {
		for _, a := range all {
			if lower(a) == m {
				d.fail(resolve(n), path, "unknown proxy location %q; did you mean %s?", s, a)
				return EveryNode
			}
		}
	}
	d.fail(resolve(n), path, "unknown proxy location %q (one of EveryNode, HeadOnly, Disabled)", s)
	return EveryNode
}

func (d *decoder) http(n *yaml.Node, path string) HTTPOptions {
	h := defaultHTTP()
	ps, _ := d.pairs(n, path)
	for _, p := range ps {
		at := field(path, p.key)
		switch p.key {
		case "host":
			if s, ok := d.str(p.v, at); ok {
				h.Host = s
				d.checkHost(resolve(p.v), at, s)
			}
		case "port":
			if v, ok := d.small(p.v, at); ok {
				if v < 0 || v > 65535 {
					d.fail(resolve(p.v), at, "port %d out of range (0 to 65535; 0 picks a free port)", v)
				}
				h.Port = v
			}
		case "request_timeout_s":
			if isNull(p.v) {
				continue
			}
			if v, ok := d.positiveSeconds(p.v, at); ok {
				h.RequestTimeout = &v
			}
		case "keep_alive_timeout_s":
			if v, ok := d.positiveSeconds(p.v, at); ok {
				h.KeepAliveTimeout = v
			}
		case "root_path":
			d.unsupported(p, path, "mount applications with route_prefix")
		case "ssl_keyfile", "ssl_certfile", "ssl_keyfile_password", "ssl_ca_certs":
			d.unsupported(p, path, "terminate TLS in front of the proxy")
		case "location":
			d.unsupported(p, path, "use the top-level proxy_location")
		case "middlewares", "num_cpus":
			d.unsupported(p, path, "removed from Ray Serve too")
		default:
			d.unknown(p, path, httpFields)
		}
	}
	return h
}

// grpc accepts grpc_options only while it starts no gRPC server, as Ray
// does with no servicer functions: `serve build` writes such a block.
func (d *decoder) grpc(n *yaml.Node, path string) {
	if isNull(n) {
		return
	}
	ps, _ := d.pairs(n, path)
	for _, p := range ps {
		switch p.key {
		case "grpc_servicer_functions":
			d.unsupported(p, path, "rayo serve has no gRPC proxy")
		case "port", "request_timeout_s", "enable_reflection":
		default:
			d.unknown(p, path, grpcFields)
		}
	}
	d.warn(path, "ignored: rayo serve has no gRPC proxy")
}

func (d *decoder) logging(n *yaml.Node, path string) *LoggingConfig {
	if isNull(n) {
		return nil
	}
	l := &LoggingConfig{}
	ps, _ := d.pairs(n, path)
	for _, p := range ps {
		at := field(path, p.key)
		if isNull(p.v) && contains(logFields, p.key) {
			continue
		}
		switch p.key {
		case "encoding":
			if s, ok := d.str(p.v, at); ok {
				if s != "TEXT" && s != "JSON" {
					d.fail(resolve(p.v), at, "unknown encoding %q (TEXT or JSON)", s)
				}
				l.Encoding = &s
			}
		case "log_level":
			if s, ok := d.logLevel(p.v, at); ok {
				l.LogLevel = &s
			}
		case "logs_dir":
			if s, ok := d.str(p.v, at); ok {
				l.LogsDir = &s
			}
		case "enable_access_log":
			if b, ok := d.boolean(p.v, at); ok {
				l.EnableAccessLog = &b
			}
		case "additional_log_standard_attrs":
			items, _ := d.list(p.v, at)
			for i, it := range items {
				if s, ok := d.str(it, index(at, i)); ok {
					l.AdditionalLogStandardAttrs = append(l.AdditionalLogStandardAttrs, s)
				}
			}
		default:
			d.unknown(p, path, logFields)
		}
	}
	d.warn(path, "validated but not applied: rayo serve logs through rayo's own logging")
	return l
}

var logLevels = map[string]int{"CRITICAL": 50, "FATAL": 50, "ERROR": 40, "WARNING": 30, "WARN": 30, "INFO": 20, "DEBUG": 10, "NOTSET": 0}

// logLevel accepts a level name or Python's number for it, as Ray does.
func (d *decoder) logLevel(n *yaml.Node, path string) (string, bool) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		v, ok := d.integer(n, path)
		if !ok {
			return "", false
		}
		for _, name := range []string{"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "NOTSET"} {
			if int64(logLevels[name]) == v {
				return name, true
			}
		}
		d.fail(n, path, "unknown log level %d (0, 10, 20, 30, 40 or 50)", v)
		return "", false
	}
	s, ok := d.str(n, path)
	if !ok {
		return "", false
	}
	if _, known := logLevels[s]; !known {
		d.fail(n, path, "unknown log level %q (DEBUG, INFO, WARNING, ERROR or CRITICAL)", s)
		return "", false
	}
	return s, true
}

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
			if _, ok := d.pairs(p.v, at); !ok { // args is a mapping (Ray: Dict)
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

func (d *decoder) autoscaling(n *yaml.Node, path string) *AutoscalingConfig {
	a := &AutoscalingConfig{}
	ps, _ := d.pairs(n, path)
	for _, p := range ps {
		at := field(path, p.key)
		if isNull(p.v) && contains(autoFields, p.key) {
			continue
		}
		switch p.key {
		case "min_replicas":
			a.MinReplicas = d.optInt(p.v, at, 0)
		case "max_replicas":
			a.MaxReplicas = d.optInt(p.v, at, 1)
		case "initial_replicas":
			a.InitialReplicas = d.optInt(p.v, at, 0)
		case "target_ongoing_requests":
			a.TargetOngoingRequests = d.positive(p.v, at)
		case "metrics_interval_s":
			a.MetricsInterval = d.optSeconds(p.v, at, true)
			d.warn(at, "deprecated in Ray Serve")
		case "look_back_period_s":
			a.LookBackPeriod = d.optSeconds(p.v, at, true)
		case "smoothing_factor":
			a.SmoothingFactor = d.positive(p.v, at)
			d.warn(at, "deprecated in Ray Serve; use upscaling_factor and downscaling_factor")
		case "upscale_smoothing_factor":
			a.UpscaleSmoothingFactor = d.positive(p.v, at)
			d.warn(at, "deprecated in Ray Serve; use upscaling_factor")
		case "downscale_smoothing_factor":
			a.DownscaleSmoothingFactor = d.positive(p.v, at)
			d.warn(at, "deprecated in Ray Serve; use downscaling_factor")
		case "upscaling_factor":
			a.UpscalingFactor = d.positive(p.v, at)
		case "downscaling_factor":
			a.DownscalingFactor = d.positive(p.v, at)
		case "upscale_delay_s":
			a.UpscaleDelay = d.optSeconds(p.v, at, false)
		case "downscale_delay_s":
			a.DownscaleDelay = d.optSeconds(p.v, at, false)
		case "downscale_to_zero_delay_s":
			a.DownscaleToZeroDelay = d.optSeconds(p.v, at, false)
		case "aggregation_function":
			if s, ok := d.str(p.v, at); ok {
				s = lower(s)
				if s != "mean" && s != "max" && s != "min" {
					d.fail(resolve(p.v), at, "unknown aggregation function %q (mean, max or min)", s)
				}
				a.AggregationFunction = &s
			}
		case "policy":
			d.unsupported(p, path, "rayo's autoscaler runs Ray's default policy")
		default:
			d.unknown(p, path, autoFields)
		}
	}
	return a
}

func (d *decoder) actorOptions(n *yaml.Node, path string) *ActorOptions {
	o := &ActorOptions{}
	ps, _ := d.pairs(n, path)
	for _, p := range ps {
		at := field(path, p.key)
		if isNull(p.v) && contains(actorFields, p.key) {
			continue
		}
		switch p.key {
		case "num_cpus":
			o.NumCPUs = d.nonNegative(p.v, at)
		case "num_gpus":
			o.NumGPUs = d.nonNegative(p.v, at)
		case "memory":
			if v, ok := d.number(p.v, at); ok {
				switch {
				case v < 0:
					d.fail(resolve(p.v), at, "must be at least 0, got %v", v)
				case v != float64(int64(v)) || v >= 1<<63:
					d.fail(resolve(p.v), at, "expected a whole number of bytes, got %v", v)
				default:
					m := int64(v)
					o.Memory = &m
				}
			}
		case "resources":
			o.Resources = d.resources(p.v, at, true)
		case "runtime_env":
			d.unsupported(p, path, noRuntimeEnv)
		case "accelerator_type":
			d.unsupported(p, path, "ask for the accelerator as a custom resource in resources")
		case "object_store_memory":
			d.unsupported(p, path, "removed from Ray Serve too")
		default:
			d.unknown(p, path, actorFields)
		}
	}
	return o
}

// resources reads a map of resource name to amount ≥ 0. In ray_actor_options
// (custom only) CPU, GPU and memory are refused, as Ray does.
func (d *decoder) resources(n *yaml.Node, path string, customOnly bool) map[string]float64 {
	ps, ok := d.pairs(n, path)
	if !ok {
		return nil
	}
	m := make(map[string]float64, len(ps))
	for _, p := range ps {
		at := field(path, p.key)
		if p.key == "" {
			d.fail(p.k, at, "a resource needs a name")
			continue
		}
		if customOnly {
			switch p.key {
			case "CPU", "GPU", "memory":
				d.fail(p.k, at, "set num_cpus, num_gpus or memory instead of a custom resource named %s", p.key)
				continue
			}
		}
		if v := d.nonNegative(p.v, at); v != nil {
			m[p.key] = *v
		}
	}
	return m
}

func (d *decoder) bundles(n *yaml.Node, path string) []map[string]float64 {
	items, ok := d.list(n, path)
	if !ok {
		return nil
	}
	if len(items) == 0 {
		d.fail(resolve(n), path, "needs at least one bundle")
		return nil
	}
	out := make([]map[string]float64, 0, len(items))
	for i, it := range items {
		b := d.resources(it, index(path, i), false)
		if b != nil && len(b) == 0 && len(resolve(it).Content) == 0 {
			d.fail(resolve(it), index(path, i), "a bundle needs at least one resource")
		}
		out = append(out, b)
	}
	return out
}

func (d *decoder) optInt(n *yaml.Node, path string, atLeast int) *int {
	v, ok := d.small(n, path)
	if !ok {
		return nil
	}
	if v < atLeast {
		d.fail(resolve(n), path, "must be at least %d, got %d", atLeast, v)
	}
	return &v
}

func (d *decoder) positive(n *yaml.Node, path string) *float64 {
	v, ok := d.number(n, path)
	if !ok {
		return nil
	}
	if v <= 0 {
		d.fail(resolve(n), path, "must be greater than 0, got %v", v)
	}
	return &v
}

func (d *decoder) nonNegative(n *yaml.Node, path string) *float64 {
	v, ok := d.number(n, path)
	if !ok {
		return nil
	}
	if v < 0 {
		d.fail(resolve(n), path, "must be at least 0, got %v", v)
	}
	return &v
}

func (d *decoder) positiveSeconds(n *yaml.Node, path string) (time.Duration, bool) {
	v, ok := d.seconds(n, path)
	if ok && v <= 0 {
		d.fail(resolve(n), path, "must be greater than 0 seconds, got %v", v.Seconds())
	}
	return v, ok
}

// optSeconds reads seconds as an optional duration, > 0 when positive,
// else ≥ 0.
func (d *decoder) optSeconds(n *yaml.Node, path string, positive bool) *time.Duration {
	v, ok := d.seconds(n, path)
	if !ok {
		return nil
	}
	switch {
	case positive && v <= 0:
		d.fail(resolve(n), path, "must be greater than 0 seconds, got %v", v.Seconds())
	case v < 0:
		d.fail(resolve(n), path, "must be at least 0 seconds, got %v", v.Seconds())
	}
	return &v
}
