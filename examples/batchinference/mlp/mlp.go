package mlp

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// maxDim bounds every dimension, so that a corrupt file cannot ask for a
// huge allocation.
const maxDim = 1 << 14

// Model is a two-layer perceptron: Predict(x) = softmax(relu(x·W1 + B1)·W2
// + B2). Weights are row-major: W1 is In×Hidden, W2 is Hidden×Out. A
// Model is safe for concurrent Predict calls; Train must not run
// concurrently with anything else on the same Model.
type Model struct {
	In, Hidden, Out int
	W1, B1, W2, B2  []float32
}

func checkDims(in, hidden, out int) error {
	for _, d := range []int{in, hidden, out} {
		if d < 1 || d > maxDim {
			return fmt.Errorf("%w: dimensions %d→%d→%d (each must be in [1, %d])", ErrShape, in, hidden, out, maxDim)
		}
	}
	return nil
}

// New returns an untrained model with He-initialised weights drawn from
// seed and zero biases.
func New(in, hidden, out int, seed uint64) (*Model, error) {
	if err := checkDims(in, hidden, out); err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(seed, 0x6d6c70))
	m := &Model{
		In: in, Hidden: hidden, Out: out,
		W1: make([]float32, in*hidden), B1: make([]float32, hidden),
		W2: make([]float32, hidden*out), B2: make([]float32, out),
	}
	for _, w := range []struct {
		v   []float32
		fan int
	}{{m.W1, in}, {m.W2, hidden}} {
		scale := math.Sqrt(2 / float64(w.fan))
		for i := range w.v {
			w.v[i] = float32(r.NormFloat64() * scale)
		}
	}
	return m, nil
}

func general(rows, cols int, data []float32) blas32.General {
	return blas32.General{Rows: rows, Cols: cols, Stride: cols, Data: data}
}

// forward computes the hidden activations h (rows×Hidden, after ReLU)
// and the output probabilities p (rows×Out) of x (rows×In) into h and p.
func (m *Model) forward(x []float32, rows int, h, p []float32) {
	for r := range rows {
		copy(h[r*m.Hidden:(r+1)*m.Hidden], m.B1)
		copy(p[r*m.Out:(r+1)*m.Out], m.B2)
	}
	blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, general(rows, m.In, x), general(m.In, m.Hidden, m.W1), 1, general(rows, m.Hidden, h))
	for i, v := range h {
		if v < 0 {
			h[i] = 0
		}
	}
	blas32.Gemm(blas.NoTrans, blas.NoTrans, 1, general(rows, m.Hidden, h), general(m.Hidden, m.Out, m.W2), 1, general(rows, m.Out, p))
	for r := range rows {
		softmax(p[r*m.Out : (r+1)*m.Out])
	}
}

func softmax(z []float32) {
	hi := z[0]
	for _, v := range z[1:] {
		hi = max(hi, v)
	}
	var sum float32
	for i, v := range z {
		e := float32(math.Exp(float64(v - hi)))
		z[i] = e
		sum += e
	}
	for i := range z {
		z[i] /= sum
	}
}

// Predict returns the class probabilities (rows×Out, row-major) of batch
// (rows×In, row-major). Ray's equivalent is the __call__ of the callable
// class given to map_batches.
func (m *Model) Predict(batch []float32, rows int) ([]float32, error) {
	if rows < 0 || len(batch) != rows*m.In {
		return nil, fmt.Errorf("%w: batch of %d values is not %d rows of %d inputs", ErrShape, len(batch), rows, m.In)
	}
	p := make([]float32, rows*m.Out)
	if rows == 0 {
		return p, nil
	}
	m.forward(batch, rows, make([]float32, rows*m.Hidden), p)
	return p, nil
}

// Argmax returns each row's most likely class from Predict's output.
func (m *Model) Argmax(probs []float32) []int {
	rows := len(probs) / m.Out
	out := make([]int, rows)
	for r := range rows {
		row := probs[r*m.Out : (r+1)*m.Out]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		out[r] = best
	}
	return out
}

