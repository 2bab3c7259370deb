package config

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Marshal writes the config back as YAML in Ray Serve's layout (for
// `rayo serve config`): Parse(Marshal(c)) gives c again, Warnings aside.
// Unset overrides are left out; defaults Parse filled in are written. It
// fails, wrapping ErrInvalidConfig, only on a free-form value (Args,
// UserConfig) that cannot be written as JSON-like YAML.
func (c *Config) Marshal() ([]byte, error) {
	m := &marshaler{}
	root := m.config(c)
	if m.err != nil {
		return nil, m.err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	return buf.Bytes(), nil
}

type marshaler struct{ err error }

func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"} }

func scalar(tag, v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v} }

func add(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, scalar("!!str", key), v)
}

func addStr(m *yaml.Node, key, v string)     { add(m, key, scalar("!!str", v)) }
func addInt(m *yaml.Node, key string, v int) { add(m, key, scalar("!!int", strconv.Itoa(v))) }

// floatNode writes a float so that it reads back as a float ("1.0", not "1").
func floatNode(f float64) *yaml.Node {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEn") {
		s += ".0"
	}
	return scalar("!!float", s)
}

// number writes a float field: integral values as integers, like Ray's.
func number(f float64) *yaml.Node {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return scalar("!!int", strconv.FormatInt(int64(f), 10))
	}
	return scalar("!!float", strconv.FormatFloat(f, 'g', -1, 64))
}

func seconds(d time.Duration) *yaml.Node { return number(d.Seconds()) }

func (m *marshaler) config(c *Config) *yaml.Node {
	root := mapping()
	addStr(root, "proxy_location", string(c.ProxyLocation))
	h := mapping()
	addStr(h, "host", c.HTTPOptions.Host)
	addInt(h, "port", c.HTTPOptions.Port)
	if c.HTTPOptions.RequestTimeout != nil {
		add(h, "request_timeout_s", seconds(*c.HTTPOptions.RequestTimeout))
	}
	add(h, "keep_alive_timeout_s", seconds(c.HTTPOptions.KeepAliveTimeout))
	add(root, "http_options", h)
	if c.LoggingConfig != nil {
		add(root, "logging_config", logging(c.LoggingConfig))
	}
	apps := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for i := range c.Applications {
		apps.Content = append(apps.Content, m.application(&c.Applications[i], index("applications", i)))
	}
	add(root, "applications", apps)
	return root
}

func logging(l *LoggingConfig) *yaml.Node {
	n := mapping()
	if l.Encoding != nil {
		addStr(n, "encoding", *l.Encoding)
	}
	if l.LogLevel != nil {
		addStr(n, "log_level", *l.LogLevel)
	}
	if l.LogsDir != nil {
		addStr(n, "logs_dir", *l.LogsDir)
	}
	if l.EnableAccessLog != nil {
		add(n, "enable_access_log", scalar("!!bool", strconv.FormatBool(*l.EnableAccessLog)))
	}
	if l.AdditionalLogStandardAttrs != nil {
		s := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, a := range l.AdditionalLogStandardAttrs {
			s.Content = append(s.Content, scalar("!!str", a))
		}
		add(n, "additional_log_standard_attrs", s)
	}
	return n
}

func (m *marshaler) application(a *Application, path string) *yaml.Node {
	n := mapping()
	addStr(n, "name", a.Name)
	if a.RoutePrefix == "" {
		add(n, "route_prefix", scalar("!!null", "null"))
	} else {
		addStr(n, "route_prefix", a.RoutePrefix)
	}
	addStr(n, "import_path", a.ImportPath)
	if a.Args != nil {
		add(n, "args", m.freeform(a.Args, field(path, "args")))
	}
	if a.LoggingConfig != nil {
		add(n, "logging_config", logging(a.LoggingConfig))
	}
	if len(a.Deployments) > 0 {
		s := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i := range a.Deployments {
			s.Content = append(s.Content, m.deployment(&a.Deployments[i], index(field(path, "deployments"), i)))
		}
		add(n, "deployments", s)
	}
	return n
}

