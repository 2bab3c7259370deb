package config

import (
	"errors"
	"strings"
	"testing"
)

// app wraps deployment lines (indented as list items) in a minimal config.
func app(deployment string) string {
	return "applications:\n- name: a\n  import_path: a:build\n  deployments:\n" + deployment
}

// TestInvalid: each row is a bad config and the errors it must give, each
// starting with the field's path.
func TestInvalid(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []string
	}{
		// File level.
		{"empty", "", []string{"config: empty"}},
		{"only a comment", "# nothing\n", []string{"config: empty"}},
		{"yaml syntax", "applications: [\n", []string{"invalid serve config: yaml:"}},
		{"two documents", "applications: []\n---\napplications: []\n", []string{"several YAML documents"}},
		{"top is a list", "- a\n", []string{"config: expected a mapping, got a list"}},
		{"applications missing", "proxy_location: EveryNode\n", []string{"applications: required"}},
		{"applications not a list", "applications: {name: a}\n", []string{"applications: expected a list, got a mapping"}},
		{"unknown top field", "applicatons: []\n", []string{"applicatons: unknown field; did you mean applications?", "applications: required"}},
		{"single-app format", "import_path: a:b\napplications: []\n", []string{"import_path: unknown field at the top level; this looks like Ray's single-application format"}},
		{"duplicate key", "applications: []\napplications: []\n", []string{"applications: duplicate key (line 2)"}},
		{"target_capacity", "target_capacity: 50\napplications: []\n", []string{"target_capacity: not supported by rayo serve"}},
		{"alias bomb", bomb(), []string{"document too large"}},

		// proxy_location and http_options.
		{"proxy location typo", "proxy_location: EveryNodes\napplications: []\n", []string{`proxy_location: unknown proxy location "EveryNodes"; did you mean EveryNode?`}},
		{"proxy location case", "proxy_location: headonly\napplications: []\n", []string{"did you mean HeadOnly?"}},
		{"proxy location unknown", "proxy_location: Somewhere\napplications: []\n", []string{"(one of EveryNode, HeadOnly, Disabled)"}},
		{"proxy location number", "proxy_location: 3\napplications: []\n", []string{"proxy_location: expected a string, got an integer (3)"}},
		{"port range", "http_options: {port: 70000}\napplications: []\n", []string{"http_options.port: port 70000 out of range"}},
		{"port string", "http_options: {port: '8000'}\napplications: []\n", []string{`http_options.port: expected an integer, got "8000"`}},
		{"port negative", "http_options: {port: -1}\napplications: []\n", []string{"http_options.port: port -1 out of range"}},
		{"host with port", "http_options: {host: '0.0.0.0:8000'}\napplications: []\n", []string{"http_options.host: \"0.0.0.0:8000\" is not an IP address or host name (set the port in port)"}},
		{"host empty", "http_options: {host: ''}\napplications: []\n", []string{"http_options.host: must not be empty"}},
		{"host bad", "http_options: {host: 'a b'}\napplications: []\n", []string{"http_options.host: \"a b\" is not an IP address or host name"}},
		{"request timeout zero", "http_options: {request_timeout_s: 0}\napplications: []\n", []string{"http_options.request_timeout_s: must be greater than 0 seconds"}},
		{"keep alive negative", "http_options: {keep_alive_timeout_s: -5}\napplications: []\n", []string{"http_options.keep_alive_timeout_s: must be greater than 0 seconds"}},
		{"keep alive string", "http_options: {keep_alive_timeout_s: 5s}\napplications: []\n", []string{`http_options.keep_alive_timeout_s: expected a number, got "5s"`}},
		{"timeout infinite", "http_options: {request_timeout_s: .inf}\napplications: []\n", []string{"http_options.request_timeout_s: expected a finite number"}},
		{"timeout overflow", "http_options: {request_timeout_s: 1e300}\napplications: []\n", []string{"http_options.request_timeout_s: 1e+300 seconds is out of range"}},
		{"http unknown", "http_options: {hots: x}\napplications: []\n", []string{"http_options.hots: unknown field; did you mean host?"}},
		{"ssl", "http_options: {ssl_certfile: c.pem}\napplications: []\n", []string{"http_options.ssl_certfile: not supported by rayo serve: terminate TLS"}},
		{"root_path", "http_options: {root_path: /serve}\napplications: []\n", []string{"http_options.root_path: not supported by rayo serve"}},
		{"grpc servicers", "grpc_options: {grpc_servicer_functions: [a.b]}\napplications: []\n", []string{"grpc_options.grpc_servicer_functions: not supported by rayo serve: rayo serve has no gRPC proxy"}},
		{"grpc unknown", "grpc_options: {prot: 9000}\napplications: []\n", []string{"grpc_options.prot: unknown field; did you mean port?"}},

		// logging_config.
		{"log encoding", "logging_config: {encoding: XML}\napplications: []\n", []string{`logging_config.encoding: unknown encoding "XML"`}},
		{"log level", "logging_config: {log_level: LOUD}\napplications: []\n", []string{`logging_config.log_level: unknown log level "LOUD"`}},
		{"log level number", "logging_config: {log_level: 15}\napplications: []\n", []string{"logging_config.log_level: unknown log level 15"}},
		{"access log type", "logging_config: {enable_access_log: yes}\napplications: []\n", []string{`logging_config.enable_access_log: expected a boolean, got "yes"`}},
		{"log unknown", "logging_config: {log_levle: INFO}\napplications: []\n", []string{"logging_config.log_levle: unknown field; did you mean log_level?"}},

		// Applications.
		{"import_path missing", "applications:\n- name: a\n", []string{"applications[0].import_path: required"}},
		{"import_path empty", "applications:\n- import_path: ''\n", []string{"applications[0].import_path: must not be empty"}},
		{"import_path type", "applications:\n- import_path: [a]\n", []string{"applications[0].import_path: expected a string, got a list"}},
		{"name required with several", "applications:\n- import_path: a\n  route_prefix: /a\n- import_path: b\n  name: b\n  route_prefix: /b\n", []string{"applications[0].name: required when the config has several applications"}},
		{"name empty", "applications:\n- import_path: a\n  name: ''\n", []string{"applications[0].name: must not be empty"}},
		{"name control character", "applications:\n- import_path: a\n  name: \"a\\tb\"\n", []string{"applications[0].name: must hold printable characters only"}},
		{"names unique", "applications:\n- {name: a, import_path: a, route_prefix: /a}\n- {name: a, import_path: b, route_prefix: /b}\n", []string{`applications[1].name: "a" is also the name of applications[0] (line 3)`}},
		{"routes unique", "applications:\n- {name: a, import_path: a}\n- {name: b, import_path: b}\n", []string{`applications[1].route_prefix: "/" is also the route prefix of applications[0]`}},
		{"route no slash", "applications:\n- {import_path: a, route_prefix: api}\n", []string{`applications[0].route_prefix: "api" must start with "/"`}},
		{"route trailing slash", "applications:\n- {import_path: a, route_prefix: /api/}\n", []string{`applications[0].route_prefix: "/api/" must not end with "/"`}},
		{"route wildcard", "applications:\n- {import_path: a, route_prefix: '/{id}'}\n", []string{`applications[0].route_prefix: "/{id}" must not hold "{" or "}"`}},
		{"route query", "applications:\n- {import_path: a, route_prefix: '/a?b'}\n", []string{`applications[0].route_prefix: "/a?b" is not a URL path prefix`}},
		{"route space", "applications:\n- {import_path: a, route_prefix: '/a b'}\n", []string{`applications[0].route_prefix: "/a b" is not a URL path prefix`}},
		{"runtime_env", "applications:\n- import_path: a\n  runtime_env: {pip: [torch]}\n", []string{"applications[0].runtime_env: not supported by rayo serve: a rayo binary carries its code"}},
		{"args not a map", "applications:\n- import_path: a\n  args: [1, 2]\n", []string{"applications[0].args: expected a mapping, got a list"}},
		{"args duplicate key", "applications:\n- import_path: a\n  args: {x: 1, x: 2}\n", []string{"applications[0].args.x: duplicate key"}},
		{"memory too large", app("  - name: D\n    ray_actor_options: {memory: 1e19}\n"), []string{"ray_actor_options.memory: expected a whole number of bytes"}},
		{"args nan", "applications:\n- import_path: a\n  args: {x: .nan}\n", []string{"applications[0].args.x: expected a finite number"}},
		{"args custom tag", "applications:\n- import_path: a\n  args: {x: !thing 1}\n", []string{"applications[0].args.x: a !thing value cannot be represented in JSON"}},
		{"app host", "applications:\n- import_path: a\n  port: 9000\n", []string{"applications[0].port: set in http_options at the top level"}},
		{"app unknown", "applications:\n- import_path: a\n  deployment: []\n", []string{"applications[0].deployment: unknown field; did you mean deployments?"}},
		{"app_name", "applications:\n- import_path: a\n  app_name: x\n", []string{"applications[0].app_name: unknown field; did you mean name?"}},
		{"application is a string", "applications:\n- a:build\n", []string{`applications[0]: expected a mapping, got "a:build"`}},
		{"long value shortened", "http_options: {port: " + strings.Repeat("x", 100) + "}\napplications: []\n", []string{`http_options.port: expected an integer, got "` + strings.Repeat("x", 57) + `..."`}},
		{"deployments not a list", "applications:\n- import_path: a\n  deployments: {name: D}\n", []string{"applications[0].deployments: expected a list, got a mapping"}},

		// Deployments.
		{"deployment name missing", app("  - num_replicas: 1\n"), []string{"applications[0].deployments[0].name: required"}},
		{"deployment names unique", app("  - name: D\n  - name: D\n"), []string{`applications[0].deployments[1].name: "D" is also the name of deployments[0] (line 6)`}},
		{"typo with suggestion", app("  - name: D\n    max_ongoing_request: 3\n"), []string{"applications[0].deployments[0].max_ongoing_request: unknown field; did you mean max_ongoing_requests? (line 6)"}},
		{"actor_options", app("  - name: D\n    actor_options: {num_cpus: 1}\n"), []string{"applications[0].deployments[0].actor_options: unknown field; did you mean ray_actor_options?"}},
		{"max_concurrent_queries", app("  - name: D\n    max_concurrent_queries: 3\n"), []string{"max_concurrent_queries: unknown field; did you mean max_ongoing_requests?"}},
		{"unknown without suggestion", app("  - name: D\n    colour: blue\n"), []string{"applications[0].deployments[0].colour: unknown field (known fields: name, num_replicas"}},
		{"num_replicas negative", app("  - name: D\n    num_replicas: -1\n"), []string{"applications[0].deployments[0].num_replicas: must be at least 0, got -1"}},
		{"num_replicas word", app("  - name: D\n    num_replicas: many\n"), []string{`applications[0].deployments[0].num_replicas: expected an integer ≥ 0 or "auto", got "many"`}},
		{"num_replicas float", app("  - name: D\n    num_replicas: 1.5\n"), []string{`num_replicas: expected an integer ≥ 0 or "auto", got a number (1.5)`}},
		{"num_replicas huge", app("  - name: D\n    num_replicas: 99999999999\n"), []string{"num_replicas: integer 99999999999 out of range"}},
		{"num_replicas beyond int64", app("  - name: D\n    num_replicas: 999999999999999999999\n"), []string{`num_replicas: expected an integer ≥ 0 or "auto", got a number (999999999999999999999)`}},
		{"num_replicas with autoscaling", app("  - name: D\n    num_replicas: 2\n    autoscaling_config: {max_replicas: 4}\n"), []string{"applications[0].deployments[0]: num_replicas and autoscaling_config are mutually exclusive"}},
		{"max_ongoing zero", app("  - name: D\n    max_ongoing_requests: 0\n"), []string{"applications[0].deployments[0].max_ongoing_requests: must be at least 1, got 0"}},
		{"max_queued -2", app("  - name: D\n    max_queued_requests: -2\n"), []string{"applications[0].deployments[0].max_queued_requests: must be -1 (unlimited) or at least 0, got -2"}},
		{"user_config bad value", app("  - name: D\n    user_config: {a: [1, .inf]}\n"), []string{"applications[0].deployments[0].user_config.a[1]: expected a finite number"}},
		{"health period zero", app("  - name: D\n    health_check_period_s: 0\n"), []string{"applications[0].deployments[0].health_check_period_s: must be greater than 0 seconds"}},
		{"health timeout string", app("  - name: D\n    health_check_timeout_s: 10s\n"), []string{`health_check_timeout_s: expected a number, got "10s"`}},
		{"graceful negative", app("  - name: D\n    graceful_shutdown_timeout_s: -1\n"), []string{"graceful_shutdown_timeout_s: must be at least 0 seconds, got -1"}},
		{"wait loop negative", app("  - name: D\n    graceful_shutdown_wait_loop_s: -0.5\n"), []string{"graceful_shutdown_wait_loop_s: must be at least 0 seconds"}},
		{"pg strategy", app("  - name: D\n    placement_group_strategy: TIGHT\n"), []string{`placement_group_strategy: unknown strategy "TIGHT"`}},
		{"pg bundles empty", app("  - name: D\n    placement_group_bundles: []\n"), []string{"applications[0].deployments[0].placement_group_bundles: needs at least one bundle"}},
		{"pg bundle empty", app("  - name: D\n    placement_group_bundles: [{}]\n"), []string{"placement_group_bundles[0]: a bundle needs at least one resource"}},
		{"pg bundle negative", app("  - name: D\n    placement_group_bundles: [{CPU: -1}]\n"), []string{"placement_group_bundles[0].CPU: must be at least 0, got -1"}},
		{"pg first bundle too small", app("  - name: D\n    ray_actor_options: {num_cpus: 2, resources: {tpu: 1}}\n    placement_group_bundles: [{CPU: 1}]\n"),
			[]string{"applications[0].deployments[0].placement_group_bundles[0]: the replica runs in the first bundle, which must hold its ray_actor_options: CPU 2 > 1", "tpu 1 > 0"}},
		{"max_replicas_per_node", app("  - name: D\n    max_replicas_per_node: 2\n"), []string{"max_replicas_per_node: not supported by rayo serve"}},
		{"deployment route_prefix", app("  - name: D\n    route_prefix: /d\n"), []string{"applications[0].deployments[0].route_prefix: set route_prefix on the application"}},

		// autoscaling_config.
		{"autoscaling max below min", app("  - name: D\n    autoscaling_config: {min_replicas: 5, max_replicas: 2}\n"), []string{"applications[0].deployments[0].autoscaling_config: max_replicas (2) must be at least min_replicas (5) (line 6)"}},
		{"autoscaling default max below min", app("  - name: D\n    autoscaling_config: {min_replicas: 2}\n"), []string{"max_replicas (1) must be at least min_replicas (2)"}},
		{"autoscaling initial below min", app("  - name: D\n    autoscaling_config: {min_replicas: 2, max_replicas: 5, initial_replicas: 1}\n"), []string{"initial_replicas (1) must be at least min_replicas (2)"}},
		{"autoscaling initial above max", app("  - name: D\n    autoscaling_config: {max_replicas: 5, initial_replicas: 6}\n"), []string{"initial_replicas (6) must be at most max_replicas (5)"}},
		{"autoscaling max zero", app("  - name: D\n    autoscaling_config: {min_replicas: 0, max_replicas: 0}\n"), []string{"autoscaling_config.max_replicas: must be at least 1, got 0"}},
		{"autoscaling min negative", app("  - name: D\n    autoscaling_config: {min_replicas: -1}\n"), []string{"autoscaling_config.min_replicas: must be at least 0, got -1"}},
		{"autoscaling target zero", app("  - name: D\n    autoscaling_config: {target_ongoing_requests: 0}\n"), []string{"autoscaling_config.target_ongoing_requests: must be greater than 0, got 0"}},
		{"autoscaling factor negative", app("  - name: D\n    autoscaling_config: {upscaling_factor: -1}\n"), []string{"autoscaling_config.upscaling_factor: must be greater than 0"}},
		{"autoscaling delay negative", app("  - name: D\n    autoscaling_config: {downscale_delay_s: -1}\n"), []string{"autoscaling_config.downscale_delay_s: must be at least 0 seconds"}},
		{"autoscaling look back zero", app("  - name: D\n    autoscaling_config: {look_back_period_s: 0}\n"), []string{"autoscaling_config.look_back_period_s: must be greater than 0 seconds"}},
		{"autoscaling aggregation", app("  - name: D\n    autoscaling_config: {aggregation_function: median}\n"), []string{`autoscaling_config.aggregation_function: unknown aggregation function "median"`}},
		{"autoscaling old name", app("  - name: D\n    autoscaling_config: {target_num_ongoing_requests_per_replica: 2}\n"), []string{"target_num_ongoing_requests_per_replica: unknown field; did you mean target_ongoing_requests?"}},
		{"autoscaling typo", app("  - name: D\n    autoscaling_config: {max_replica: 2}\n"), []string{"autoscaling_config.max_replica: unknown field; did you mean max_replicas?"}},
		{"autoscaling policy", app("  - name: D\n    autoscaling_config: {policy: {policy_function: a:b}}\n"), []string{"autoscaling_config.policy: not supported by rayo serve"}},
		{"autoscaling not a map", app("  - name: D\n    autoscaling_config: true\n"), []string{"autoscaling_config: expected a mapping, got a boolean (true)"}},

		// ray_actor_options.
		{"num_cpus negative", app("  - name: D\n    ray_actor_options: {num_cpus: -1}\n"), []string{"ray_actor_options.num_cpus: must be at least 0, got -1"}},
		{"num_gpus string", app("  - name: D\n    ray_actor_options: {num_gpus: one}\n"), []string{`ray_actor_options.num_gpus: expected a number, got "one"`}},
		{"memory fractional", app("  - name: D\n    ray_actor_options: {memory: 1.5}\n"), []string{"ray_actor_options.memory: expected a whole number of bytes, got 1.5"}},
		{"memory negative", app("  - name: D\n    ray_actor_options: {memory: -1}\n"), []string{"ray_actor_options.memory: must be at least 0"}},
		{"resources CPU", app("  - name: D\n    ray_actor_options: {resources: {CPU: 1}}\n"), []string{"ray_actor_options.resources.CPU: set num_cpus, num_gpus or memory instead"}},
		{"resources negative", app("  - name: D\n    ray_actor_options: {resources: {tpu: -2}}\n"), []string{"ray_actor_options.resources.tpu: must be at least 0, got -2"}},
		{"resources list", app("  - name: D\n    ray_actor_options: {resources: [tpu]}\n"), []string{"ray_actor_options.resources: expected a mapping, got a list"}},
		{"actor runtime_env", app("  - name: D\n    ray_actor_options: {runtime_env: {env_vars: {A: b}}}\n"), []string{"ray_actor_options.runtime_env: not supported by rayo serve"}},
		{"accelerator_type", app("  - name: D\n    ray_actor_options: {accelerator_type: A100}\n"), []string{"ray_actor_options.accelerator_type: not supported by rayo serve"}},
		{"num_cpu", app("  - name: D\n    ray_actor_options: {num_cpu: 1}\n"), []string{"ray_actor_options.num_cpu: unknown field; did you mean num_cpus?"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.in))
			if err == nil {
				t.Fatalf("parsed: %+v", c)
			}
			if c != nil {
				t.Fatal("a partial config came back with the error")
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("%v does not wrap ErrInvalidConfig", err)
			}
			seen := map[string]bool{}
			for _, fe := range FieldErrors(err) {
				if !errors.Is(fe, ErrInvalidConfig) {
					t.Fatalf("%v does not wrap ErrInvalidConfig", fe)
				}
				if seen[fe.Error()] {
					t.Errorf("reported twice: %v", fe)
				}
				seen[fe.Error()] = true
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
		})
	}
}

