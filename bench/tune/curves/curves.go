package curves

import (
	"fmt"
	"math"
)

// Families of configurations.
const (
	Fast = "fast" // drops quickly, plateaus high
	Slow = "slow" // drops slowly, ends low
)

// MaxIter is the length of a full training run.
const MaxIter = 100

// Config is one configuration of the learning-curve problem.
type Config struct {
	Family string
	LR     float64
	Width  int
}

// LRs and Widths are the grid the 100 configurations come from, with
// the two families.
var (
	LRs    = []float64{1e-4, 2.5e-4, 6.3e-4, 1.6e-3, 4e-3, 1e-2, 2.5e-2, 6.3e-2, 0.16, 0.4}
	Widths = []int{16, 32, 64, 128, 256}
)

// Space describes the configurations as lists of values by parameter
// name: a tune.GridSearch of each list gives the 100 Configs.
func Space() map[string][]any {
	lrs := make([]any, len(LRs))
	for i, v := range LRs {
		lrs[i] = v
	}
	widths := make([]any, len(Widths))
	for i, v := range Widths {
		widths[i] = v
	}
	return map[string][]any{"family": {Fast, Slow}, "lr": lrs, "width": widths}
}

// Configs returns the 100 configurations: family × lr × width.
func Configs() []Config {
	var out []Config
	for _, f := range []string{Fast, Slow} {
		for _, lr := range LRs {
			for _, w := range Widths {
				out = append(out, Config{Family: f, LR: lr, Width: w})
			}
		}
	}
	return out
}

// Params returns c as parameters by name.
func (c Config) Params() map[string]any {
	return map[string]any{"family": c.Family, "lr": c.LR, "width": c.Width}
}

// FromParams reads a configuration back from parameters by name (numbers
// of any Go type).
func FromParams(p map[string]any) (Config, error) {
	family, _ := p["family"].(string)
	lr, ok1 := number(p["lr"])
	width, ok2 := number(p["width"])
	if (family != Fast && family != Slow) || !ok1 || !ok2 {
		return Config{}, fmt.Errorf("curves: not a configuration: %v", p)
	}
	return Config{Family: family, LR: lr, Width: int(width)}, nil
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	}
	return 0, false
}

// Final is c's loss after a full run, what the configuration is worth:
// best near lr 1e-2, better with width, and lower for the Slow family.
func (c Config) Final() float64 {
	d := math.Log10(c.LR) + 2
	f := 0.08 + 0.03*d*d + 0.12/math.Sqrt(float64(c.Width)/16)
	if c.Family == Fast {
		f += 0.06
	}
	return f
}

// tau is c's time constant in iterations: the Slow family takes about
// four times longer; a higher learning rate and a smaller width are
// faster.
func (c Config) tau() float64 {
	t := 0.5
	if c.Family == Slow {
		t = 2
	}
	t *= math.Pow(1e-2/c.LR, 0.15) * math.Pow(float64(c.Width)/64, 0.1)
	return t
}

// Loss is c's loss after iter iterations (1-based; 1 at iteration 0): an
// exponential fall from 1 to Final, with a small deterministic wiggle so
// that curves are not monotone.
func Loss(c Config, iter int) float64 {
	t := float64(iter)
	f := c.Final()
	wiggle := 0.002 * math.Sin(1.3*t+13*c.LR+float64(c.Width)) * math.Exp(-t/40)
	return f + (1-f)*math.Exp(-t/c.tau()) + wiggle
}

// Best returns the configuration with the lowest loss at MaxIter, and
// that loss: what a full-budget search of Configs finds.
func Best() (Config, float64) {
	var best Config
	bestLoss := math.Inf(1)
	for _, c := range Configs() {
		if l := Loss(c, MaxIter); l < bestLoss {
			best, bestLoss = c, l
		}
	}
	return best, bestLoss
}
