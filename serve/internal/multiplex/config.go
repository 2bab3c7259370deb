package multiplex

import (
	"context"
	"fmt"
	"time"
)

// DefaultMaxModels is Ray's default max_num_models_per_replica.
const DefaultMaxModels = 3

// NoLimit as Config.MaxModels keeps every model loaded (Ray's -1).
const NoLimit = -1

// Config configures a Cache. The zero value is valid.
type Config[M any] struct {
	// MaxModels is how many models a replica keeps (Ray's
	// max_num_models_per_replica): 0 means DefaultMaxModels, NoLimit (-1)
	// means no limit. Models loading count against it.
	MaxModels int

	// Unload, if set, releases a model's resources when it is evicted or at
	// Close (Ray calls the model's __del__). It runs once per model, outside
	// the cache's lock, before the same ID can be loaded again, on a context
	// that is never cancelled (an unload half done helps nobody). Its error
	// is reported in EventEvict; the model is gone either way. It runs in
	// the goroutine of the load that evicted the model, of the call that
	// brought the cache back within MaxModels (a release, a Get taking its
	// model), or of Close.
	Unload func(ctx context.Context, id string, m M) error

	// OnEvent, if set, is told of hits, misses, loads, load errors,
	// evictions and overflows (the metrics hook). It is called outside the
	// cache's lock, on the hit path too, so it must be fast; it must not
	// panic.
	OnEvent func(Event)

	// Now is the clock for load and unload durations; nil means time.Now.
	Now func() time.Time
}

// resolve validates cfg and fills its defaults.
func (cfg Config[M]) resolve() (Config[M], error) {
	switch {
	case cfg.MaxModels == 0:
		cfg.MaxModels = DefaultMaxModels
	case cfg.MaxModels < NoLimit:
		return cfg, fmt.Errorf("%w: MaxModels is %d: want a positive number, 0 for the default (%d) or %d for no limit",
			ErrInvalidConfig, cfg.MaxModels, DefaultMaxModels, NoLimit)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg, nil
}
