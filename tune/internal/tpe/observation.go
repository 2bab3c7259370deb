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
// pruned) trials, which sets the below group's size, Gamma(n). Only the
// below group needs ranking: it keeps the Gamma(n) best keys in a small
// sorted buffer rather than sorting every trial.
func Split(obs []Observation, liar bool) (below, above []int, n int) {
	for _, o := range obs {
		if o.State != Running {
			n++
		}
	}
	nb := Gamma(n)
	best := make([]rankKey, 0, nb+1)
	for i, o := range obs {
		if o.State == Running && !liar || nb == 0 {
			continue
		}
		k := keyOf(o, i)
		if len(best) == nb && !k.less(best[nb-1]) {
			continue
		}
		at, _ := slices.BinarySearchFunc(best, k, func(a, b rankKey) int {
			if a.less(b) {
				return -1
			}
			return 1
		})
		best = slices.Insert(best, at, k)
		if len(best) > nb {
			best = best[:nb]
		}
	}
	below = make([]int, len(best))
	for j, k := range best {
		below[j] = k.index
	}
	slices.Sort(below)
	above = make([]int, 0, len(obs)-len(below))
	j := 0
	for i, o := range obs {
		if j < len(below) && below[j] == i {
			j++
			continue
		}
		if o.State == Running && !liar {
			continue
		}
		above = append(above, i)
	}
	return below, above, n
}

// less orders keys by stage, then loss, then trial order (numpy's stable
// argsort).
func (a rankKey) less(b rankKey) bool {
	if a.stage != b.stage {
		return a.stage < b.stage
	}
	if a.loss != b.loss {
		return a.loss < b.loss
	}
	return a.index < b.index
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
