package autoscale

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestWithDefaults(t *testing.T) {
	c := Config{MaxReplicas: 4}.WithDefaults()
	if c.TargetOngoingRequests != 2 || c.MetricsInterval != 10*time.Second ||
		c.LookBackPeriod != 30*time.Second || c.SmoothingFactor != 1 ||
		c.Aggregation != AggregationMean {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if *c.UpscaleDelay != 30*time.Second || *c.DownscaleDelay != 600*time.Second {
		t.Fatalf("delay defaults: up %v down %v", *c.UpscaleDelay, *c.DownscaleDelay)
	}
	if c.DownscaleToZeroDelay != nil || c.downscaleToZeroDelay() != 600*time.Second {
		t.Fatalf("DownscaleToZeroDelay must default to DownscaleDelay")
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaulted config invalid: %v", err)
	}
	// An explicit zero delay survives: it means "at once".
	c = Config{MaxReplicas: 1, UpscaleDelay: new(time.Duration(0))}.WithDefaults()
	if *c.UpscaleDelay != 0 {
		t.Fatalf("explicit zero UpscaleDelay overwritten: %v", *c.UpscaleDelay)
	}
}

func TestFactorPrecedence(t *testing.T) {
	tests := []struct {
		name     string
		c        Config
		up, down float64
	}{
		{"defaults", Config{}, 1, 1},
		{"smoothing", Config{SmoothingFactor: 0.5}, 0.5, 0.5},
		{"directional smoothing", Config{SmoothingFactor: 0.5, UpscaleSmoothingFactor: new(2.0), DownscaleSmoothingFactor: new(0.25)}, 2, 0.25},
		{"scaling factors win", Config{SmoothingFactor: 0.5, UpscaleSmoothingFactor: new(2.0), UpscalingFactor: new(3.0), DownscalingFactor: new(0.1)}, 3, 0.1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.UpscaleFactor(); got != tt.up {
				t.Errorf("UpscaleFactor = %v, want %v", got, tt.up)
			}
			if got := tt.c.DownscaleFactor(); got != tt.down {
				t.Errorf("DownscaleFactor = %v, want %v", got, tt.down)
			}
		})
	}
}

func TestStartReplicas(t *testing.T) {
	if n := (Config{MinReplicas: 2, MaxReplicas: 5}).StartReplicas(); n != 2 {
		t.Errorf("no initial: %d, want min 2", n)
	}
	if n := (Config{MinReplicas: 0, MaxReplicas: 5, InitialReplicas: new(3)}).StartReplicas(); n != 3 {
		t.Errorf("initial 3: got %d", n)
	}
}

func TestValidateBadConfigs(t *testing.T) {
	ok := func() Config { return Config{MinReplicas: 1, MaxReplicas: 4}.WithDefaults() }
	tests := []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"negative min", func(c *Config) { c.MinReplicas = -1 }, "MinReplicas"},
		{"zero max", func(c *Config) { c.MinReplicas, c.MaxReplicas = 0, 0 }, "MaxReplicas"},
		{"min above max", func(c *Config) { c.MinReplicas = 5 }, "MaxReplicas"},
		{"initial below min", func(c *Config) { c.InitialReplicas = new(0) }, "InitialReplicas"},
		{"initial above max", func(c *Config) { c.InitialReplicas = new(9) }, "InitialReplicas"},
		{"zero target", func(c *Config) { c.TargetOngoingRequests = 0 }, "TargetOngoingRequests"},
		{"negative target", func(c *Config) { c.TargetOngoingRequests = -2 }, "TargetOngoingRequests"},
		{"NaN target", func(c *Config) { c.TargetOngoingRequests = math.NaN() }, "TargetOngoingRequests"},
		{"infinite target", func(c *Config) { c.TargetOngoingRequests = math.Inf(1) }, "TargetOngoingRequests"},
		{"zero metrics interval", func(c *Config) { c.MetricsInterval = 0 }, "MetricsInterval"},
		{"negative look-back", func(c *Config) { c.LookBackPeriod = -time.Second }, "LookBackPeriod"},
		{"unknown aggregation", func(c *Config) { c.Aggregation = "median" }, "Aggregation"},
		{"negative smoothing", func(c *Config) { c.SmoothingFactor = -1 }, "SmoothingFactor"},
		{"zero upscale smoothing", func(c *Config) { c.UpscaleSmoothingFactor = new(0.0) }, "UpscaleSmoothingFactor"},
		{"negative downscale smoothing", func(c *Config) { c.DownscaleSmoothingFactor = new(-0.5) }, "DownscaleSmoothingFactor"},
		{"zero upscaling factor", func(c *Config) { c.UpscalingFactor = new(0.0) }, "UpscalingFactor"},
		{"NaN downscaling factor", func(c *Config) { c.DownscalingFactor = new(math.NaN()) }, "DownscalingFactor"},
		{"negative upscale delay", func(c *Config) { c.UpscaleDelay = new(-time.Second) }, "UpscaleDelay"},
		{"negative downscale delay", func(c *Config) { c.DownscaleDelay = new(-time.Second) }, "DownscaleDelay"},
		{"negative to-zero delay", func(c *Config) { c.DownscaleToZeroDelay = new(-time.Second) }, "DownscaleToZeroDelay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok()
			tt.edit(&c)
			err := c.Validate()
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate = %v, want ErrInvalidConfig", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("Validate = %v, want a FieldError for %s", err, tt.field)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("message %q does not name %s", err, tt.field)
			}
			if c.WithDefaults().Validate() == nil {
				return // a zero WithDefaults fills: NewPolicy takes the default
			}
			if _, err := NewPolicy(c); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("NewPolicy accepted a bad config: %v", err)
			}
		})
	}
}

func TestValidateReportsEveryField(t *testing.T) {
	c := Config{MinReplicas: -1, MaxReplicas: 0, TargetOngoingRequests: -1}.WithDefaults()
	err := c.Validate()
	for _, f := range []string{"MinReplicas", "MaxReplicas", "TargetOngoingRequests", "min_replicas", "max_replicas"} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not mention %s", err, f)
		}
	}
}
