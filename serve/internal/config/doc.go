// Package config parses and validates the file `rayo serve deploy` takes:
// Ray Serve's config file ("Serve Config Files" in Ray's production guide;
// ServeDeploySchema, ServeApplicationSchema, DeploymentSchema,
// HTTPOptionsSchema, AutoscalingConfig and LoggingConfig in Ray's
// python/ray/serve/schema.py and config.py), with the same field names and
// defaults where they fit Go, so that a Ray Serve config ports unchanged
// unless it relies on Python.
//
// Parsing is strict: an unknown field, a wrong type or a bad value is an
// error naming the field's path and line, such as
//
//	applications[1].deployments[0].max_ongoing_request: unknown field; did you mean max_ongoing_requests? (line 12)
//
// Parse reports every problem it finds (errors.Join of *FieldError, each
// wrapping ErrInvalidConfig) and returns nothing partial. The file is
// walked as a YAML node tree rather than decoded into structs, which is
// what gives each error its path and lets all of them be collected.
//
// Where rayo differs from Ray Serve, and why:
//
//   - import_path names an application builder registered in the binary
//     ("app:build"): Go cannot import code by path. Any non-empty string
//     is accepted here; the builder registry checks that it exists.
//   - runtime_env (per application and in ray_actor_options) is refused
//     unless empty: a Go binary carries its own code and dependencies.
//   - http_options.host defaults to 127.0.0.1 (loopback, as Ray's
//     HTTPOptions does in code; Ray's config schema says 0.0.0.0): the
//     proxy is exposed only when the file asks.
//   - grpc_options is accepted only when it starts no gRPC server (no
//     grpc_servicer_functions, as `serve build` writes it) and then ignored
//     with a warning; rayo serve has no gRPC proxy.
//   - logging_config (top level, per application, per deployment) is
//     validated as Ray does and kept, so that `rayo serve config` prints it
//     back, but not applied: rayo serve logs through rayo's own logging.
//     Parse says so in Config.Warnings.
//   - Ray Serve fields rayo does not implement (target_capacity,
//     external_scaler_enabled, max_replicas_per_node, request_router_config,
//     autoscaling policy, TLS and root_path options, accelerator_type) are
//     accepted when empty (null, "", false, {}, []) and otherwise refused
//     with the reason, rather than silently ignored.
//   - ray_actor_options keeps Ray's spelling; actor_options is an unknown
//     field with a did-you-mean hint (one spelling keeps configs portable
//     and round trips exact).
//   - num_replicas may be 0 (Ray's schema says > 0, its DeploymentConfig
//     ≥ 0); max_queued_requests may be 0, meaning refuse with 503 as soon
//     as every replica is full (Ray: -1 or ≥ 1).
//   - route_prefix must also be a usable URL path prefix: no whitespace,
//     "?", "#" or "//" (Ray refuses only "{", "}" and a trailing "/").
//   - An explicit null leaves a deployment option unset (the code's value)
//     rather than setting it to None.
//
// Durations (the *_s fields, in seconds) are time.Duration; optional
// values are pointers, nil when the file does not set them. Marshal writes
// a Config back in the same schema, and Parse(Marshal(c)) gives c again.
package config
