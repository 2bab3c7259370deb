package train

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rayo-dev/rayo"
)

// ScalingConfig says how many workers train and what each holds (Ray's
// ScalingConfig).
type ScalingConfig struct {
	// NumWorkers is the size of the group.
	NumWorkers int
	// UseGPU gives each worker one GPU (unless ResourcesPerWorker says
	// how many); CUDA_VISIBLE_DEVICES lists exactly the worker's GPUs.
	UseGPU bool
	// ResourcesPerWorker is each worker's bundle; default (nil or empty)
	// {"CPU": 1}, plus {"GPU": 1} with UseGPU.
	ResourcesPerWorker map[string]float64
	// PlacementStrategy places the group's bundles; the zero value is
	// PACK.
	PlacementStrategy rayo.PlacementStrategy
	// MinWorkers makes the group elastic: a (re)start with fewer nodes
	// than NumWorkers need runs with as many workers as fit, down to
	// MinWorkers. 0 means NumWorkers (not elastic).
	MinWorkers int
	// PlacementTimeout bounds the wait for the cluster to reserve a group
	// it could hold (default 2 minutes); past it a smaller group is tried
	// (down to MinWorkers), then ErrPlacementTimeout.
	PlacementTimeout time.Duration
}

// DefaultPlacementTimeout is ScalingConfig.PlacementTimeout's default.
const DefaultPlacementTimeout = 2 * time.Minute

func (s ScalingConfig) withDefaults() ScalingConfig {
	if s.MinWorkers == 0 {
		s.MinWorkers = s.NumWorkers
	}
	if s.PlacementTimeout == 0 {
		s.PlacementTimeout = DefaultPlacementTimeout
	}
	return s
}

// bundle is one worker's resources.
func (s ScalingConfig) bundle() map[string]float64 {
	b := maps.Clone(s.ResourcesPerWorker)
	if len(b) == 0 {
		b = map[string]float64{"CPU": 1}
	}
	if s.UseGPU {
		if _, ok := b["GPU"]; !ok {
			b["GPU"] = 1
		}
	}
	return b
}

func (s ScalingConfig) validate() error {
	switch {
	case s.NumWorkers < 1:
		return errorf(ErrInvalidConfig, "ScalingConfig.NumWorkers is %d; it must be 1 or more", s.NumWorkers)
	case s.MinWorkers < 0 || s.MinWorkers > s.NumWorkers:
		return errorf(ErrInvalidConfig, "ScalingConfig.MinWorkers is %d; it must be between 0 and NumWorkers (%d)", s.MinWorkers, s.NumWorkers)
	case s.PlacementTimeout < 0:
		return errorf(ErrInvalidConfig, "ScalingConfig.PlacementTimeout is negative")
	case s.PlacementStrategy < rayo.PACK || s.PlacementStrategy > rayo.STRICT_SPREAD:
		return errorf(ErrInvalidConfig, "ScalingConfig.PlacementStrategy %d is not one of PACK, SPREAD, STRICT_PACK, STRICT_SPREAD", s.PlacementStrategy)
	}
	empty := true
	for k, v := range s.bundle() {
		if v < 0 {
			return errorf(ErrInvalidConfig, "ScalingConfig.ResourcesPerWorker[%q] is negative", k)
		}
		if v > 0 {
			empty = false
		}
	}
	if empty {
		return errorf(ErrInvalidConfig, "ScalingConfig.ResourcesPerWorker asks for nothing; a worker needs some resource to be placed")
	}
	return nil
}

// RunConfig names the run and says where its results and checkpoints go
// (Ray's RunConfig).
type RunConfig struct {
	// Name is the run's directory under StoragePath; default
	// "train_<date>_<time>_<random>". A Fit with the Name of an earlier
	// run continues its directory: result.json grows, and its
	// checkpoints count towards NumToKeep.
	Name string
	// StoragePath is a directory on the driver's machine (default
	// ~/rayo_results). Checkpoints made on other nodes travel to it
	// through the object store; no shared filesystem is assumed.
	StoragePath string
	// SharedStorage says StoragePath is mounted at the same path on every
	// node (NFS...): workers then write their checkpoint files there
	// directly instead of sending them through the object store.
	SharedStorage bool
	Failure       FailureConfig
	Checkpoint    CheckpointConfig
}

// FailureConfig says how often a group is restarted (Ray's
// FailureConfig).
type FailureConfig struct {
	// MaxFailures is how many times the group restarts from the latest
	// checkpoint after a worker is lost or hangs; 0 never, -1 without
	// limit. A training function's own error is not retried.
	MaxFailures int
	// CollectiveTimeout bounds how long a rank waits in a collective for
	// the others (PyTorch's init_process_group timeout when the script
	// gives none; use it with collective.WithOpTimeout in Go); a rank
	// that makes the others wait longer is reported as hung. 0: each
	// library's default.
	CollectiveTimeout time.Duration
}

// Order is how a checkpoint's score ranks it.
type Order string

const (
	// Max keeps the checkpoints with the highest scores (the default).
	Max Order = "max"
	// Min keeps the lowest.
	Min Order = "min"
)

// CheckpointConfig says which checkpoints to keep (Ray's
// CheckpointConfig).
type CheckpointConfig struct {
	// NumToKeep keeps the best NumToKeep checkpoints (0 keeps all); the
	// latest is always kept too, since a restart needs it.
	NumToKeep int
	// ScoreAttribute is the reported metric that ranks checkpoints;
	// "" ranks them by recency.
	ScoreAttribute string
	// Order is Max (default) or Min.
	Order Order
}

func (r RunConfig) validate() error {
	if r.Name != "" && (strings.ContainsAny(r.Name, `/\`) || r.Name == "." || r.Name == ".." || strings.HasPrefix(r.Name, ".")) {
		return errorf(ErrInvalidConfig, "RunConfig.Name %q must be a plain directory name", r.Name)
	}
	if r.Failure.MaxFailures < -1 {
		return errorf(ErrInvalidConfig, "FailureConfig.MaxFailures is %d; use -1 for no limit", r.Failure.MaxFailures)
	}
	if r.Failure.CollectiveTimeout < 0 {
		return errorf(ErrInvalidConfig, "FailureConfig.CollectiveTimeout is negative")
	}
	if r.Checkpoint.NumToKeep < 0 {
		return errorf(ErrInvalidConfig, "CheckpointConfig.NumToKeep is %d", r.Checkpoint.NumToKeep)
	}
	if o := r.Checkpoint.Order; o != "" && o != Max && o != Min {
		return errorf(ErrInvalidConfig, "CheckpointConfig.Order %q is neither max nor min", o)
	}
	return nil
}

// withDefaults fills Name and StoragePath; now names an unnamed run.
func (r RunConfig) withDefaults(now time.Time) (RunConfig, error) {
	if r.Name == "" {
		r.Name = "train_" + now.Format("2006-01-02_15-04-05") + "_" + newRunID()[len("train-"):][:4]
	}
	if r.StoragePath == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return r, errorf(ErrStorage, "no RunConfig.StoragePath and no home directory: %v", err)
		}
		r.StoragePath = filepath.Join(home, "rayo_results")
	}
	abs, err := filepath.Abs(r.StoragePath)
	if err != nil {
		return r, errorf(ErrStorage, "RunConfig.StoragePath %q: %v", r.StoragePath, err)
	}
	r.StoragePath = abs
	if r.Checkpoint.Order == "" {
		r.Checkpoint.Order = Max
	}
	return r, nil
}
