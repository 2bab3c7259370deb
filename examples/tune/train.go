package main

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/examples/tune/model"
	"github.com/rayo-dev/rayo/tune"
)

// Names of the metrics each epoch reports.
const (
	metricValidLoss = "valid_loss" // the metric tuned (minimised)
	metricAccuracy  = "accuracy"   // share of validation points right
	metricTrainLoss = "train_loss"
)

// errInjected is the failure -fail-at injects, to show a trial restarting
// from its checkpoint; registered so that it keeps its identity when it
// reaches the driver.
var errInjected = errors.New("tune example: injected failure")

func init() { rayo.RegisterError("tuneexample.errInjected", errInjected) }

// spirals is the trainable, registered at package level under a stable
// name so that the workers, which run this same binary, have it too.
var spirals = tune.Function("tuneexample.spirals", trainSpirals)

// trainSpirals trains one trial's model epoch by epoch, reporting the
// validation loss and accuracy after each, with a checkpoint (the model's
// MarshalBinary bytes) every p["checkpoint_every"] epochs and after the
// last. Given a checkpoint (a restart after a failure) it resumes from it
// rather than from scratch. It returns when the trial has trained
// p["epochs"] epochs, when Tune stops it (Report fails: ASHA cut it), or
// when the model diverges (a NaN loss cannot recover).
func trainSpirals(ctx context.Context, p tune.Params) error {
	m, err := modelFor(ctx, p)
	if err != nil {
		return err
	}
	epochs, every, failAt := p.Int("epochs"), max(p.Int("checkpoint_every"), 1), p.Int("fail_at")
	resumed := m.Epochs() > 0
	for m.Epochs() < epochs {
		trainLoss := m.Epoch()
		if failAt > 0 && m.Epochs() == failAt && !resumed {
			return fmt.Errorf("%w at epoch %d", errInjected, failAt)
		}
		metrics := tune.Metrics{
			metricValidLoss: m.ValidLoss(),
			metricAccuracy:  m.Accuracy(),
			metricTrainLoss: trainLoss,
		}
		diverged := math.IsNaN(trainLoss) || math.IsInf(trainLoss, 0)
		var ckpt *tune.Checkpoint
		if m.Epochs()%every == 0 || m.Epochs() == epochs {
			b, err := m.MarshalBinary()
			if err != nil {
				return err
			}
			ckpt = tune.CheckpointFromBytes(b)
		}
		if err := tune.Report(ctx, metrics, ckpt); errors.Is(err, context.Canceled) {
			return nil // stopped by Tune (ASHA, the end of the experiment)
		} else if err != nil {
			return err
		}
		if diverged {
			return nil
		}
	}
	return nil
}

// modelFor is the trial's model: restored from the checkpoint Tune hands
// a restarted trial, else a fresh one of the trial's Params.
func modelFor(ctx context.Context, p tune.Params) (*model.Model, error) {
	if c := tune.GetCheckpoint(ctx); c != nil {
		b, err := c.Bytes()
		if err != nil {
			return nil, err
		}
		var m model.Model
		if err := m.UnmarshalBinary(b); err != nil {
			return nil, err
		}
		return &m, nil
	}
	return model.New(modelConfig(p))
}

// modelConfig maps a trial's Params onto the model's hyperparameters;
// the data set is the model's default, the same for every trial.
func modelConfig(p tune.Params) model.Config {
	c := model.DefaultConfig()
	c.LR = p.Float("lr")
	c.Momentum = p.Float("momentum")
	c.WeightDecay = p.Float("weight_decay")
	c.Hidden = p.Int("hidden")
	c.BatchSize = p.Int("batch_size")
	c.Seed = uint64(p.Int("seed"))
	return c
}