// Accuracy is the fraction of x's rows (len(labels) of them) that the
// model classifies as labels says.
func (m *Model) Accuracy(x []float32, labels []int) (float64, error) {
	p, err := m.Predict(x, len(labels))
	if err != nil {
		return 0, err
	}
	right := 0
	for i, c := range m.Argmax(p) {
		if c == labels[i] {
			right++
		}
	}
	return float64(right) / float64(len(labels)), nil
}

// trainBatch is Train's mini-batch size.
const trainBatch = 32

// Train fits the model to x (len(labels) rows of In values) and labels
// (each in [0, Out)) by mini-batch SGD on the cross-entropy loss, epochs
// passes in an order shuffled from seed, at learning rate lr. It returns
// the last epoch's mean loss. (Ray has no equivalent here: its examples
// load a model trained elsewhere, as the examples load the shipped model.bin.)
func (m *Model) Train(x []float32, labels []int, epochs int, lr float32, seed uint64) (float64, error) {
	n := len(labels)
	if n == 0 || len(x) != n*m.In {
		return 0, fmt.Errorf("%w: %d values are not %d rows of %d inputs", ErrShape, len(x), n, m.In)
	}
	for i, c := range labels {
		if c < 0 || c >= m.Out {
			return 0, fmt.Errorf("%w: label %d of row %d is not in [0, %d)", ErrShape, c, i, m.Out)
		}
	}
	if epochs < 1 || !(lr > 0) || math.IsInf(float64(lr), 0) {
		return 0, fmt.Errorf("%w: epochs %d, learning rate %v", ErrBadParam, epochs, lr)
	}
	r := rand.New(rand.NewPCG(seed, 0x747261696e))
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	var (
		xb = make([]float32, trainBatch*m.In)
		h  = make([]float32, trainBatch*m.Hidden)
		p  = make([]float32, trainBatch*m.Out)
		dh = make([]float32, trainBatch*m.Hidden)
	)
	var loss float64
	for range epochs {
		r.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		loss = 0
		for start := 0; start < n; start += trainBatch {
			b := min(trainBatch, n-start)
			for i := range b {
				copy(xb[i*m.In:(i+1)*m.In], x[order[start+i]*m.In:])
			}
			m.forward(xb[:b*m.In], b, h[:b*m.Hidden], p[:b*m.Out])
			// p becomes dL/dz: (softmax - one-hot) / b.
			for i := range b {
				row := p[i*m.Out : (i+1)*m.Out]
				c := labels[order[start+i]]
				loss -= math.Log(math.Max(float64(row[c]), 1e-30))
				row[c]--
				for j := range row {
					row[j] /= float32(b)
				}
			}
			m.backward(xb[:b*m.In], b, h[:b*m.Hidden], p[:b*m.Out], dh[:b*m.Hidden], lr)
		}
		loss /= float64(n)
	}
	if math.IsNaN(loss) {
		return loss, fmt.Errorf("%w: the loss diverged (learning rate %v too high?)", ErrBadParam, lr)
	}
	return loss, nil
}

// backward applies one SGD step from the output gradient dz (b×Out),
// given the batch's x and hidden activations h.
func (m *Model) backward(x []float32, b int, h, dz, dh []float32, lr float32) {
	// dh = dz·W2ᵀ, masked by ReLU, before W2 changes.
	blas32.Gemm(blas.NoTrans, blas.Trans, 1, general(b, m.Out, dz), general(m.Hidden, m.Out, m.W2), 0, general(b, m.Hidden, dh))
	for i, v := range h {
		if v <= 0 {
			dh[i] = 0
		}
	}
	// W2 -= lr·hᵀ·dz, W1 -= lr·xᵀ·dh.
	blas32.Gemm(blas.Trans, blas.NoTrans, -lr, general(b, m.Hidden, h), general(b, m.Out, dz), 1, general(m.Hidden, m.Out, m.W2))
	blas32.Gemm(blas.Trans, blas.NoTrans, -lr, general(b, m.In, x), general(b, m.Hidden, dh), 1, general(m.In, m.Hidden, m.W1))
	for i := range b {
		for j, g := range dz[i*m.Out : (i+1)*m.Out] {
			m.B2[j] -= lr * g
		}
		for j, g := range dh[i*m.Hidden : (i+1)*m.Hidden] {
			m.B1[j] -= lr * g
		}
	}
}