func (m *marshaler) deployment(d *Deployment, path string) *yaml.Node {
	n := mapping()
	addStr(n, "name", d.Name)
	if r := d.NumReplicas; r != nil {
		if r.Auto {
			addStr(n, "num_replicas", "auto")
		} else {
			addInt(n, "num_replicas", r.Count)
		}
	}
	optInt(n, "max_ongoing_requests", d.MaxOngoingRequests)
	optInt(n, "max_queued_requests", d.MaxQueuedRequests)
	if d.UserConfig != nil {
		add(n, "user_config", m.freeform(d.UserConfig, field(path, "user_config")))
	}
	if a := d.AutoscalingConfig; a != nil {
		add(n, "autoscaling_config", autoscaling(a))
	}
	optDur(n, "graceful_shutdown_wait_loop_s", d.GracefulShutdownWaitLoop)
	optDur(n, "graceful_shutdown_timeout_s", d.GracefulShutdownTimeout)
	optDur(n, "health_check_period_s", d.HealthCheckPeriod)
	optDur(n, "health_check_timeout_s", d.HealthCheckTimeout)
	if o := d.ActorOptions; o != nil {
		a := mapping()
		optFloat(a, "num_cpus", o.NumCPUs)
		optFloat(a, "num_gpus", o.NumGPUs)
		if o.Memory != nil {
			add(a, "memory", scalar("!!int", strconv.FormatInt(*o.Memory, 10)))
		}
		if o.Resources != nil {
			add(a, "resources", resources(o.Resources))
		}
		add(n, "ray_actor_options", a)
	}
	if d.PlacementGroupBundles != nil {
		s := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, b := range d.PlacementGroupBundles {
			s.Content = append(s.Content, resources(b))
		}
		add(n, "placement_group_bundles", s)
	}
	if d.PlacementGroupStrategy != nil {
		addStr(n, "placement_group_strategy", *d.PlacementGroupStrategy)
	}
	if d.LoggingConfig != nil {
		add(n, "logging_config", logging(d.LoggingConfig))
	}
	return n
}

func autoscaling(a *AutoscalingConfig) *yaml.Node {
	n := mapping()
	optInt(n, "min_replicas", a.MinReplicas)
	optInt(n, "max_replicas", a.MaxReplicas)
	optInt(n, "initial_replicas", a.InitialReplicas)
	optFloat(n, "target_ongoing_requests", a.TargetOngoingRequests)
	optDur(n, "metrics_interval_s", a.MetricsInterval)
	optDur(n, "look_back_period_s", a.LookBackPeriod)
	optFloat(n, "smoothing_factor", a.SmoothingFactor)
	optFloat(n, "upscale_smoothing_factor", a.UpscaleSmoothingFactor)
	optFloat(n, "downscale_smoothing_factor", a.DownscaleSmoothingFactor)
	optFloat(n, "upscaling_factor", a.UpscalingFactor)
	optFloat(n, "downscaling_factor", a.DownscalingFactor)
	optDur(n, "upscale_delay_s", a.UpscaleDelay)
	optDur(n, "downscale_delay_s", a.DownscaleDelay)
	optDur(n, "downscale_to_zero_delay_s", a.DownscaleToZeroDelay)
	if a.AggregationFunction != nil {
		addStr(n, "aggregation_function", *a.AggregationFunction)
	}
	return n
}

func resources(r map[string]float64) *yaml.Node {
	n := mapping()
	for _, k := range sortedKeys(r) {
		add(n, k, number(r[k]))
	}
	return n
}

func optInt(n *yaml.Node, key string, p *int) {
	if p != nil {
		addInt(n, key, *p)
	}
}

func optFloat(n *yaml.Node, key string, p *float64) {
	if p != nil {
		add(n, key, number(*p))
	}
}

func optDur(n *yaml.Node, key string, p *time.Duration) {
	if p != nil {
		add(n, key, seconds(*p))
	}
}

// freeform writes a JSON-like Go value, keeping integers and floats
// apart so that they read back as the same Go types.
func (m *marshaler) freeform(v any, path string) *yaml.Node {
	if v == nil {
		return scalar("!!null", "null")
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return scalar("!!null", "null")
		}
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Bool:
		return scalar("!!bool", strconv.FormatBool(rv.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return scalar("!!int", strconv.FormatInt(rv.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if rv.Uint() > math.MaxInt64 {
			break
		}
		return scalar("!!int", strconv.FormatUint(rv.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			break
		}
		return floatNode(f)
	case reflect.String:
		return scalar("!!str", rv.String())
	case reflect.Slice, reflect.Array:
		s := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i := 0; i < rv.Len(); i++ {
			s.Content = append(s.Content, m.freeform(rv.Index(i).Interface(), index(path, i)))
		}
		return s
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			break
		}
		keys := make([]string, 0, rv.Len())
		for _, k := range rv.MapKeys() {
			keys = append(keys, k.String())
		}
		sortStrings(keys)
		n := mapping()
		for _, k := range keys {
			add(n, k, m.freeform(rv.MapIndex(reflect.ValueOf(k).Convert(rv.Type().Key())).Interface(), field(path, k)))
		}
		return n
	}
	if m.err == nil {
		m.err = &FieldError{Path: path, Msg: fmt.Sprintf("cannot write a value of type %T", v)}
	}
	return scalar("!!null", "null")
}
