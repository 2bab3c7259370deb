package tpe

import (
	"math"
	"math/rand/v2"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestBandwidths(t *testing.T) {
	uni := DefaultConfig()
	noClip := uni
	noClip.MagicClip = false
	endpoints := uni
	endpoints.ConsiderEndpoints = true
	multi := uni
	multi.Multivariate = true
	multiNoClip := multi
	multiNoClip.MagicClip = false
	for _, tc := range []struct {
		name      string
		mus       []float64 // the prior's centre last
		low, high float64
		sigma0    float64
		cfg       Config
		want      []float64
	}{
		// Sorted with the ends: 0 .2 .5 .9 1: the larger neighbour gap,
		// except the outermost which ignore the ends.
		{"gaps", []float64{0.2, 0.9, 0.5}, 0, 1, 0, uni, []float64{0.3, 0.4, 0.4}},
		// The end gaps count: 0.2's left gap .2 < .3; 0.9's right .1 < .4.
		{"endpoints", []float64{0.2, 0.9, 0.5}, 0, 1, 0, endpoints, []float64{0.3, 0.4, 0.4}},
		// Sorted .5 .6 .7: the end gaps .5 and .3 count; .1 clips to .25.
		{"endpoints widen", []float64{0.6, 0.7, 0.5}, 0, 1, 0, endpoints, []float64{0.25, 0.3, 0.5}},
		// Gaps of 0 and .01 clip up to range/min(100, 1+3) = .25.
		{"magic clip", []float64{0.5, 0.51, 0.5}, 0, 1, 0, uni, []float64{0.25, 0.25, 0.25}},
		{"no magic clip", []float64{0.5, 0.51, 0.5}, 0, 1, 0, noClip, []float64{1e-12, 0.01, 0.01}},
		// Scott's rule: sigma0 times the range, for every kernel.
		{"multivariate", []float64{1, 2, 5}, 0, 10, 0.2 * math.Pow(16, -0.2), multiNoClip, []float64{1.1487, 1.1487, 1.1487}},
		// The magic clip lifts it to 10/min(100, 1+3).
		{"multivariate clipped", []float64{1, 2, 5}, 0, 10, 0.2 * math.Pow(16, -0.2), multi, []float64{2.5, 2.5, 2.5}},
		// Clipped above to the range.
		{"max", []float64{1, 5}, 0, 10, 2, multi, []float64{10, 10}},
	} {
		got := bandwidths(make([]float64, len(tc.mus)), tc.mus, tc.low, tc.high, tc.sigma0, &tc.cfg)
		for i := range got {
			if !near(got[i], tc.want[i], 1e-4) {
				t.Errorf("%s: sigma[%d] = %v, want %v", tc.name, i, got[i], tc.want[i])
			}
		}
	}
}

func TestCategoricalProbabilities(t *testing.T) {
	cfg := DefaultConfig()
	e := newEstimator([]Dim{{Kind: Categorical, N: 3}}, [][]float64{{0}, {2}}, &cfg, nil)
	want := []float64{
		2.0 / 3, 1.0 / 6, 1.0 / 6, // (1/3 + 1 on choice 0) / 2
		1.0 / 6, 1.0 / 6, 2.0 / 3,
		1.0 / 3, 1.0 / 3, 1.0 / 3, // the prior
	}
	for i, p := range e.catProbs[0] {
		if !near(p, want[i], 1e-12) {
			t.Errorf("prob[%d] = %v, want %v", i, p, want[i])
		}
	}
	// The mixture: weights 1/3 each.
	out := make([]float64, 3)
	e.logPDF([][]float64{{0}, {1}, {2}}, out)
	for k, wantP := range []float64{(2.0/3 + 1.0/6 + 1.0/3) / 3, (1.0/6 + 1.0/6 + 1.0/3) / 3, (1.0/6 + 2.0/3 + 1.0/3) / 3} {
		if !near(math.Exp(out[k]), wantP, 1e-12) {
			t.Errorf("p(%d) = %v, want %v", k, math.Exp(out[k]), wantP)
		}
	}
}

// TestDensityIntegratesToOne checks the kernels' normalisation: with
// NormalizeKernels a continuous estimator's density integrates to 1 over
// its range (in model space); a discrete one's masses sum to 1 over the
// grid either way.
func TestDensityIntegratesToOne(t *testing.T) {
	for _, tc := range []struct {
		name string
		dim  Dim
		xs   []float64
		cfg  func(*Config)
	}{
		{"float", Dim{Kind: Float, Low: -2, High: 3}, []float64{-1.9, 0, 0.1, 2.9}, nil},
		{"float multivariate", Dim{Kind: Float, Low: -2, High: 3}, []float64{-1.9, 0, 0.1, 2.9}, func(c *Config) { c.Multivariate = true }},
		{"log float", Dim{Kind: Float, Low: 1e-3, High: 10, Log: true}, []float64{0.001, 0.5, 9}, nil},
		{"log int", Dim{Kind: Int, Low: 1, High: 100, Log: true}, []float64{1, 7, 100}, nil},
		{"no prior", Dim{Kind: Float, Low: 0, High: 1}, []float64{0.3, 0.31, 0.9}, func(c *Config) { c.ConsiderPrior = false; c.MagicClip = false }},
		{"int", Dim{Kind: Int, Low: -3, High: 4}, []float64{-3, 0, 4}, nil},
		{"stepped float", Dim{Kind: Float, Low: 0, High: 1, Step: 0.25}, []float64{0, 0.75}, nil},
	} {
		cfg := DefaultConfig()
		cfg.NormalizeKernels = true
		if tc.cfg != nil {
			tc.cfg(&cfg)
		}
		xs := make([][]float64, len(tc.xs))
		for i, x := range tc.xs {
			xs[i] = []float64{x}
		}
		e := newEstimator([]Dim{tc.dim}, xs, &cfg, nil)
		var points [][]float64
		var width float64
		if q := tc.dim.step(); q > 0 {
			for x := tc.dim.Low; x <= tc.dim.High+1e-9; x += q {
				points = append(points, []float64{x})
			}
			width = 1
		} else {
			// Midpoint rule over the model space.
			lo, hi, _ := tc.dim.parzenBounds()
			const n = 20000
			width = (hi - lo) / n
			for i := range n {
				m := lo + (float64(i)+0.5)*width
				if tc.dim.Log {
					m = math.Exp(m)
				}
				points = append(points, []float64{m})
			}
		}
		out := make([]float64, len(points))
		e.logPDF(points, out)
		var total float64
		for _, lp := range out {
			total += math.Exp(lp) * width
		}
		if !near(total, 1, 2e-3) {
			t.Errorf("%s: density sums to %v, want 1", tc.name, total)
		}
	}
}

// TestOptunaKernels: by default a continuous kernel's log density is
// Optuna 3.1's, log φ(z) - log mass, without -log σ.
func TestOptunaKernels(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ConsiderPrior = false
	// One kernel at 0.5 on [0, 1]: its bandwidth is the clip's 1/2
	// (range/min(100, 1+1)), so z = 0.5 at x = 0.75 and the mass is that
	// of [-1, 1].
	e := newEstimator([]Dim{{Kind: Float, Low: 0, High: 1}}, [][]float64{{0.5}}, &cfg, nil)
	out := make([]float64, 1)
	e.logPDF([][]float64{{0.75}}, out)
	want := -0.125 - logSqrt2Pi - math.Log(0.6826894921370859)
	if !near(out[0], want, 1e-12) {
		t.Errorf("log pdf %v, want %v", out[0], want)
	}
	cfg.NormalizeKernels = true
	e = newEstimator([]Dim{{Kind: Float, Low: 0, High: 1}}, [][]float64{{0.5}}, &cfg, nil)
	e.logPDF([][]float64{{0.75}}, out)
	if !near(out[0], want-math.Log(0.5), 1e-12) {
		t.Errorf("normalised log pdf %v, want %v", out[0], want-math.Log(0.5))
	}
}

// TestSharedKernelsAgree: the matrix-product path for shared bandwidths
// gives the pairwise loop's densities.
func TestSharedKernelsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	dims := []Dim{{Kind: Float, Low: -5, High: 10}, {Kind: Float, Low: 1e-3, High: 1, Log: true}, {Kind: Float, Low: 0, High: 1}}
	cfg := DefaultConfig()
	cfg.Multivariate = true
	for _, n := range []int{minSharedRows, 300} {
		xs := make([][]float64, n)
		for i := range xs {
			xs[i] = []float64{dims[0].sampleUniform(rng), dims[1].sampleUniform(rng), dims[2].sampleUniform(rng)}
		}
		e := newEstimator(dims, xs, &cfg, nil)
		if e.shared == nil {
			t.Fatalf("n=%d: no shared kernels", n)
		}
		points := e.sample(rng, 24)
		fast, slow := make([]float64, 24), make([]float64, 24)
		e.logPDF(points, fast)
		e.shared = nil
		e.logPDF(points, slow)
		for i := range fast {
			if !near(fast[i], slow[i], 1e-9) {
				t.Errorf("n=%d point %d: %v by matrix product, %v pairwise", n, i, fast[i], slow[i])
			}
		}
	}
}
