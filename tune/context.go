package tune

import (
	"context"
	"fmt"

	"github.com/rayo-dev/rayo"
)

// TrialContext is what a trainable knows of its trial (Ray's
// tune.get_context()).
type TrialContext struct {
	TrialID    string
	Experiment string
	// Iteration is the number of results reported so far, those before a
	// restore included.
	Iteration int
	// PlacementGroup is the trial's placement group when its trainable
	// has a PlacementGroupFactory (the trial runs in bundle 0), else nil.
	PlacementGroup *rayo.PlacementGroup
}

// trialKey is the context key of the running trial: a *functionRun, or
// a *classRun during a class trainable's Setup, Load, Step and Save.
type trialKey struct{}

// contexter is either kind of run.
type contexter interface{ context() TrialContext }

// fromCtx finds the running function trainable a ctx belongs to.
func fromCtx(ctx context.Context) (*functionRun, error) {
	r, _ := ctx.Value(trialKey{}).(*functionRun)
	if r == nil {
		if _, ok := ctx.Value(trialKey{}).(*classRun); ok {
			return nil, fmt.Errorf("%w: a class trainable returns its metrics from Step and its checkpoints from Save", ErrNotInTrial)
		}
		return nil, ErrNotInTrial
	}
	return r, nil
}

// Report reports one iteration's metrics, with a checkpoint if c is not
// nil (Ray's tune.report / train.report). It returns once Tune has taken
// the result; the trainable goes on meanwhile with its next iteration.
// When the trial is to stop (a scheduler, a stop condition, the end of
// the experiment) it returns an error: the trainable should return.
func Report(ctx context.Context, m Metrics, c *Checkpoint) error {
	r, err := fromCtx(ctx)
	if err != nil {
		return err
	}
	return r.report(ctx, m, c)
}

// GetCheckpoint returns the checkpoint the trial is to resume from (after
// a failure, a pause, or a PBT exploit), nil for a fresh start (Ray's
// tune.get_checkpoint). A directory checkpoint is a local copy.
func GetCheckpoint(ctx context.Context) *Checkpoint {
	r, err := fromCtx(ctx)
	if err != nil {
		return nil
	}
	return r.restoreFrom
}

// GetContext returns the running trial's context, in a function
// trainable or in a class trainable's methods.
func GetContext(ctx context.Context) (TrialContext, error) {
	r, _ := ctx.Value(trialKey{}).(contexter)
	if r == nil {
		return TrialContext{}, ErrNotInTrial
	}
	return r.context(), nil
}

func (r *classRun) context() TrialContext {
	return TrialContext{TrialID: r.spec.TrialID, Experiment: r.spec.Experiment, Iteration: r.iteration, PlacementGroup: r.spec.PG}
}

func (r *functionRun) context() TrialContext {
	r.mu.Lock()
	defer r.mu.Unlock()
	return TrialContext{TrialID: r.spec.TrialID, Experiment: r.spec.Experiment, Iteration: r.iteration, PlacementGroup: r.spec.PG}
}

// errStopped is what Report returns once the trial is stopped.
func errStopped(id string) error {
	return fmt.Errorf("tune: trial %s stopped: %w", id, context.Canceled)
}
