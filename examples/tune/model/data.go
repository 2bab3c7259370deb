package model

import (
	"math"
	"math/rand/v2"
)

// DataConfig describes the two-spirals data set.
type DataConfig struct {
	// N is the number of points, both spirals and both splits together.
	N int
	// ValidFraction is the share of the points held out for validation.
	ValidFraction float64
	// Noise is the standard deviation of the Gaussian noise added to
	// each coordinate; the spirals' radius grows to 1.
	Noise float64
	// Turns is how many times each spiral winds around the centre: the
	// more turns, the harder the problem.
	Turns float64
	// Seed seeds the data's generator.
	Seed uint64
}

// Dataset holds points (X[2i], X[2i+1]) with labels Y[i] (0 or 1).
type Dataset struct {
	X []float64
	Y []float64
}

// Len is the number of points.
func (d Dataset) Len() int { return len(d.Y) }

// spirals makes the training and validation sets of c. Points are drawn
// independently, alternating between the spirals, so any split of them
// is balanced and drawn from the same distribution.
func spirals(c DataConfig) (train, valid Dataset) {
	rng := rand.New(rand.NewPCG(c.Seed, 1))
	all := Dataset{X: make([]float64, 2*c.N), Y: make([]float64, c.N)}
	for i := range c.N {
		label := i % 2
		// sqrt spreads the points evenly over the spiral's area rather
		// than crowding them near the centre.
		t := math.Sqrt(rng.Float64())
		angle := 2*math.Pi*c.Turns*t + math.Pi*float64(label)
		all.X[2*i] = t*math.Cos(angle) + c.Noise*rng.NormFloat64()
		all.X[2*i+1] = t*math.Sin(angle) + c.Noise*rng.NormFloat64()
		all.Y[i] = float64(label)
	}
	nValid := int(math.Round(c.ValidFraction * float64(c.N)))
	nTrain := c.N - nValid
	train = Dataset{X: all.X[:2*nTrain], Y: all.Y[:nTrain]}
	valid = Dataset{X: all.X[2*nTrain:], Y: all.Y[nTrain:]}
	return train, valid
}
