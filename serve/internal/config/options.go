package config

import "go.yaml.in/yaml/v3"

// A deployment's nested options: autoscaling_config, ray_actor_options and
// placement_group_bundles.

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
				case v >= 1<<63 || v != float64(int64(v)):
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
