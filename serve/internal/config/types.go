package config

import "time"

// Config is a parsed `rayo serve deploy` file: Ray Serve's ServeDeploySchema
// where it fits Go. System-level fields (ProxyLocation, HTTPOptions) and
// application fields (Name, RoutePrefix) carry their defaults once parsed;
// deployment overrides keep nil for "not set", so that only the options a
// file names override those the application's code chose.
type Config struct {
	// ProxyLocation says where HTTP proxies run (default EveryNode).
	ProxyLocation ProxyLocation
	// HTTPOptions configures every proxy.
	HTTPOptions HTTPOptions
	// LoggingConfig is validated and kept, but not applied (see doc.go).
	LoggingConfig *LoggingConfig
	// Applications run side by side; an empty list means none.
	Applications []Application

	// Warnings lists what Parse accepted but ignored or found deprecated.
	// It is not part of the config: Marshal does not write it.
	Warnings []string
}

// ProxyLocation is Ray Serve's proxy_location.
type ProxyLocation string

// The proxy locations. Ray's alias "NoServer" parses as Disabled.
const (
	// EveryNode runs a proxy on every node (the default).
	EveryNode ProxyLocation = "EveryNode"
	// HeadOnly runs one proxy, on the head node.
	HeadOnly ProxyLocation = "HeadOnly"
	// Disabled runs no proxy: applications are reached through handles only.
	Disabled ProxyLocation = "Disabled"
)

// HTTPOptions is Ray Serve's http_options (HTTPOptionsSchema).
type HTTPOptions struct {
	// Host the proxies listen on (default 127.0.0.1: loopback unless told).
	Host string
	// Port the proxies listen on (default 8000; 0 picks a free port).
	Port int
	// RequestTimeout ends a request that takes longer; nil means no timeout.
	RequestTimeout *time.Duration
	// KeepAliveTimeout closes idle client connections (default 90 s).
	KeepAliveTimeout time.Duration
}

// Application is one entry of applications (ServeApplicationSchema).
type Application struct {
	// Name is unique among applications; "default" when a config has one
	// application and names none.
	Name string
	// RoutePrefix is the HTTP path prefix the application serves (default
	// "/"); "" means a route_prefix of null: no HTTP route, handles only.
	RoutePrefix string
	// ImportPath names an application builder registered in the binary
	// (Go cannot import code by path), e.g. "app:build".
	ImportPath string
	// Args is passed to the builder as is (free-form; nil when absent).
	Args map[string]any
	// Deployments override the options the builder's code gives, by name.
	Deployments []Deployment
	// LoggingConfig is validated and kept, but not applied.
	LoggingConfig *LoggingConfig
}

// Deployment overrides one deployment's options (DeploymentSchema). A nil
// field leaves the code's value.
type Deployment struct {
	// Name is the deployment's name in the application's code.
	Name string
	// NumReplicas is a fixed count or "auto".
	NumReplicas *NumReplicas
	// MaxOngoingRequests bounds the requests one replica runs at once (≥ 1).
	MaxOngoingRequests *int
	// MaxQueuedRequests bounds the requests waiting for a replica; -1 is
	// unlimited, 0 refuses (503) as soon as every replica is full.
	MaxQueuedRequests *int
	// UserConfig is delivered to the deployment's Reconfigure method
	// (free-form: map[string]any, []any, string, int64, float64, bool).
	UserConfig any
	// AutoscalingConfig makes the replica count follow traffic.
	AutoscalingConfig *AutoscalingConfig
	// GracefulShutdownWaitLoop is how often a draining replica checks
	// whether its requests are done.
	GracefulShutdownWaitLoop *time.Duration
	// GracefulShutdownTimeout is how long a draining replica may take
	// before it is killed.
	GracefulShutdownTimeout *time.Duration
	// HealthCheckPeriod is the time between health checks (> 0).
	HealthCheckPeriod *time.Duration
	// HealthCheckTimeout is how long a health check may take (> 0).
	HealthCheckTimeout *time.Duration
	// ActorOptions are each replica's resources (ray_actor_options).
	ActorOptions *ActorOptions
	// PlacementGroupBundles is the bundle set reserved for each replica;
	// the replica runs in the first bundle.
	PlacementGroupBundles []map[string]float64
	// PlacementGroupStrategy is PACK, SPREAD, STRICT_PACK or STRICT_SPREAD.
	PlacementGroupStrategy *string
	// LoggingConfig is validated and kept, but not applied.
	LoggingConfig *LoggingConfig
}

