package tune

import "errors"

// Errors of package tune. Every error Tune returns wraps one of them
// (errors.Is).
var (
	// ErrInvalidSpace: a Space or Domain that cannot be sampled (low above
	// high, the log of a non-positive bound, an empty choice, a key with
	// '/').
	ErrInvalidSpace = errors.New("tune: invalid search space")
	// ErrInvalidConfig: a bad TuneConfig, RunConfig, searcher or scheduler
	// setting (a negative count, a missing metric or mode a component
	// needs, a grid given to a searcher that cannot search one).
	ErrInvalidConfig = errors.New("tune: invalid configuration")
	// ErrSearchFinished: a Searcher has no more configurations to suggest.
	ErrSearchFinished = errors.New("tune: search finished")
	// ErrNotRegistered: a trainable the process running it does not have:
	// registered after rayo.Init (a closure made at run time), so the
	// workers cannot run it.
	ErrNotRegistered = errors.New("tune: trainable not registered at package level")
	// ErrMissingMetric: a trial reported a result without the metric the
	// experiment optimises; the trial is ERROR with it.
	ErrMissingMetric = errors.New("tune: result lacks the metric being optimised")
	// ErrTrialFailed: a trial's trainable returned an error or panicked, or
	// its actor or node died, more often than FailureConfig.MaxFailures
	// allows. The trial's error wraps it and the cause.
	ErrTrialFailed = errors.New("tune: trial failed")
	// ErrStorage: the experiment's storage path cannot be written or read.
	ErrStorage = errors.New("tune: storage")
	// ErrInfeasible: a trial asks for resources no node of the cluster has;
	// it would wait forever.
	ErrInfeasible = errors.New("tune: trial resources are infeasible")
	// ErrNoResults: ResultGrid.Best found no trial with the metric.
	ErrNoResults = errors.New("tune: no trial reported the metric")
	// ErrNotInTrial: Report, GetCheckpoint or GetContext called outside a
	// trial.
	ErrNotInTrial = errors.New("tune: not called from inside a trial")
)
