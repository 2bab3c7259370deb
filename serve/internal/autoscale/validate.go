package autoscale

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("invalid autoscaling config")

// FieldError is one invalid field: its Go name, Ray's config-file key, and
// what is wrong. It wraps ErrInvalidConfig.
type FieldError struct {
	Field  string // Go field name, e.g. "MaxReplicas"
	RayKey string // Ray's autoscaling_config key, e.g. "max_replicas"
	Msg    string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%v: %s (%s) %s", ErrInvalidConfig, e.Field, e.RayKey, e.Msg)
}

// Unwrap lets errors.Is(err, ErrInvalidConfig) hold.
func (e *FieldError) Unwrap() error { return ErrInvalidConfig }

// Validate reports every invalid field of c, joined; nil if c is valid.
// Call it on c.WithDefaults(): zero values that WithDefaults would fill are
// errors here.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, key, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, RayKey: key, Msg: fmt.Sprintf(format, args...)})
	}

	if c.MinReplicas < 0 {
		bad("MinReplicas", "min_replicas", "is %d; must be at least 0", c.MinReplicas)
	}
	if c.MaxReplicas < 1 {
		bad("MaxReplicas", "max_replicas", "is %d; must be at least 1", c.MaxReplicas)
	}
	if c.MinReplicas > c.MaxReplicas && c.MaxReplicas >= 1 {
		bad("MaxReplicas", "max_replicas", "is %d; must be at least MinReplicas (%d)", c.MaxReplicas, c.MinReplicas)
	}
	if c.InitialReplicas != nil {
		n := *c.InitialReplicas
		if n < c.MinReplicas || n > c.MaxReplicas {
			bad("InitialReplicas", "initial_replicas", "is %d; must be within [MinReplicas, MaxReplicas] = [%d, %d]", n, c.MinReplicas, c.MaxReplicas)
		}
	}
	if !positive(c.TargetOngoingRequests) {
		bad("TargetOngoingRequests", "target_ongoing_requests", "is %v; must be a positive number", c.TargetOngoingRequests)
	}
	if c.MetricsInterval <= 0 {
		bad("MetricsInterval", "metrics_interval_s", "is %v; must be positive", c.MetricsInterval)
	}
	if c.LookBackPeriod <= 0 {
		bad("LookBackPeriod", "look_back_period_s", "is %v; must be positive", c.LookBackPeriod)
	}
	switch c.Aggregation {
	case AggregationMean, AggregationMax, AggregationMin:
	default:
		bad("Aggregation", "aggregation_function", "is %q; must be one of mean, max, min", string(c.Aggregation))
	}
	if !positive(c.SmoothingFactor) {
		bad("SmoothingFactor", "smoothing_factor", "is %v; must be a positive number", c.SmoothingFactor)
	}
	for _, f := range []struct {
		field, key string
		v          *float64
	}{
		{"UpscaleSmoothingFactor", "upscale_smoothing_factor", c.UpscaleSmoothingFactor},
		{"DownscaleSmoothingFactor", "downscale_smoothing_factor", c.DownscaleSmoothingFactor},
		{"UpscalingFactor", "upscaling_factor", c.UpscalingFactor},
		{"DownscalingFactor", "downscaling_factor", c.DownscalingFactor},
	} {
		if f.v != nil && !positive(*f.v) {
			bad(f.field, f.key, "is %v; must be a positive number", *f.v)
		}
	}
	for _, d := range []struct {
		field, key string
		v          *time.Duration
	}{
		{"UpscaleDelay", "upscale_delay_s", c.UpscaleDelay},
		{"DownscaleDelay", "downscale_delay_s", c.DownscaleDelay},
		{"DownscaleToZeroDelay", "downscale_to_zero_delay_s", c.DownscaleToZeroDelay},
	} {
		if d.v != nil && *d.v < 0 {
			bad(d.field, d.key, "is %v; must not be negative", *d.v)
		}
	}
	return errors.Join(errs...)
}

// positive is false for NaN and infinities too: neither is a usable gain
// or target.
func positive(f float64) bool {
	return f > 0 && !math.IsInf(f, 0)
}
