package tune

import "fmt"

// ConcurrencyLimiter returns s limited to maxConcurrent live trials (Ray's
// ConcurrencyLimiter): Suggest returns nil, nil while maxConcurrent of
// the trials it suggested are running, so a sequential model-based
// searcher sees results before it suggests more. With batch, once a
// batch of trials has started it waits until every one of them
// completed, and only then tells s their results, all together (a batch
// is full at maxConcurrent trials, or earlier if s had nothing to
// suggest). Results of trials it did not suggest pass straight through.
// maxConcurrent < 1 is an ErrInvalidConfig at Setup.
func ConcurrencyLimiter(s Searcher, maxConcurrent int, batch bool) Searcher {
	return &limiter{inner: s, maxConcurrent: maxConcurrent, batch: batch}
}

type limiter struct {
	inner         Searcher
	maxConcurrent int
	batch         bool
	live          map[string]bool
	// held are the batch's completed trials, in completion order, told to
	// the inner searcher when the last one completes.
	held []heldCompletion
}

type heldCompletion struct {
	trialID string
	result  *Result
	failed  bool
}

func (l *limiter) Setup(cfg SearchConfig) error {
	if l.inner == nil {
		return fmt.Errorf("%w: ConcurrencyLimiter: nil searcher", ErrInvalidConfig)
	}
	if l.maxConcurrent < 1 {
		return fmt.Errorf("%w: ConcurrencyLimiter: max concurrent %d must be at least 1", ErrInvalidConfig, l.maxConcurrent)
	}
	l.live = map[string]bool{}
	l.held = nil
	return l.inner.Setup(cfg)
}

func (l *limiter) Suggest(trialID string) (map[string]any, error) {
	if len(l.live) >= l.maxConcurrent || len(l.held) > 0 {
		return nil, nil
	}
	values, err := l.inner.Suggest(trialID)
	if err == nil && values != nil {
		l.live[trialID] = true
	}
	return values, err
}

func (l *limiter) OnTrialResult(trialID string, r Result) {
	l.inner.OnTrialResult(trialID, r)
}

func (l *limiter) OnTrialComplete(trialID string, r *Result, failed bool) {
	if !l.live[trialID] {
		l.inner.OnTrialComplete(trialID, r, failed)
		return
	}
	if !l.batch {
		delete(l.live, trialID)
		l.inner.OnTrialComplete(trialID, r, failed)
		return
	}
	l.held = append(l.held, heldCompletion{trialID, r, failed})
	if len(l.held) < len(l.live) {
		return
	}
	held := l.held
	l.held = nil
	for _, h := range held {
		delete(l.live, h.trialID)
		l.inner.OnTrialComplete(h.trialID, h.result, h.failed)
	}
}

// AddTrial implements TrialAdder: it passes the trial on to the inner
// searcher if that has it. Such a trial does not count toward the limit.
func (l *limiter) AddTrial(trialID string, values map[string]any) {
	if adder, ok := l.inner.(TrialAdder); ok {
		adder.AddTrial(trialID, values)
	}
}

// Total is the inner searcher's Total; -1 (unknown) if it has none.
func (l *limiter) Total() int {
	if t, ok := l.inner.(interface{ Total() int }); ok {
		return t.Total()
	}
	return -1
}
