package tune

import (
	"fmt"
	"math"
	"time"
)

// Metrics are what a trial reports: named numbers (Ray's result dict,
// restricted to numbers so that schedulers, searchers and the CSV
// summary can read every one).
type Metrics map[string]float64

// MetricsOf keeps the numbers of m (any Go number type, as msgpack or
// JSON decode them) as Metrics, dropping other values: a library's
// richer metrics (Train's) made reportable to Tune.
func MetricsOf(m map[string]any) Metrics {
	out := make(Metrics, len(m))
	for k, v := range m {
		if f, ok := toFloat(v); ok {
			out[k] = f
		}
	}
	return out
}

// Names of the values Tune adds to every result (Ray's auto-filled
// metrics). Result.Value reads them as metrics too.
const (
	TrainingIteration = "training_iteration" // 1 for a trial's first result
	TimeTotalS        = "time_total_s"       // seconds of training, over restarts
	TimeThisIterS     = "time_this_iter_s"
)

// Result is one report of a trial.
type Result struct {
	TrialID string `json:"trial_id"`
	// Iteration counts the trial's reports from 1 (training_iteration),
	// continuing across restores from a checkpoint.
	Iteration int `json:"training_iteration"`
	// TimeTotal is the trial's training time so far, restores included;
	// TimeThisIter the time since its previous report.
	TimeTotal    time.Duration `json:"-"`
	TimeThisIter time.Duration `json:"-"`
	Timestamp    time.Time     `json:"timestamp"`
	Metrics      Metrics       `json:"metrics"`
	// Checkpoint reports whether a checkpoint came with this result.
	Checkpoint bool `json:"checkpoint,omitempty"`
	// Done: the trainable returned after this result (its last).
	Done bool `json:"done,omitempty"`
}

// Value returns the metric name, or one of the values Tune adds
// (training_iteration, time_total_s, time_this_iter_s).
func (r Result) Value(name string) (float64, bool) {
	if v, ok := r.Metrics[name]; ok {
		return v, true
	}
	switch name {
	case TrainingIteration:
		return float64(r.Iteration), true
	case TimeTotalS:
		return r.TimeTotal.Seconds(), true
	case TimeThisIterS:
		return r.TimeThisIter.Seconds(), true
	}
	return 0, false
}

// Mode says whether a metric is maximised or minimised.
type Mode string

const (
	Max Mode = "max"
	Min Mode = "min"
)

// Validate returns an ErrInvalidConfig unless m is Max or Min.
func (m Mode) Validate() error {
	if m != Max && m != Min {
		return fmt.Errorf("%w: mode %q: want %q or %q", ErrInvalidConfig, m, Max, Min)
	}
	return nil
}

// Better reports whether a is strictly better than b under m. NaN is
// never better than anything.
func (m Mode) Better(a, b float64) bool {
	if math.IsNaN(a) {
		return false
	}
	if math.IsNaN(b) {
		return true
	}
	if m == Min {
		return a < b
	}
	return a > b
}

// Sign is +1 for Max and -1 for Min: sign*value is to be maximised.
func (m Mode) Sign() float64 {
	if m == Min {
		return -1
	}
	return 1
}
