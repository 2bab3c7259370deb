package tune

import (
	"encoding/json"
	"sync"

	"github.com/rayo-dev/rayo"
)

// Trials' metrics reach the cluster's /metrics from the driver:
//
//	rayo_tune_results_total{experiment}              results reported
//	rayo_tune_trials{experiment,state}               trials by state
//	rayo_tune_trial_metric{experiment,trial,metric}  each trial's latest value of each metric
//
// A metric's series are capped (rayo.MaxMetricSeries); past the cap new
// series are dropped, never an error for the experiment.
var tuneMetrics struct {
	once    sync.Once
	results *rayo.Counter
	trials  *rayo.Gauge
	values  *rayo.Gauge
}

func metricsInit() {
	tuneMetrics.once.Do(func() {
		tuneMetrics.results, _ = rayo.NewCounter("rayo_tune_results_total", "Results reported by Tune trials.", "experiment")
		tuneMetrics.trials, _ = rayo.NewGauge("rayo_tune_trials", "Tune trials by state.", "experiment", "state")
		tuneMetrics.values, _ = rayo.NewGauge("rayo_tune_trial_metric", "The latest value of each metric each Tune trial reported.", "experiment", "trial", "metric")
	})
}

func observeResult(experiment, trialID string, r Result) {
	metricsInit()
	if c := tuneMetrics.results; c != nil {
		_ = c.Inc(1, "experiment", experiment)
	}
	if g := tuneMetrics.values; g != nil {
		for k, v := range r.Metrics {
			_ = g.Set(v, "experiment", experiment, "trial", trialID, "metric", k)
		}
		_ = g.Set(float64(r.Iteration), "experiment", experiment, "trial", trialID, "metric", TrainingIteration)
	}
}

func observeStates(experiment string, counts map[TrialState]int) {
	metricsInit()
	if g := tuneMetrics.trials; g != nil {
		for _, s := range []TrialState{Pending, Running, Paused, Terminated, Errored} {
			_ = g.Set(float64(counts[s]), "experiment", experiment, "state", string(s))
		}
	}
}

// jsonMarshalParams writes Params as indented JSON (params.json).
func jsonMarshalParams(p Params) ([]byte, error) { return json.MarshalIndent(p, "", "  ") }
