package gp

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

func TestMatern52(t *testing.T) {
	tests := []struct{ r, want float64 }{
		{0, 1},
		{0.5, 0.8286491424181253}, // (1 + √5/2 + 5/12)·e^{−√5/2}
		{1, 0.5239941088318203},   // (1 + √5 + 5/3)·e^{−√5}
		{40, 0},
	}
	for _, tt := range tests {
		if got := Matern52(tt.r); !near(got, tt.want, 1e-12) {
			t.Errorf("Matern52(%v) = %v, want %v", tt.r, got, tt.want)
		}
	}
}

// The expected values come from numpy (the textbook posterior with
// explicit inverses) on the same data.
func TestPosteriorMatchesNumpy(t *testing.T) {
	xs := [][]float64{{0.1, 0.2}, {0.4, 0.9}, {0.8, 0.5}}
	ys := []float64{1, -0.5, 2}
	m, err := NewModel(xs, ys, Hyper{LengthScales: []float64{0.3, 0.6}, SignalVar: 1.5, NoiseVar: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		x              []float64
		mean, variance float64
	}{
		{[]float64{0.5, 0.5}, 0.5614667464650387, 0.6424907177246383},
		{[]float64{0.1, 0.2}, 0.9962578751675346, 0.010480253635075964},
		{[]float64{0.9, 0.1}, 1.7743393776126855, 0.8475709700165796},
	}
	for _, tt := range tests {
		mean, v := m.Predict(tt.x)
		if !near(mean, tt.mean, 1e-9) || !near(v, tt.variance, 1e-9) {
			t.Errorf("Predict(%v) = %v, %v; want %v, %v", tt.x, mean, v, tt.mean, tt.variance)
		}
	}
	if got, want := m.LogMarginalLikelihood(), -4.7625677294765545; !near(got, want, 1e-9) {
		t.Errorf("LogMarginalLikelihood = %v, want %v", got, want)
	}
}

func TestExpectedImprovement(t *testing.T) {
	tests := []struct{ mean, sd, best, xi, want float64 }{
		{0, 1, 0, 0, 1 / math.Sqrt(2*math.Pi)}, // φ(0)
		{1, 2, 0.5, 0.1, 0.5335224842344198},
		{1, 0.5, 3, 0.01, 1.9900039030883232},
		{1, 0, 3, 0.01, 1.99}, // no uncertainty: the improvement
		{3, 0, 1, 0.01, 0},    // ...if positive
		{100, 1, 0, 0, 0},     // hopeless
	}
	for _, tt := range tests {
		if got := ExpectedImprovement(tt.mean, tt.sd, tt.best, tt.xi); !near(got, tt.want, 1e-12) {
			t.Errorf("EI(mean %v, sd %v, best %v, xi %v) = %v, want %v", tt.mean, tt.sd, tt.best, tt.xi, got, tt.want)
		}
	}
}

// The analytic gradient of the likelihood agrees with central
// differences.
func TestLikelihoodGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	xs, ys := make([][]float64, 12), make([]float64, 12)
	for i := range xs {
		xs[i] = []float64{rng.Float64(), rng.Float64(), rng.Float64()}
		ys[i] = math.Sin(5*xs[i][0]) + xs[i][1]
	}
	l := newLikelihood(xs, ys, 0.3, 0.8, DefaultBounds)
	u := []float64{-0.5, 0.2, 1, 0.3, -1}
	grad := make([]float64, len(u))
	l.eval(u, grad)
	for k := range u {
		const h = 1e-5
		up, down := append([]float64(nil), u...), append([]float64(nil), u...)
		up[k] += h
		down[k] -= h
		scratch := make([]float64, len(u))
		fd := (l.eval(up, scratch) - l.eval(down, scratch)) / (2 * h)
		if !near(grad[k], fd, 1e-5) {
			t.Errorf("d/du[%d] = %v, central difference %v", k, grad[k], fd)
		}
	}
}

// samplePrior draws a GP's values at xs (seeded).
func samplePrior(t *testing.T, xs [][]float64, h Hyper, seed uint64) []float64 {
	t.Helper()
	n := len(xs)
	chol, err := factorize(h.covMatrix(xs), n)
	if err != nil {
		t.Fatal(err)
	}
	var l mat.TriDense
	chol.LTo(&l)
	rng := rand.New(rand.NewPCG(seed, 0))
	z := mat.NewVecDense(n, nil)
	for i := range n {
		z.SetVec(i, rng.NormFloat64())
	}
	var y mat.VecDense
	y.MulVec(&l, z)
	return y.RawVector().Data
}

