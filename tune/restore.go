package tune

import (
	"fmt"
	"os"
	"path/filepath"
)

// restoreState says how Restore treats the journal's trials.
type restoreState struct {
	unfinished     bool
	resumeErrored  bool
	restartErrored bool
	runConfig      func(*RunConfig)
}

// A RestoreOption changes how Restore resumes an experiment.
type RestoreOption func(*restoreState)

// ResumeUnfinished (default true) resumes the trials that were running,
// pending or paused; false ends them as TERMINATED.
func ResumeUnfinished(on bool) RestoreOption { return func(s *restoreState) { s.unfinished = on } }

// ResumeErrored resumes trials in ERROR from their latest checkpoint
// (Ray's resume_errored).
func ResumeErrored() RestoreOption { return func(s *restoreState) { s.resumeErrored = true } }

// RestartErrored restarts trials in ERROR from scratch (Ray's
// restart_errored).
func RestartErrored() RestoreOption { return func(s *restoreState) { s.restartErrored = true } }

// WithRunConfig sets what experiment.json does not hold: a stop function,
// where progress goes.
func WithRunConfig(f func(*RunConfig)) RestoreOption {
	return func(s *restoreState) { s.runConfig = f }
}

// CanRestore reports whether path holds an experiment Restore can resume
// (Ray's Tuner.can_restore).
func CanRestore(path string) bool {
	_, err := os.Stat(filepath.Join(path, journalFile))
	_, merr := readMeta(path)
	return err == nil && merr == nil
}

// Restore resumes the experiment at path (StoragePath/Name) after its
// driver was killed, crashed or cancelled (Ray's Tuner.restore): finished
// trials are kept; running, pending and paused ones continue from their
// latest checkpoints; errored ones stay so unless ResumeErrored or
// RestartErrored. Give the same trainable and space, and a TuneConfig
// with a searcher and scheduler built as the first run's were: the
// journal's calls are replayed to them, so they continue where they were.
// Metric, Mode, NumSamples and Seed come from the experiment (a
// different non-zero value is an error); so do the RunConfig's settings.
func Restore(path string, trainable *Trainable, space Space, tc TuneConfig, opts ...RestoreOption) (*Tuner, error) {
	meta, err := readMeta(path)
	if err != nil {
		return nil, err
	}
	if trainable != nil && trainable.name != meta.Trainable {
		return nil, fmt.Errorf("%w: the experiment ran trainable %q, not %q", ErrInvalidConfig, meta.Trainable, trainable.name)
	}
	if (tc.Metric != "" && tc.Metric != meta.Metric) || (tc.Mode != "" && tc.Mode != meta.Mode) ||
		(tc.NumSamples != 0 && tc.NumSamples != meta.NumSamples) || (tc.Seed != 0 && tc.Seed != meta.Seed) {
		return nil, fmt.Errorf("%w: Metric, Mode, NumSamples and Seed must be the experiment's (%q, %q, %d, %d)",
			ErrInvalidConfig, meta.Metric, meta.Mode, meta.NumSamples, meta.Seed)
	}
	tc.Metric, tc.Mode, tc.NumSamples, tc.Seed = meta.Metric, meta.Mode, meta.NumSamples, meta.Seed
	if tc.MaxConcurrentTrials == 0 {
		tc.MaxConcurrentTrials = meta.MaxConcurrentTrials
	}
	if tc.TimeBudget == 0 {
		tc.TimeBudget = meta.TimeBudget
	}
	tc.ReuseActors = tc.ReuseActors || meta.ReuseActors
	st := &restoreState{unfinished: true}
	for _, o := range opts {
		o(st)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	rc := RunConfig{Name: filepath.Base(abs), StoragePath: filepath.Dir(abs), SharedStorage: meta.SharedStorage, FailureConfig: meta.Failure, CheckpointConfig: meta.Checkpoint,
		Stop: StopCondition{Metrics: meta.StopMetrics, Iterations: meta.StopIterations, Time: meta.StopTime}}
	if st.runConfig != nil {
		st.runConfig(&rc)
		rc.Name, rc.StoragePath = filepath.Base(abs), filepath.Dir(abs)
	}
	tn, err := NewTuner(trainable, space, tc, rc)
	if err != nil {
		return nil, err
	}
	tn.restore = st
	return tn, nil
}

// replayJournal rebuilds the trials, the searcher and the scheduler from
// the journal.
func (r *runner) replayJournal() error {
	events, err := readJournal(filepath.Join(r.dir, journalFile))
	if err != nil {
		return err
	}
	r.replay = true
	defer func() { r.replay = false }()
	for i := range events {
		if err := r.apply(&events[i]); err != nil {
			return err
		}
	}
	// Suggestions past the journal's: the searcher may have been told it
	// was finished.
	return nil
}

// resumeTrials decides, after the replay, what each unfinished or
// errored trial does now (journalled).
func (r *runner) resumeTrials() {
	st := r.tn.restore
	for _, t := range r.order {
		switch t.state {
		case Running:
			if !st.unfinished {
				r.setState(t, Terminated, howStop, nil)
				continue
			}
			// Its results after its checkpoint will come again.
			r.setState(t, Pending, howResume, nil)
		case Pending, Paused:
			if !st.unfinished {
				r.setState(t, Terminated, howStop, nil)
			}
		case Errored:
			switch {
			case st.resumeErrored:
				r.setState(t, Pending, howReset, nil)
			case st.restartErrored:
				r.rewind(t, howReset)
				r.setState(t, Pending, howReset, nil)
			}
		}
	}
}
