package tpe

import (
	"math"
	"slices"
)

// State is what became of a trial (Optuna's TrialState, less FAIL: a
// failed trial is no observation).
type State int

const (
	// Complete: the trial finished with its Loss.
	Complete State = iota
	// Pruned: the trial was stopped at Step with Loss as its last value.
	Pruned
	// Running: the trial has no loss yet; with ConstantLiar it counts as
	// the worst of all.
	Running
)

// An Observation is one trial: its point, its loss (lower is better) and
// its state.
type Observation struct {
	X     []float64
	Loss  float64
	State State
	Step  int // Pruned: the step it stopped at
}

// Gamma is how many of n finished trials form the "below" (good) group:
// min(ceil(0.1 n), 25) (Optuna's default_gamma).
func Gamma(n int) int {
	return min((n+9)/10, 25)
}

// Weights are the n observations' weights, oldest first (Optuna's
// default_weights): 1 for the newest 25, and a ramp from 1/n up to 1 for
// the older ones, so that old trials count less.
func Weights(n int) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = 1
	}
	if n < 25 {
		return w
	}
	ramp := n - 25
	for i := 0; i < ramp; i++ {
		// numpy's linspace(1/n, 1, ramp).
		if ramp == 1 {
			w[i] = 1 / float64(n)
			continue
		}
		w[i] = 1/float64(n) + (1-1/float64(n))*float64(i)/float64(ramp-1)
	}
	return w
}

// rankKey orders observations as Optuna does: complete trials first by
// loss, then pruned ones by how far they got (later steps first) and
// their loss, then running ones (the constant liar's worst value).
type rankKey struct {
	stage, loss float64
	index       int
}

func keyOf(o Observation, i int) rankKey {
	loss := o.Loss
	if math.IsNaN(loss) {
		loss = math.Inf(1)
	}
	switch o.State {
	case Pruned:
		return rankKey{float64(-o.Step), loss, i}
	case Running:
		return rankKey{math.Inf(1), math.Inf(1), i}
	}
	return rankKey{math.Inf(-1), loss, i}
}

// Split divides the observations (running ones only if liar) into the
// below and above groups, each as indices into obs in their original
// (chronological) order. n is the number of finished (complete or
// pruned) trials, which sets the below group's size, Gamma(n).
func Split(obs []Observation, liar bool) (below, above []int, n int) {
	keys := make([]rankKey, 0, len(obs))
	for i, o := range obs {
		if o.State == Running && !liar {
			continue
		}
		if o.State != Running {
			n++
		}
		keys = append(keys, keyOf(o, i))
	}
	// Ties keep the trials' order (numpy's stable argsort).
	slices.SortFunc(keys, func(a, b rankKey) int {
		if c := cmpFloat(a.stage, b.stage); c != 0 {
			return c
		}
		if c := cmpFloat(a.loss, b.loss); c != 0 {
			return c
		}
		return a.index - b.index
	})
	nb := Gamma(n)
	for i, k := range keys {
		if i < nb {
			below = append(below, k.index)
		} else {
			above = append(above, k.index)
		}
	}
	slices.Sort(below)
	slices.Sort(above)
	return below, above, n
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
