package model

import (
	"errors"
	"fmt"
	"math"
)

// ErrInvalidConfig is returned (wrapped) for a Config that cannot train.
var ErrInvalidConfig = errors.New("model: invalid configuration")

// Config is a model's hyperparameters and its data set.
type Config struct {
	// LR is SGD's learning rate (> 0).
	LR float64
	// Momentum is the classical momentum coefficient, in [0, 1).
	Momentum float64
	// WeightDecay is the L2 penalty on the weights (not the biases), >= 0.
	WeightDecay float64
	// Hidden is the width of each of the two hidden layers (>= 1).
	Hidden int
	// BatchSize is the number of points per SGD step (>= 1); the last
	// step of an epoch may have fewer.
	BatchSize int
	// Seed seeds the initial weights and the minibatch order.
	Seed uint64
	// Data is the data set to learn.
	Data DataConfig
}

// DefaultConfig is a configuration that learns the default spirals well
// in a few dozen epochs.
func DefaultConfig() Config {
	return Config{
		LR:          0.05,
		Momentum:    0.9,
		WeightDecay: 1e-4,
		Hidden:      32,
		BatchSize:   32,
		Seed:        1,
		Data:        DefaultData(),
	}
}

// DefaultData is 2,000 points on spirals of 1.5 turns with noise 0.05,
// a fifth of them held out for validation.
func DefaultData() DataConfig {
	return DataConfig{N: 2000, ValidFraction: 0.2, Noise: 0.05, Turns: 1.5, Seed: 42}
}

// Validate returns an error wrapping ErrInvalidConfig if c cannot train.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	switch {
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return bad("learning rate %v: want a finite number above 0", c.LR)
	case !(c.Momentum >= 0 && c.Momentum < 1):
		return bad("momentum %v: want 0 <= momentum < 1", c.Momentum)
	case !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 0):
		return bad("weight decay %v: want a finite number >= 0", c.WeightDecay)
	case c.Hidden < 1 || c.Hidden > 4096:
		return bad("hidden width %d: want 1 to 4096", c.Hidden)
	case c.BatchSize < 1:
		return bad("batch size %d: want at least 1", c.BatchSize)
	case c.Data.N < 2 || c.Data.N > 10_000_000:
		return bad("data set size %d: want 2 to 10,000,000 points", c.Data.N)
	case !(c.Data.ValidFraction > 0 && c.Data.ValidFraction < 1):
		return bad("validation fraction %v: want a number strictly between 0 and 1", c.Data.ValidFraction)
	case !(c.Data.Noise >= 0) || math.IsInf(c.Data.Noise, 0):
		return bad("noise %v: want a finite number >= 0", c.Data.Noise)
	case !(c.Data.Turns >= 0) || math.IsInf(c.Data.Turns, 0):
		return bad("turns %v: want a finite number >= 0", c.Data.Turns)
	}
	nValid := int(math.Round(c.Data.ValidFraction * float64(c.Data.N)))
	if nValid < 1 || nValid >= c.Data.N {
		return bad("%d points with validation fraction %v leave a split empty", c.Data.N, c.Data.ValidFraction)
	}
	return nil
}
