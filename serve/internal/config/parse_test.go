package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

// TestRayServeBuildExample: the config Ray's docs show `serve build`
// writing ("Serve Config Files") parses as is, its gRPC and logging
// blocks accepted with warnings.
func TestRayServeBuildExample(t *testing.T) {
	c, err := ParseFile("testdata/ray_serve_build.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		ProxyLocation: EveryNode,
		HTTPOptions:   HTTPOptions{Host: "0.0.0.0", Port: 8000, KeepAliveTimeout: 90 * time.Second},
		LoggingConfig: &LoggingConfig{Encoding: ptr("TEXT"), LogLevel: ptr("INFO"), EnableAccessLog: ptr(true)},
		Applications: []Application{{
			Name: "default", RoutePrefix: "/", ImportPath: "text_ml:app",
			Deployments: []Deployment{
				{Name: "Translator", NumReplicas: &NumReplicas{Count: 1}, UserConfig: map[string]any{"language": "french"}},
				{Name: "Summarizer"},
			},
		}},
	}
	warnings := c.Warnings
	c.Warnings = nil
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %#v\nwant %#v", c, want)
	}
	if len(warnings) != 2 || !strings.HasPrefix(warnings[0], "grpc_options:") || !strings.HasPrefix(warnings[1], "logging_config:") {
		t.Fatalf("warnings: %q", warnings)
	}
}

// TestRayTextMLExample: Ray's documented example config pins pip packages
// in runtime_env, which rayo refuses by path; without it, it parses.
func TestRayTextMLExample(t *testing.T) {
	data, err := os.ReadFile("testdata/ray_example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse(data)
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "applications[0].runtime_env: not supported by rayo serve") {
		t.Fatalf("err = %v", err)
	}
	stripped := strings.Replace(string(data), "  runtime_env:\n    pip:\n      - torch\n      - transformers\n", "", 1)
	c, err := Parse([]byte(stripped))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Applications[0]
	if c.ProxyLocation != EveryNode || c.HTTPOptions.Host != "0.0.0.0" || a.Name != "default" || a.ImportPath != "text_ml:app" ||
		len(a.Deployments) != 2 || a.Deployments[1].Name != "Summarizer" || a.Deployments[1].NumReplicas.Count != 1 ||
		!reflect.DeepEqual(a.Deployments[0].UserConfig, map[string]any{"language": "french"}) {
		t.Fatalf("got %+v", c)
	}
}

func TestFullConfig(t *testing.T) {
	c, err := ParseFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sec := func(s float64) *time.Duration { return ptr(time.Duration(s * float64(time.Second))) }
	want := &Config{
		ProxyLocation: HeadOnly,
		HTTPOptions:   HTTPOptions{Host: "10.0.0.5", Port: 8080, RequestTimeout: sec(12.5), KeepAliveTimeout: 30 * time.Second},
		LoggingConfig: &LoggingConfig{Encoding: ptr("JSON"), LogLevel: ptr("DEBUG"), LogsDir: ptr("/var/log/serve"),
			EnableAccessLog: ptr(false), AdditionalLogStandardAttrs: []string{"name"}},
		Applications: []Application{{
			Name: "text", RoutePrefix: "/text", ImportPath: "text:build",
			Args: map[string]any{"model": "small", "threshold": 0.5, "layers": int64(3), "tags": []any{"a", "b"},
				"nested": map[string]any{"on": true, "off": nil}},
			LoggingConfig: &LoggingConfig{LogLevel: ptr("DEBUG")},
			Deployments: []Deployment{{
				Name: "Ingress", NumReplicas: &NumReplicas{Count: 3}, MaxOngoingRequests: ptr(100), MaxQueuedRequests: ptr(0),
				UserConfig:               map[string]any{"language": "french", "weights": []any{int64(1), 2.5}},
				GracefulShutdownWaitLoop: sec(0.5), GracefulShutdownTimeout: sec(5), HealthCheckPeriod: sec(2), HealthCheckTimeout: sec(1.5),
				ActorOptions: &ActorOptions{NumCPUs: ptr(0.5), NumGPUs: ptr(1.0), Memory: ptr(int64(2147483648)),
					Resources: map[string]float64{"special": 2}},
				PlacementGroupBundles:  []map[string]float64{{"CPU": 1, "GPU": 1, "memory": 4294967296, "special": 2}, {"CPU": 2}},
				PlacementGroupStrategy: ptr("STRICT_PACK"),
				LoggingConfig:          &LoggingConfig{EnableAccessLog: ptr(true)},
			}, {
				Name: "Model", NumReplicas: &NumReplicas{Auto: true}, MaxQueuedRequests: ptr(-1), UserConfig: "plain string",
				AutoscalingConfig: &AutoscalingConfig{
					MinReplicas: ptr(0), MaxReplicas: ptr(10), InitialReplicas: ptr(2), TargetOngoingRequests: ptr(4.0),
					MetricsInterval: sec(5), LookBackPeriod: sec(20), SmoothingFactor: ptr(1.5), UpscaleSmoothingFactor: ptr(2.0),
					DownscaleSmoothingFactor: ptr(0.5), UpscalingFactor: ptr(1.2), DownscalingFactor: ptr(0.8),
					UpscaleDelay: sec(10), DownscaleDelay: sec(300), DownscaleToZeroDelay: sec(900), AggregationFunction: ptr("max"),
				},
			}},
		}, {
			Name: "internal", RoutePrefix: "", ImportPath: "internal:build",
		}},
	}
	c.Warnings = nil
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %#v\nwant %#v", c, want)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte("applications:\n- import_path: app:build\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		ProxyLocation: EveryNode,
		HTTPOptions:   HTTPOptions{Host: DefaultHTTPHost, Port: DefaultHTTPPort, KeepAliveTimeout: DefaultKeepAliveTimeout},
		Applications:  []Application{{Name: DefaultAppName, RoutePrefix: "/", ImportPath: "app:build"}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %#v\nwant %#v", c, want)
	}
	if c.HTTPOptions.Host != "127.0.0.1" {
		t.Fatal("the proxy must default to loopback")
	}
}