// TestAllErrorsCollected: every problem is reported, each on its own line.
func TestAllErrorsCollected(t *testing.T) {
	in := `proxy_location: Nowhere
http_options: {port: 0.5}
applications:
- name: a
  import_path: a:build
  deployments:
  - name: D
    max_ongoing_request: 3
    num_replicas: -2
- name: b
  route_prefix: b
  deployments:
  - num_replicas: auto
    autoscaling_config: {max_replicas: 0}
`
	_, err := Parse([]byte(in))
	fes := FieldErrors(err)
	want := []string{
		"proxy_location", "http_options.port",
		"applications[0].deployments[0].max_ongoing_request", "applications[0].deployments[0].num_replicas",
		"applications[1].route_prefix", "applications[1].deployments[0].autoscaling_config.max_replicas",
		"applications[1].deployments[0].name", "applications[1].import_path",
	}
	if len(fes) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(fes), len(want), err)
	}
	for i, fe := range fes {
		if fe.Path != want[i] || fe.Line == 0 {
			t.Errorf("error %d: path %q line %d, want path %q with a line", i, fe.Path, fe.Line, want[i])
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != len(want) {
		t.Errorf("%d lines, want one per error", n)
	}
}

func TestErrorCap(t *testing.T) {
	var b strings.Builder
	b.WriteString("applications:\n")
	for i := 0; i < 2*maxErrors; i++ {
		b.WriteString("- bogus: 1\n")
	}
	_, err := Parse([]byte(b.String()))
	if got := len(FieldErrors(err)); got != maxErrors {
		t.Fatalf("%d field errors, want %d", got, maxErrors)
	}
	if !strings.Contains(err.Error(), "more errors") {
		t.Fatalf("no count of the errors left out: %.200s", err.Error()[len(err.Error())-200:])
	}
}

// bomb is a billion-laughs document: a few lines standing for 10^9 nodes.
func bomb() string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	b.WriteString("applications:\n- import_path: a\n  args: {x: *a8}\n")
	return b.String()
}
