package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"gonum.org/v1/gonum/mat"
)

// hyper is one training run's settings. The driver sends them to the
// workers as the loop's train.Config; both sides rebuild the same data,
// initial weights and batches from them, so nothing else needs shipping.
type hyper struct {
	rows, features int     // the dataset's size
	seed           uint64  // data and initial weights
	steps, batch   int     // SGD steps, each on a global batch of batch rows
	lr, momentum   float64 // the optimiser
	ckptEvery      int     // steps between checkpoints (the last step has one too)
	killRank       int     // this rank kills its own process (attempt 0 only); -1 none
	killStep       int     // at the start of this step (0-based)
}

// dataset is a binary classification problem: X is rows×features, y is 0
// or 1 per row.
type dataset struct {
	x *mat.Dense
	y []float64
}

// makeData draws two Gaussian blobs (unit variance) whose means are ±1.25
// along a random unit direction, labels in random order: the classes
// overlap, so the best linear model gets about 89% right (Φ(1.25)).
func makeData(h hyper) *dataset {
	rng := rand.New(rand.NewPCG(h.seed, 0xda7a))
	dir := make([]float64, h.features)
	norm := 0.0
	for i := range dir {
		dir[i] = rng.NormFloat64()
		norm += dir[i] * dir[i]
	}
	norm = math.Sqrt(norm)
	x := mat.NewDense(h.rows, h.features, nil)
	y := make([]float64, h.rows)
	for r := range h.rows {
		sign := -1.0
		if rng.IntN(2) == 1 {
			y[r], sign = 1, 1
		}
		row := x.RawRowView(r)
		for i := range row {
			row[i] = sign*1.25*dir[i]/norm + rng.NormFloat64()
		}
	}
	return &dataset{x: x, y: y}
}

// batchRows is the global batch of a step: the next batch rows, wrapping
// around the dataset (its rows are already in random order).
func batchRows(step, batch, rows int) []int {
	idx := make([]int, batch)
	for i := range idx {
		idx[i] = (step*batch + i) % rows
	}
	return idx
}

// shard is a rank's share of a global batch: every size-th row from its
// rank on.
func shard(global []int, rank, size int) []int {
	var mine []int
	for i := rank; i < len(global); i += size {
		mine = append(mine, global[i])
	}
	return mine
}

// gradient writes into grad (features weights, then the bias) the
// gradient of the SUM of the rows' log losses under theta, and returns
// that sum and how many of the rows theta classifies right. A sum, not a
// mean, so that the ranks' gradients add up (AllReduce Sum) to the
// global batch's.
func (d *dataset) gradient(theta []float64, rows []int, grad []float64) (loss float64, correct int) {
	clear(grad)
	if len(rows) == 0 {
		return 0, 0
	}
	f := len(theta) - 1
	xb := mat.NewDense(len(rows), f, nil)
	for i, r := range rows {
		xb.SetRow(i, d.x.RawRowView(r))
	}
	z := mat.NewVecDense(len(rows), nil)
	z.MulVec(xb, mat.NewVecDense(f, theta[:f]))
	resid := mat.NewVecDense(len(rows), nil)
	for i, r := range rows {
		zi, y := z.AtVec(i)+theta[f], d.y[r]
		loss += softplus(zi) - y*zi // -log σ(z) for y=1, -log(1-σ(z)) for y=0
		resid.SetVec(i, sigmoid(zi)-y)
		grad[f] += resid.AtVec(i)
		if (zi > 0) == (y == 1) {
			correct++
		}
	}
	mat.NewVecDense(f, grad[:f]).MulVec(xb.T(), resid)
	return loss, correct
}

// accuracy is the share of all rows theta classifies right.
func (d *dataset) accuracy(theta []float64) float64 {
	n, f := d.x.Dims()
	z := mat.NewVecDense(n, nil)
	z.MulVec(d.x, mat.NewVecDense(f, theta[:f]))
	right := 0
	for r := range n {
		if (z.AtVec(r)+theta[f] > 0) == (d.y[r] == 1) {
			right++
		}
	}
	return float64(right) / float64(n)
}

// softplus is log(1+e^z), without overflow for large |z|.
func softplus(z float64) float64 { return max(z, 0) + math.Log1p(math.Exp(-math.Abs(z))) }

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// state is what training carries from step to step, and so what a
// checkpoint holds: the optimiser's velocity as well as the weights, or a
// resumed run would not take the same steps as one never interrupted.
type state struct {
	Step     int       `json:"step"`     // steps done
	Theta    []float64 `json:"theta"`    // the weights, then the bias
	Velocity []float64 `json:"velocity"` // momentum's running update
}

// newState is the initial model: small random weights from the seed,
// zero bias and velocity.
func newState(h hyper) *state {
	rng := rand.New(rand.NewPCG(h.seed, 0x1417))
	s := &state{Theta: make([]float64, h.features+1), Velocity: make([]float64, h.features+1)}
	for i := range h.features {
		s.Theta[i] = 0.01 * rng.NormFloat64()
	}
	return s
}

// apply takes one SGD-with-momentum step with sum, the gradient summed
// over a global batch of batch rows.
func (s *state) apply(sum []float64, h hyper) {
	for i := range s.Theta {
		s.Velocity[i] = h.momentum*s.Velocity[i] + sum[i]/float64(h.batch)
		s.Theta[i] -= h.lr * s.Velocity[i]
	}
	s.Step++
}

const stateFile = "state.json"

// save writes s into dir. JSON keeps a float64 exactly (Go writes the
// shortest form that reads back to the same bits), so a resumed run
// continues from the very weights it saved.
func (s *state) save(dir string) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, stateFile), b, 0o600)
}

func loadState(dir string, h hyper) (*state, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, stateFile), err)
	}
	if len(s.Theta) != h.features+1 || len(s.Velocity) != h.features+1 || s.Step < 0 || s.Step > h.steps {
		return nil, fmt.Errorf("%s: a checkpoint of another model (step %d, %d weights)", dir, s.Step, len(s.Theta))
	}
	return &s, nil
}

// reference trains in one process on the same global batches, for the
// driver to compare the workers' weights with.
func reference(h hyper) *state {
	d, s := makeData(h), newState(h)
	grad := make([]float64, h.features+1)
	for s.Step < h.steps {
		d.gradient(s.Theta, batchRows(s.Step, h.batch, h.rows), grad)
		s.apply(grad, h)
	}
	return s
}
