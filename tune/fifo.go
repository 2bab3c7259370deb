package tune

import "fmt"

// FIFO returns Ray's FIFOScheduler: every trial runs to its end
// (Continue), and waiting trials start in the order they were created.
func FIFO() Scheduler { return fifoScheduler{} }

type fifoScheduler struct{}

func (fifoScheduler) Setup(string, Mode) error { return nil }
func (fifoScheduler) OnTrialAdd(TrialInfo)     {}
func (fifoScheduler) OnTrialResult(TrialInfo, Result) Decision {
	return Decision{Action: Continue}
}
func (fifoScheduler) OnTrialComplete(TrialInfo, *Result) {}
func (fifoScheduler) OnTrialRemove(TrialInfo)            {}

func (fifoScheduler) ChooseTrialToRun(waiting []TrialInfo) string {
	return firstPendingThenPaused(waiting)
}

// firstPendingThenPaused is FIFO's choice, which the other schedulers
// fall back on: the first PENDING trial, else the first PAUSED one.
func firstPendingThenPaused(waiting []TrialInfo) string {
	for _, t := range waiting {
		if t.State == Pending {
			return t.ID
		}
	}
	for _, t := range waiting {
		if t.State == Paused {
			return t.ID
		}
	}
	return ""
}

// schedulerMetricMode picks a scheduler's metric and mode: its own where
// set, else the experiment's; both must end up set.
func schedulerMetricMode(name, metric string, mode Mode, expMetric string, expMode Mode) (string, Mode, error) {
	if metric == "" {
		metric = expMetric
	}
	if mode == "" {
		mode = expMode
	}
	if metric == "" {
		return "", "", fmt.Errorf("%w: %s needs a metric: set it on the scheduler or in TuneConfig", ErrInvalidConfig, name)
	}
	if mode == "" {
		return "", "", fmt.Errorf("%w: %s needs a mode: set it on the scheduler or in TuneConfig", ErrInvalidConfig, name)
	}
	if err := mode.Validate(); err != nil {
		return "", "", fmt.Errorf("%s: %w", name, err)
	}
	return metric, mode, nil
}
