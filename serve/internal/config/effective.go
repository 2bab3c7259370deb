package config

import (
	"sort"
	"time"
)

// Effective returns a copy with every unset field given Ray Serve's
// default. auto is whether num_replicas is "auto", which raises the
// default max_replicas to DefaultAutoMaxReplicas. The factors fall back as
// in Ray: upscaling_factor to upscale_smoothing_factor to smoothing_factor
// (likewise downscaling), downscale_to_zero_delay_s to downscale_delay_s,
// initial_replicas to min_replicas.
func (a *AutoscalingConfig) Effective(auto bool) AutoscalingConfig {
	var e AutoscalingConfig
	if a != nil {
		e = *a
	}
	maxDefault := DefaultMaxReplicas
	if auto {
		maxDefault = DefaultAutoMaxReplicas
	}
	e.MinReplicas = orInt(e.MinReplicas, DefaultMinReplicas)
	e.MaxReplicas = orInt(e.MaxReplicas, maxDefault)
	e.InitialReplicas = orInt(e.InitialReplicas, *e.MinReplicas)
	e.TargetOngoingRequests = orFloat(e.TargetOngoingRequests, DefaultTargetOngoingRequests)
	e.MetricsInterval = orDur(e.MetricsInterval, DefaultMetricsInterval)
	e.LookBackPeriod = orDur(e.LookBackPeriod, DefaultLookBackPeriod)
	e.SmoothingFactor = orFloat(e.SmoothingFactor, DefaultSmoothingFactor)
	e.UpscaleSmoothingFactor = orFloat(e.UpscaleSmoothingFactor, *e.SmoothingFactor)
	e.DownscaleSmoothingFactor = orFloat(e.DownscaleSmoothingFactor, *e.SmoothingFactor)
	e.UpscalingFactor = orFloat(e.UpscalingFactor, *e.UpscaleSmoothingFactor)
	e.DownscalingFactor = orFloat(e.DownscalingFactor, *e.DownscaleSmoothingFactor)
	e.UpscaleDelay = orDur(e.UpscaleDelay, DefaultUpscaleDelay)
	e.DownscaleDelay = orDur(e.DownscaleDelay, DefaultDownscaleDelay)
	e.DownscaleToZeroDelay = orDur(e.DownscaleToZeroDelay, *e.DownscaleDelay)
	agg := DefaultAggregationFunction
	if e.AggregationFunction != nil {
		agg = *e.AggregationFunction
	}
	e.AggregationFunction = &agg
	return e
}

func orInt(p *int, def int) *int {
	v := def
	if p != nil {
		v = *p
	}
	return &v
}

func orFloat(p *float64, def float64) *float64 {
	v := def
	if p != nil {
		v = *p
	}
	return &v
}

func orDur(p *time.Duration, def time.Duration) *time.Duration {
	v := def
	if p != nil {
		v = *p
	}
	return &v
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortStrings(s []string) { sort.Strings(s) }
