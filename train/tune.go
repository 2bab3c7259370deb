package train

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/rayo-dev/rayo/tune"
)

// A trainer's Fit called inside a Tune trial (a function trainable) is
// that trial's training: each completed round's numeric metrics, with its
// checkpoint once written, are reported to Tune (so schedulers such as
// ASHA and PBT see them), a checkpoint Tune restores the trial from
// becomes the run's ResumeFromCheckpoint, and an unnamed run is named
// after the trial. The trial's actor only drives: give the trainable
// WithResources(tune.Resources{CPU: 0.01}) or so, the workers holding
// their own placement group.

// tuneTrial returns the hook that reports to the trial ctx belongs to,
// and the checkpoint it restores from; nil hook outside a trial.
func tuneTrial(ctx context.Context) (hook func(Reported, string) error, trialID string, resume *Checkpoint, err error) {
	tc, err := tune.GetContext(ctx)
	if err != nil {
		return nil, "", nil, nil
	}
	if c := tune.GetCheckpoint(ctx); c != nil {
		dir, err := c.Dir()
		if err != nil {
			return nil, "", nil, errors.Join(ErrInvalidConfig, err)
		}
		resume = CheckpointFromDir(dir)
	}
	hook = func(rep Reported, dir string) error {
		m := tune.MetricsOf(rep.Metrics)
		var c *tune.Checkpoint
		if dir != "" {
			c = tune.CheckpointFromDir(filepath.Clean(dir))
		}
		return tune.Report(ctx, m, c)
	}
	return hook, tc.TrialID, resume, nil
}
