package tpe

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Kind says what a Dim holds.
type Kind int

const (
	// Float is a real in [Low, High]; with Step > 0 only Low + k*Step
	// (Optuna's FloatDistribution).
	Float Kind = iota + 1
	// Int is an integer in [Low, High], both included, on Low + k*Step
	// (Step 0 means 1) (Optuna's IntDistribution).
	Int
	// Categorical is one of N unordered choices, held as its index
	// (Optuna's CategoricalDistribution).
	Categorical
)

// A Dim is one dimension of the search space.
type Dim struct {
	Kind      Kind
	Low, High float64 // Float, Int: bounds, both included
	// Log models the dimension in log space (Low must be positive). A log
	// dimension has no Step (Optuna refuses both); it is ignored.
	Log  bool
	Step float64 // Float: 0 for a continuous range; Int: 0 means 1
	N    int     // Categorical: number of choices
}

// Validate returns an error for a dimension that cannot be sampled.
func (d Dim) Validate() error {
	switch d.Kind {
	case Float, Int:
		switch {
		case math.IsNaN(d.Low) || math.IsNaN(d.High) || math.IsInf(d.Low, 0) || math.IsInf(d.High, 0):
			return fmt.Errorf("tpe: bounds [%v, %v] must be finite", d.Low, d.High)
		case d.Low > d.High:
			return fmt.Errorf("tpe: low %v above high %v", d.Low, d.High)
		case d.Log && d.Low <= 0:
			return fmt.Errorf("tpe: a log dimension needs a positive low bound, not %v", d.Low)
		case d.Step < 0 || math.IsNaN(d.Step):
			return fmt.Errorf("tpe: step %v must not be negative", d.Step)
		}
	case Categorical:
		if d.N < 1 {
			return fmt.Errorf("tpe: a categorical dimension needs at least one choice")
		}
	default:
		return fmt.Errorf("tpe: unknown dimension kind %d", d.Kind)
	}
	return nil
}

// step is the grid of a discrete numeric dimension (0: continuous).
func (d Dim) step() float64 {
	switch {
	case d.Log:
		return 0
	case d.Kind == Int && d.Step == 0:
		return 1
	}
	return d.Step
}

// parzenBounds are the kernels' range in the model's space and the grid
// step there (0: continuous): a discrete range widens by half a step on
// each side so that its end values weigh as much as the others, and a log
// int's by half a unit before taking logs.
func (d Dim) parzenBounds() (low, high, q float64) {
	switch {
	case d.Log && d.Kind == Int:
		return math.Log(d.Low - 0.5), math.Log(d.High + 0.5), 0
	case d.Log:
		return math.Log(d.Low), math.Log(d.High), 0
	}
	q = d.step()
	if q == 0 {
		return d.Low, d.High, 0
	}
	return d.Low - q/2, d.High + q/2, q
}

// toModel maps a value to the model's space (its log for log dimensions).
func (d Dim) toModel(x float64) float64 {
	if d.Log {
		return math.Log(x)
	}
	return x
}

// fromModel maps a point of the model's space back to a valid value:
// exp for log dimensions, rounding onto the grid, clipping to the bounds.
func (d Dim) fromModel(x float64) float64 {
	switch {
	case d.Log && d.Kind == Int:
		x = math.Round(math.Exp(x))
	case d.Log:
		x = math.Exp(x)
	default:
		if q := d.step(); q > 0 {
			x = math.Round((x-d.Low)/q)*q + d.Low
		}
	}
	return math.Max(d.Low, math.Min(d.High, x))
}

// sampleUniform draws a value uniformly over the dimension (in log space
// for log dimensions), as Optuna's RandomSampler does during startup.
func (d Dim) sampleUniform(rng *rand.Rand) float64 {
	if d.Kind == Categorical {
		return float64(rng.IntN(d.N))
	}
	low, high, _ := d.parzenBounds()
	if q := d.step(); q > 0 {
		// Every grid point equally likely.
		n := math.Floor((d.High-d.Low)/q+1e-9) + 1
		return d.fromModel(d.Low + q*math.Floor(rng.Float64()*n))
	}
	return d.fromModel(low + rng.Float64()*(high-low))
}