// TestAccepted covers inputs that are valid in less obvious ways.
func TestAccepted(t *testing.T) {
	cases := []struct {
		name, in string
		check    func(*Config) bool
	}{
		{"empty application list", "applications: []", func(c *Config) bool { return len(c.Applications) == 0 }},
		{"json", `{"proxy_location": "Disabled", "applications": [{"import_path": "a:b", "deployments": [{"name": "D", "num_replicas": 2}]}]}`,
			func(c *Config) bool {
				return c.ProxyLocation == Disabled && c.Applications[0].Deployments[0].NumReplicas.Count == 2
			}},
		{"NoServer is Disabled", "proxy_location: NoServer\napplications: []", func(c *Config) bool { return c.ProxyLocation == Disabled }},
		{"null leaves unset", "applications:\n- import_path: a\n  deployments:\n  - name: D\n    num_replicas: null\n    user_config: null\n    ray_actor_options: {num_cpus: null, accelerator_type: null}\n",
			func(c *Config) bool {
				d := c.Applications[0].Deployments[0]
				return d.NumReplicas == nil && d.UserConfig == nil && d.ActorOptions.NumCPUs == nil
			}},
		{"null http_options", "http_options: null\napplications: []", func(c *Config) bool { return c.HTTPOptions.Port == 8000 }},
		{"empty unsupported fields", "target_capacity: null\napplications:\n- import_path: a\n  runtime_env: {}\n  external_scaler_enabled: false\n  deployments:\n  - name: D\n    max_replicas_per_node: null\n    ray_actor_options: {runtime_env: {}}\n",
			func(c *Config) bool { return c.Applications[0].Deployments[0].ActorOptions != nil }},
		{"anchors and merge keys", "defaults: &d {max_ongoing_requests: 7, num_replicas: 2}\n", nil},
		{"num_replicas auto with autoscaling_config", "applications:\n- import_path: a\n  deployments:\n  - name: D\n    num_replicas: auto\n    autoscaling_config: {max_replicas: 50}\n",
			func(c *Config) bool {
				d := c.Applications[0].Deployments[0]
				return d.NumReplicas.Auto && *d.AutoscalingConfig.MaxReplicas == 50
			}},
		{"auto raises the default max", "applications:\n- import_path: a\n  deployments:\n  - name: D\n    num_replicas: auto\n    autoscaling_config: {min_replicas: 20}\n",
			func(c *Config) bool { return *c.Applications[0].Deployments[0].AutoscalingConfig.MinReplicas == 20 }},
		{"IPv6 host", "http_options: {host: '::'}\napplications: []", func(c *Config) bool { return c.HTTPOptions.Host == "::" }},
		{"integer log level", "logging_config: {log_level: 40}\napplications: []", func(c *Config) bool { return *c.LoggingConfig.LogLevel == "ERROR" }},
		{"memory as a float", "applications:\n- import_path: a\n  deployments:\n  - {name: D, ray_actor_options: {memory: 1e9}}\n",
			func(c *Config) bool { return *c.Applications[0].Deployments[0].ActorOptions.Memory == 1e9 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if tc.check == nil { // anchors: a merge key feeds a deployment
				in = "applications:\n- import_path: a\n  deployments:\n  - &base {name: D, max_ongoing_requests: 7, num_replicas: 2}\n  - <<: *base\n    name: E\n    num_replicas: 3\n"
				tc.check = func(c *Config) bool {
					e := c.Applications[0].Deployments[1]
					return e.Name == "E" && *e.MaxOngoingRequests == 7 && e.NumReplicas.Count == 3
				}
			}
			c, err := Parse([]byte(in))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("unexpected result: %+v", c)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	c, err := Parse([]byte("applications:\n- import_path: a\n  deployments:\n  - name: D\n    autoscaling_config: {smoothing_factor: 2, metrics_interval_s: 40}\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(c.Warnings, "\n")
	for _, w := range []string{
		"autoscaling_config.smoothing_factor: deprecated",
		"autoscaling_config.metrics_interval_s: deprecated",
		"look_back_period_s (30) should be greater than metrics_interval_s (40)",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("warnings lack %q:\n%s", w, got)
		}
	}
}

func TestParseFile(t *testing.T) {
	_, err := ParseFile(filepath.Join(t.TempDir(), "missing.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v", err)
	}
	p := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(p, []byte("applications: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = ParseFile(p)
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "applications: expected a list") {
		t.Fatalf("err = %v", err)
	}
}
