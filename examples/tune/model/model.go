package model

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/floats"
)

// A Model is a 2-Hidden-Hidden-1 perceptron with its data, its optimiser's
// state and its generator. It is not safe for concurrent use.
type Model struct {
	cfg          Config
	train, valid Dataset
	// params holds every weight and bias, laid out as offsets says;
	// velocity is momentum's running update, grad the current batch's
	// gradient, decay 1 where weight decay applies (weights) and 0 where
	// it does not (biases).
	params, velocity, grad, decay []float64
	off                           offsets
	pcg                           *rand.PCG // initial weights, then minibatch order
	rng                           *rand.Rand
	order                         []int
	epochs                        int
	// scratch for one point's forward and backward passes.
	a1, a2, d1, d2 []float64
}

// offsets locates each layer's weights and biases in Model.params:
// w1 is Hidden×2, w2 Hidden×Hidden, w3 1×Hidden, row-major.
type offsets struct {
	w1, b1, w2, b2, w3, b3, n int
}

func layout(h int) offsets {
	var o offsets
	o.w1 = 0
	o.b1 = o.w1 + 2*h
	o.w2 = o.b1 + h
	o.b2 = o.w2 + h*h
	o.w3 = o.b2 + h
	o.b3 = o.w3 + h
	o.n = o.b3 + 1
	return o
}

// New makes a model of cfg with fresh weights (Gaussian, scaled by
// 1/sqrt(fan-in)) and zero biases.
func New(cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := newUninitialised(cfg)
	h := cfg.Hidden
	init := func(start, count, fanIn int) {
		scale := 1 / math.Sqrt(float64(fanIn))
		for i := start; i < start+count; i++ {
			m.params[i] = scale * m.rng.NormFloat64()
		}
	}
	init(m.off.w1, 2*h, 2)
	init(m.off.w2, h*h, h)
	init(m.off.w3, h, h)
	return m, nil
}

// newUninitialised allocates a model of a valid cfg with zero weights
// and makes its data.
func newUninitialised(cfg Config) *Model {
	h := cfg.Hidden
	off := layout(h)
	m := &Model{
		cfg:      cfg,
		off:      off,
		params:   make([]float64, off.n),
		velocity: make([]float64, off.n),
		grad:     make([]float64, off.n),
		decay:    make([]float64, off.n),
		pcg:      rand.NewPCG(cfg.Seed, 2),
		a1:       make([]float64, h),
		a2:       make([]float64, h),
		d1:       make([]float64, h),
		d2:       make([]float64, h),
	}
	m.rng = rand.New(m.pcg)
	for _, r := range [][2]int{{off.w1, off.b1}, {off.w2, off.b2}, {off.w3, off.b3}} {
		for i := r[0]; i < r[1]; i++ {
			m.decay[i] = 1
		}
	}
	m.train, m.valid = spirals(cfg.Data)
	m.order = make([]int, m.train.Len())
	return m
}

// Config returns the model's configuration.
func (m *Model) Config() Config { return m.cfg }

// Epochs is the number of epochs trained so far.
func (m *Model) Epochs() int { return m.epochs }

// Train runs n epochs and returns the last one's training loss (NaN if
// n < 1).
func (m *Model) Train(n int) float64 {
	loss := math.NaN()
	for range n {
		loss = m.Epoch()
	}
	return loss
}

// Epoch makes one pass over the training points in a fresh random order,
// one SGD-with-momentum step per minibatch, and returns the mean training
// loss (binary cross-entropy) seen during the pass. A learning rate too
// large for the problem can make it NaN or infinite; it stays so.
func (m *Model) Epoch() float64 {
	// The order starts from the identity each epoch, so that it depends
	// on the generator's state alone, which a checkpoint keeps.
	for i := range m.order {
		m.order[i] = i
	}
	m.rng.Shuffle(len(m.order), func(i, j int) { m.order[i], m.order[j] = m.order[j], m.order[i] })
	var total float64
	for start := 0; start < len(m.order); start += m.cfg.BatchSize {
		batch := m.order[start:min(start+m.cfg.BatchSize, len(m.order))]
		clear(m.grad)
		for _, i := range batch {
			total += m.backward(m.train.X[2*i], m.train.X[2*i+1], m.train.Y[i])
		}
		m.step(len(batch))
	}
	m.epochs++
	return total / float64(len(m.order))
}

