package autoscale

import "time"

// Ray Serve's defaults for AutoscalingConfig.
const (
	DefaultTargetOngoingRequests = 2.0
	DefaultMetricsInterval       = 10 * time.Second
	DefaultLookBackPeriod        = 30 * time.Second
	DefaultSmoothingFactor       = 1.0
	DefaultUpscaleDelay          = 30 * time.Second
	DefaultDownscaleDelay        = 600 * time.Second
)

// Aggregation names how a source's reports are reduced over the look-back
// period (Ray's aggregation_function).
type Aggregation string

// The aggregations Ray offers; the zero value means AggregationMean.
const (
	AggregationMean Aggregation = "mean" // time-weighted mean
	AggregationMax  Aggregation = "max"
	AggregationMin  Aggregation = "min"
)

// Config is a deployment's autoscaling config: Ray Serve's
// AutoscalingConfig with Go names and types. A zero field means Ray's
// default (see WithDefaults) except MinReplicas and MaxReplicas. Optional
// fields are pointers; Go 1.26's new(expr) builds them, e.g.
// UpscaleDelay: new(5 * time.Second).
type Config struct {
	// MinReplicas is the fewest replicas (min_replicas); 0 allows scale to zero.
	MinReplicas int
	// MaxReplicas is the most replicas (max_replicas); at least 1.
	MaxReplicas int
	// InitialReplicas is the count on first deploy (initial_replicas);
	// nil means MinReplicas.
	InitialReplicas *int

	// TargetOngoingRequests is the number of ongoing (running plus queued)
	// requests each replica should have (target_ongoing_requests, default 2).
	TargetOngoingRequests float64

	// MetricsInterval is how often replicas and handles report
	// (metrics_interval_s, default 10 s). A handle silent for twice this
	// (at least 10 s) is forgotten.
	MetricsInterval time.Duration
	// LookBackPeriod is the window load is averaged over
	// (look_back_period_s, default 30 s).
	LookBackPeriod time.Duration
	// Aggregation reduces each source over the window
	// (aggregation_function, default mean).
	Aggregation Aggregation

	// SmoothingFactor is Ray's deprecated gain for both directions
	// (smoothing_factor, default 1).
	SmoothingFactor float64
	// UpscaleSmoothingFactor is Ray's deprecated upscale gain
	// (upscale_smoothing_factor); overrides SmoothingFactor when set.
	UpscaleSmoothingFactor *float64
	// DownscaleSmoothingFactor is Ray's deprecated downscale gain
	// (downscale_smoothing_factor); overrides SmoothingFactor when set.
	DownscaleSmoothingFactor *float64
	// UpscalingFactor multiplies each upscale step (upscaling_factor);
	// overrides both smoothing factors when set.
	UpscalingFactor *float64
	// DownscalingFactor multiplies each downscale step (downscaling_factor);
	// overrides both smoothing factors when set.
	DownscalingFactor *float64

	// UpscaleDelay is how long an upscale must be wanted before it is
	// applied (upscale_delay_s, default 30 s; zero scales up at once).
	UpscaleDelay *time.Duration
	// DownscaleDelay is how long a downscale must be wanted before it is
	// applied (downscale_delay_s, default 600 s).
	DownscaleDelay *time.Duration
	// DownscaleToZeroDelay replaces DownscaleDelay for the step from one
	// replica to zero (downscale_to_zero_delay_s); nil means DownscaleDelay.
	DownscaleToZeroDelay *time.Duration
}

// WithDefaults returns a copy of c with every unset field given Ray's
// default. It does not validate; Validate does.
func (c Config) WithDefaults() Config {
	if c.TargetOngoingRequests == 0 {
		c.TargetOngoingRequests = DefaultTargetOngoingRequests
	}
	if c.MetricsInterval == 0 {
		c.MetricsInterval = DefaultMetricsInterval
	}
	if c.LookBackPeriod == 0 {
		c.LookBackPeriod = DefaultLookBackPeriod
	}
	if c.Aggregation == "" {
		c.Aggregation = AggregationMean
	}
	if c.SmoothingFactor == 0 {
		c.SmoothingFactor = DefaultSmoothingFactor
	}
	if c.UpscaleDelay == nil {
		c.UpscaleDelay = new(DefaultUpscaleDelay)
	}
	if c.DownscaleDelay == nil {
		c.DownscaleDelay = new(DefaultDownscaleDelay)
	}
	return c
}

// UpscaleFactor is the gain applied to upscale steps: UpscalingFactor, else
// UpscaleSmoothingFactor, else SmoothingFactor (Ray's precedence).
func (c Config) UpscaleFactor() float64 {
	return pick(c.UpscalingFactor, c.UpscaleSmoothingFactor, c.SmoothingFactor)
}

// DownscaleFactor is the gain applied to downscale steps: DownscalingFactor,
// else DownscaleSmoothingFactor, else SmoothingFactor.
func (c Config) DownscaleFactor() float64 {
	return pick(c.DownscalingFactor, c.DownscaleSmoothingFactor, c.SmoothingFactor)
}

func pick(first, second *float64, fallback float64) float64 {
	if first != nil {
		return *first
	}
	if second != nil {
		return *second
	}
	if fallback == 0 {
		return DefaultSmoothingFactor
	}
	return fallback
}

// StartReplicas is the replica count a new deployment starts with:
// InitialReplicas if set, else MinReplicas, within [MinReplicas,
// MaxReplicas].
func (c Config) StartReplicas() int {
	n := c.MinReplicas
	if c.InitialReplicas != nil {
		n = *c.InitialReplicas
	}
	return c.Clamp(n)
}

// Clamp bounds n to [MinReplicas, MaxReplicas].
func (c Config) Clamp(n int) int {
	return max(c.MinReplicas, min(c.MaxReplicas, n))
}

// upscaleDelay and the two below read the delays with defaults applied, so
// a Policy built from a config that skipped WithDefaults still behaves.
func (c Config) upscaleDelay() time.Duration {
	return durOr(c.UpscaleDelay, DefaultUpscaleDelay)
}

func (c Config) downscaleDelay() time.Duration {
	return durOr(c.DownscaleDelay, DefaultDownscaleDelay)
}

func (c Config) downscaleToZeroDelay() time.Duration {
	return durOr(c.DownscaleToZeroDelay, c.downscaleDelay())
}

func durOr(d *time.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return *d
}