// NumReplicas is num_replicas: a count, or "auto" (Auto true, Count 0) for
// Ray's default autoscaling.
type NumReplicas struct {
	Auto  bool
	Count int
}

// AutoscalingConfig is Ray Serve's autoscaling_config. A nil field takes
// Ray's default; Effective fills them in.
type AutoscalingConfig struct {
	// MinReplicas is the fewest replicas kept (≥ 0; 0 allows scale to zero).
	MinReplicas *int
	// MaxReplicas is the most replicas started (≥ 1, ≥ MinReplicas).
	MaxReplicas *int
	// InitialReplicas is the count at first deploy (default MinReplicas).
	InitialReplicas *int
	// TargetOngoingRequests is the load per replica aimed at (> 0).
	TargetOngoingRequests *float64
	// MetricsInterval is how often load is reported (deprecated in Ray).
	MetricsInterval *time.Duration
	// LookBackPeriod is the window load is averaged over.
	LookBackPeriod *time.Duration
	// SmoothingFactor scales every decision (deprecated in Ray Serve).
	SmoothingFactor *float64
	// UpscaleSmoothingFactor: use UpscalingFactor (deprecated in Ray Serve).
	UpscaleSmoothingFactor *float64
	// DownscaleSmoothingFactor: use DownscalingFactor (deprecated in Ray Serve).
	DownscaleSmoothingFactor *float64
	// UpscalingFactor scales each step up (> 0).
	UpscalingFactor *float64
	// DownscalingFactor scales each step down (> 0).
	DownscalingFactor *float64
	// UpscaleDelay is how long load must stay high before scaling up.
	UpscaleDelay *time.Duration
	// DownscaleDelay is how long load must stay low before scaling down.
	DownscaleDelay *time.Duration
	// DownscaleToZeroDelay replaces DownscaleDelay for the step from 1 to 0.
	DownscaleToZeroDelay *time.Duration
	// AggregationFunction is how metrics over the look-back period are
	// combined: "mean" (default), "max" or "min".
	AggregationFunction *string
}

// ActorOptions are a replica's resources (ray_actor_options).
type ActorOptions struct {
	// NumCPUs and NumGPUs may be fractions (≥ 0).
	NumCPUs *float64
	NumGPUs *float64
	// Memory is in bytes.
	Memory *int64
	// Resources are custom resources, such as {"special": 1}.
	Resources map[string]float64
}

// LoggingConfig is Ray Serve's logging_config.
type LoggingConfig struct {
	// Encoding is "TEXT" or "JSON".
	Encoding *string
	// LogLevel is a level name (DEBUG, INFO, WARNING, ERROR, CRITICAL, ...).
	LogLevel *string
	// LogsDir is where logs go (Ray's default when nil).
	LogsDir *string
	// EnableAccessLog logs each request.
	EnableAccessLog *bool
	// AdditionalLogStandardAttrs names Python log record attributes to add.
	AdditionalLogStandardAttrs []string
}

// Ray Serve's defaults, as rayo applies them.
const (
	DefaultAppName          = "default"
	DefaultRoutePrefix      = "/"
	DefaultHTTPHost         = "127.0.0.1"
	DefaultHTTPPort         = 8000
	DefaultKeepAliveTimeout = 90 * time.Second

	DefaultMaxOngoingRequests       = 5
	DefaultMaxQueuedRequests        = -1
	DefaultGracefulShutdownWaitLoop = 2 * time.Second
	DefaultGracefulShutdownTimeout  = 20 * time.Second
	DefaultHealthCheckPeriod        = 10 * time.Second
	DefaultHealthCheckTimeout       = 30 * time.Second
	DefaultPlacementGroupStrategy   = "PACK"

	DefaultMinReplicas           = 1
	DefaultMaxReplicas           = 1
	DefaultAutoMaxReplicas       = 100 // num_replicas: "auto"
	DefaultTargetOngoingRequests = 2.0
	DefaultMetricsInterval       = 10 * time.Second
	DefaultLookBackPeriod        = 30 * time.Second
	DefaultSmoothingFactor       = 1.0
	DefaultUpscaleDelay          = 30 * time.Second
	DefaultDownscaleDelay        = 600 * time.Second
	DefaultAggregationFunction   = "mean"
)
