package config

import "go.yaml.in/yaml/v3"

// The top level of the schema: proxy_location, http_options, grpc_options
// and logging_config; applications are read in application.go, the
// options of a deployment in options.go.

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