func TestFitRecoversLengthScales(t *testing.T) {
	tests := []struct {
		name string
		// truth draws the data; lo and hi bound the fitted length scales.
		truth  Hyper
		lo, hi []float64
	}{
		{"1d", Hyper{LengthScales: []float64{0.2}, SignalVar: 1, NoiseVar: 1e-4},
			[]float64{0.1}, []float64{0.4}},
		// The second input does not matter: its length scale grows.
		{"ard", Hyper{LengthScales: []float64{0.3, 1000}, SignalVar: 1, NoiseVar: 1e-4},
			[]float64{0.15, 3}, []float64{0.6, math.Inf(1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 7))
			dim := len(tt.truth.LengthScales)
			xs := make([][]float64, 40)
			for i := range xs {
				xs[i] = make([]float64, dim)
				for k := range xs[i] {
					xs[i][k] = rng.Float64()
				}
			}
			ys := samplePrior(t, xs, tt.truth, 3)
			m, err := Fit(xs, ys, FitOptions{Restarts: 2, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			got := m.Hyper().LengthScales
			t.Logf("fitted %+v", m.Hyper())
			for k := range got {
				if got[k] < tt.lo[k] || got[k] > tt.hi[k] {
					t.Errorf("length scale %d = %v, want in [%v, %v] (hyper %+v)", k, got[k], tt.lo[k], tt.hi[k], m.Hyper())
				}
			}
		})
	}
}

// Conditioning on a point at its predicted mean (the kriging believer)
// leaves the mean there and shrinks the variance.
func TestConditionAtMean(t *testing.T) {
	xs := [][]float64{{0.1}, {0.5}, {0.9}}
	m, err := NewModel(xs, []float64{1, 0, 2}, Hyper{LengthScales: []float64{0.3}, SignalVar: 1, NoiseVar: 1e-6})
	if err != nil {
		t.Fatal(err)
	}
	p := []float64{0.7}
	mean, v := m.Predict(p)
	m2, err := m.Condition([][]float64{p}, []float64{mean})
	if err != nil {
		t.Fatal(err)
	}
	mean2, v2 := m2.Predict(p)
	if !near(mean2, mean, 1e-6) || v2 > 1e-3*v {
		t.Errorf("after conditioning at the mean: %v, %v; before %v, %v", mean2, v2, mean, v)
	}
}

func TestMaximizeFindsPeak(t *testing.T) {
	score := func(x []float64) float64 { return -(x[0]-0.3)*(x[0]-0.3) - (x[1]-0.71)*(x[1]-0.71) }
	x := Maximize(score, 2, rand.New(rand.NewPCG(1, 1)), MaximizeOptions{Candidates: 50})
	if math.Abs(x[0]-0.3) > 2e-3 || math.Abs(x[1]-0.71) > 2e-3 {
		t.Errorf("Maximize = %v, want near [0.3 0.71]", x)
	}
}

func TestBadData(t *testing.T) {
	h := Hyper{LengthScales: []float64{1}, SignalVar: 1, NoiseVar: 1e-3}
	tests := []struct {
		name string
		xs   [][]float64
		ys   []float64
	}{
		{"lengths", [][]float64{{0}}, []float64{1, 2}},
		{"dims", [][]float64{{0, 1}}, []float64{1}},
		{"nan", [][]float64{{math.NaN()}}, []float64{1}},
		{"inf y", [][]float64{{0}}, []float64{math.Inf(1)}},
	}
	for _, tt := range tests {
		if _, err := NewModel(tt.xs, tt.ys, h); err == nil {
			t.Errorf("%s: NewModel succeeded", tt.name)
		}
	}
	if _, err := Fit(nil, nil, FitOptions{}); err == nil {
		t.Error("Fit with no data succeeded")
	}
}

// BenchmarkFit fits 40 points in six dimensions (three L-BFGS runs).
func BenchmarkFit(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	xs, ys := make([][]float64, 40), make([]float64, 40)
	for i := range xs {
		xs[i] = make([]float64, 6)
		for k := range xs[i] {
			xs[i][k] = rng.Float64()
		}
		ys[i] = math.Sin(6*xs[i][0]) * math.Cos(3*xs[i][1]) * xs[i][2]
	}
	for b.Loop() {
		if _, err := Fit(xs, ys, FitOptions{Restarts: 2, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
