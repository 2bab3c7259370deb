package tune

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// TuneConfig says what to optimise and how to search (Ray's TuneConfig).
type TuneConfig struct {
	// Metric and Mode are the metric optimised and its direction; needed
	// by searchers and schedulers other than random search and FIFO, and
	// used by ResultGrid.Best when given no other.
	Metric string
	Mode   Mode
	// NumSamples is how many trials to run: random search makes this many
	// variants of each grid point; other searchers suggest this many in
	// all. Default 1.
	NumSamples int
	// MaxConcurrentTrials caps the trials running at once; 0 runs as many
	// as the cluster's resources hold.
	MaxConcurrentTrials int
	// SearchAlg suggests configurations; default BasicVariantGenerator.
	SearchAlg Searcher
	// Scheduler stops, pauses and exploits trials; default FIFO.
	Scheduler Scheduler
	// TimeBudget ends the experiment after this long (Ray's
	// time_budget_s): running trials are stopped, no new ones start.
	TimeBudget time.Duration
	// ReuseActors runs trial after trial in the same actors when their
	// resources match (Ray's reuse_actors): no process start per trial.
	ReuseActors bool
	// Seed seeds the searcher and the resolution of a configuration.
	Seed int64
}

// RunConfig says where results go and when trials stop (Ray's RunConfig).
type RunConfig struct {
	// Name is the experiment's directory under StoragePath; default
	// "tune_<date>_<time>".
	Name string
	// StoragePath is a directory on the driver's machine (default
	// ~/rayo_results). Checkpoints made on other nodes reach it through
	// the object store; no shared filesystem is needed.
	StoragePath string
	// SharedStorage says StoragePath is a filesystem every node mounts at
	// the same path (NFS, a cluster filesystem): trials write their
	// checkpoints there directly and restore from there, and nothing
	// goes through the object store but the path.
	SharedStorage bool
	// Stop ends a trial when met (Ray's stop).
	Stop StopCondition
	// StopTimeout is how long a stopped trial has to end (its function
	// to return, its Step to finish) before its actor is killed (Ray's
	// TUNE_FORCE_TRIAL_CLEANUP_S); default 10 s.
	StopTimeout time.Duration
	// FailureConfig: how often a trial may fail and restart.
	FailureConfig FailureConfig
	// CheckpointConfig: which checkpoints are kept.
	CheckpointConfig CheckpointConfig
	// Progress is where the status table goes (default os.Stderr); a
	// terminal gets a table refreshed in place, anything else plain lines
	// every ProgressInterval (default 10 s on a terminal is 1 s).
	Progress         io.Writer
	ProgressInterval time.Duration
	// Quiet turns the status table off.
	Quiet bool
}

// StopCondition ends a trial when any of its conditions holds (Ray's
// stop dict, and a stopper function).
type StopCondition struct {
	// Metrics stops a trial when a metric reaches its value (>=, as Ray's
	// stop dict; use Func for a metric to minimise).
	Metrics map[string]float64
	// Iterations stops a trial after this many results
	// (training_iteration).
	Iterations int
	// Time stops a trial after this much training time (time_total_s).
	Time time.Duration
	// Func stops a trial when it returns true. It runs in the driver, so
	// it may be a closure; give it again to Restore.
	Func func(trialID string, r Result) bool
}

func (s StopCondition) reason(trialID string, r Result) string {
	if s.Iterations > 0 && r.Iteration >= s.Iterations {
		return fmt.Sprintf("stop condition: training_iteration %d >= %d", r.Iteration, s.Iterations)
	}
	if s.Time > 0 && r.TimeTotal >= s.Time {
		return fmt.Sprintf("stop condition: time_total_s %.3g >= %.3g", r.TimeTotal.Seconds(), s.Time.Seconds())
	}
	for k, v := range s.Metrics {
		if got, ok := r.Value(k); ok && got >= v {
			return fmt.Sprintf("stop condition: %s %.6g >= %.6g", k, got, v)
		}
	}
	if s.Func != nil && s.Func(trialID, r) {
		return "stop condition: the stop function returned true"
	}
	return ""
}

// FailureConfig says how a failing trial is retried (Ray's
// FailureConfig).
type FailureConfig struct {
	// MaxFailures is how many times a trial is restarted from its latest
	// checkpoint after its trainable fails or its actor or node dies;
	// then it is ERROR. -1: no limit.
	MaxFailures int
	// FailFast ends the experiment at the first trial in ERROR.
	FailFast bool
}

// CheckpointConfig says which checkpoints are kept on storage (Ray's
// CheckpointConfig).
type CheckpointConfig struct {
	// NumToKeep keeps this many checkpoints per trial (0: all): the best
	// by ScoreAttribute, or the newest without one. The latest is always
	// kept too, to resume from.
	NumToKeep int
	// ScoreAttribute and Order rank checkpoints (Ray's
	// checkpoint_score_attribute and checkpoint_score_order).
	ScoreAttribute string
	Order          Mode
	// Frequency asks a class trainable for a checkpoint every Frequency
	// iterations, and AtEnd at its end (Ray's checkpoint_frequency and
	// checkpoint_at_end); a function trainable checkpoints when it
	// reports one.
	Frequency int
	AtEnd     bool
}

func (c *TuneConfig) validate() error {
	if c.NumSamples == 0 {
		c.NumSamples = 1
	}
	if c.NumSamples < 0 || c.MaxConcurrentTrials < 0 || c.TimeBudget < 0 {
		return fmt.Errorf("%w: NumSamples, MaxConcurrentTrials and TimeBudget must not be negative", ErrInvalidConfig)
	}
	if c.Mode != "" {
		if err := c.Mode.Validate(); err != nil {
			return err
		}
	}
	if (c.Metric == "") != (c.Mode == "") {
		return fmt.Errorf("%w: give Metric and Mode together", ErrInvalidConfig)
	}
	return nil
}

func (c *RunConfig) validate(now time.Time) error {
	if c.Name == "" {
		c.Name = "tune_" + now.Format("2006-01-02_15-04-05")
	}
	if strings.ContainsAny(c.Name, `/\`) || c.Name == "." || c.Name == ".." {
		return fmt.Errorf("%w: experiment name %q must be a plain directory name", ErrInvalidConfig, c.Name)
	}
	if c.StoragePath == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("%w: no StoragePath and no home directory: %v", ErrStorage, err)
		}
		c.StoragePath = filepath.Join(home, "rayo_results")
	}
	if c.FailureConfig.MaxFailures < -1 {
		return fmt.Errorf("%w: MaxFailures %d: want -1 (no limit) or more", ErrInvalidConfig, c.FailureConfig.MaxFailures)
	}
	cc := &c.CheckpointConfig
	if cc.NumToKeep < 0 || cc.Frequency < 0 {
		return fmt.Errorf("%w: NumToKeep and Frequency must not be negative", ErrInvalidConfig)
	}
	if cc.ScoreAttribute != "" {
		if cc.Order == "" {
			cc.Order = Max
		}
		if err := cc.Order.Validate(); err != nil {
			return err
		}
	}
	if c.Stop.Iterations < 0 || c.Stop.Time < 0 {
		return fmt.Errorf("%w: stop conditions must not be negative", ErrInvalidConfig)
	}
	if c.Progress == nil {
		c.Progress = os.Stderr
	}
	if c.StopTimeout < 0 {
		return fmt.Errorf("%w: StopTimeout must not be negative", ErrInvalidConfig)
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = defaultStopTimeout
	}
	return nil
}
