package tune

// A Searcher suggests trials' configurations (Ray's Searcher): random and
// grid search (BasicVariantGenerator), TPE, Bayesian optimisation, or a
// user's own. Tune calls a Searcher from one goroutine at a time.
//
// A Searcher sees the space's searchable parameters by path and suggests
// values by path; Tune adds the space's constants and resolves SampleFrom
// domains after it. A Searcher that must survive a driver crash rebuilds
// its state from the calls Tune replays on Restore (the same Suggest,
// OnTrialResult and OnTrialComplete calls in the same order, from the
// experiment's journal), so it must be deterministic given its seed and
// those calls.
type Searcher interface {
	// Setup is called once, before the first Suggest.
	Setup(cfg SearchConfig) error
	// Suggest returns the next trial's values by path. nil and a nil
	// error: nothing to suggest now (waiting on running trials), ask
	// again after the next result. ErrSearchFinished: the search is over.
	Suggest(trialID string) (map[string]any, error)
	// OnTrialResult tells the searcher a trial's intermediate result.
	OnTrialResult(trialID string, r Result)
	// OnTrialComplete tells it a trial ended: r is its last result (nil
	// if it reported none); failed is true for a trial in ERROR.
	OnTrialComplete(trialID string, r *Result, failed bool)
}

// SearchConfig is what a Searcher is set up with.
type SearchConfig struct {
	Metric string
	Mode   Mode
	// Params are the space's searchable domains, in path order.
	Params []Param
	// NumSamples is TuneConfig.NumSamples: random search makes that many
	// variants of each grid point; other searchers suggest that many
	// trials in all.
	NumSamples int
	// Seed is TuneConfig.Seed: equal seeds give equal suggestions.
	Seed int64
}

// A TrialAdder is a Searcher that can learn of trials it did not suggest
// (PointsToEvaluate, trials restored from an earlier experiment): Tune
// calls AddTrial with the trial's values by path before any of its
// results, so that the searcher's model counts them. A Searcher without
// it ignores such trials' results (it must tolerate unknown trial IDs).
type TrialAdder interface {
	AddTrial(trialID string, values map[string]any)
}