// step applies the batch's mean gradient plus weight decay:
// v = momentum*v - lr*(g + wd*w); w += v.
func (m *Model) step(batchLen int) {
	inv := 1 / float64(batchLen)
	lr, mom, wd := m.cfg.LR, m.cfg.Momentum, m.cfg.WeightDecay
	for i, w := range m.params {
		g := m.grad[i]*inv + wd*m.decay[i]*w
		m.velocity[i] = mom*m.velocity[i] - lr*g
		m.params[i] = w + m.velocity[i]
	}
}

// forward computes the hidden activations into m.a1, m.a2 and returns
// the output's logit.
func (m *Model) forward(x0, x1 float64) float64 {
	h, p, o := m.cfg.Hidden, m.params, m.off
	for j := range h {
		m.a1[j] = math.Tanh(p[o.w1+2*j]*x0 + p[o.w1+2*j+1]*x1 + p[o.b1+j])
	}
	z := p[o.b3]
	for k := range h {
		row := p[o.w2+k*h : o.w2+(k+1)*h]
		m.a2[k] = math.Tanh(p[o.b2+k] + floats.Dot(row, m.a1))
		z += p[o.w3+k] * m.a2[k]
	}
	return z
}

// backward adds one point's loss gradient to m.grad and returns its loss.
func (m *Model) backward(x0, x1, y float64) float64 {
	z := m.forward(x0, x1)
	h, p, g, o := m.cfg.Hidden, m.params, m.grad, m.off
	dz := sigmoid(z) - y
	g[o.b3] += dz
	clear(m.d1)
	for k := range h {
		g[o.w3+k] += dz * m.a2[k]
		d2 := dz * p[o.w3+k] * (1 - m.a2[k]*m.a2[k])
		g[o.b2+k] += d2
		row := p[o.w2+k*h : o.w2+(k+1)*h]
		grow := g[o.w2+k*h : o.w2+(k+1)*h]
		floats.AddScaled(grow, d2, m.a1)
		floats.AddScaled(m.d1, d2, row)
	}
	for j := range h {
		d1 := m.d1[j] * (1 - m.a1[j]*m.a1[j])
		g[o.w1+2*j] += d1 * x0
		g[o.w1+2*j+1] += d1 * x1
		g[o.b1+j] += d1
	}
	return logLoss(z, y)
}

// Predict returns the probability that the point (x0, x1) is on spiral 1.
func (m *Model) Predict(x0, x1 float64) float64 { return sigmoid(m.forward(x0, x1)) }

// ValidLoss is the mean binary cross-entropy on the validation points.
func (m *Model) ValidLoss() float64 {
	var total float64
	for i := range m.valid.Len() {
		total += logLoss(m.forward(m.valid.X[2*i], m.valid.X[2*i+1]), m.valid.Y[i])
	}
	return total / float64(m.valid.Len())
}

// Accuracy is the share of validation points classified correctly
// (probability above one half for spiral 1).
func (m *Model) Accuracy() float64 {
	correct := 0
	for i := range m.valid.Len() {
		z := m.forward(m.valid.X[2*i], m.valid.X[2*i+1])
		if (z > 0) == (m.valid.Y[i] == 1) {
			correct++
		}
	}
	return float64(correct) / float64(m.valid.Len())
}

// Valid returns the validation set (shared, not to be changed).
func (m *Model) Valid() Dataset { return m.valid }

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// logLoss is the binary cross-entropy of logit z against label y, in a
// form that neither overflows nor takes the log of 0.
func logLoss(z, y float64) float64 {
	return math.Max(z, 0) - z*y + math.Log1p(math.Exp(-math.Abs(z)))
}
