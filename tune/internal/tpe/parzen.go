package tpe

import (
	"math"
	"math/rand/v2"
	"slices"
)

// sigma0Magnitude scales the multivariate kernels' common bandwidth
// (Scott's rule as in BOHB; Optuna's SIGMA0_MAGNITUDE).
const sigma0Magnitude = 0.2

// minSigmaNoClip is the smallest bandwidth without the magic clip.
const minSigmaNoClip = 1e-12

// An estimator is a Parzen estimator (a weighted mixture of one kernel
// per observation, plus the prior's) over some of the space's
// dimensions: l(x) over the below group or g(x) over the above group.
// Each component is a product of one kernel per dimension: a truncated
// normal for numeric dimensions, a smoothed one-hot distribution for
// categorical ones.
type estimator struct {
	dims  []Dim
	nComp int
	// cumWeights are the components' cumulative weights, to draw one.
	cumWeights []float64
	// Per dimension: the kernels' range and grid step in model space.
	low, high, q []float64
	// Per component c and dimension d at c*len(dims)+d: the kernel's
	// centre and 1/bandwidth (numeric), and for discrete dimensions the
	// log of its mass inside [low, high].
	mu, invSigma, logMass []float64
	// catProbs[d] holds, for a categorical dimension, component c's
	// probability of choice k at c*N+k; catLogProbs their logs.
	catProbs, catLogProbs [][]float64
	// logConst[c] is component c's log weight plus its continuous
	// kernels' normalising terms, which do not depend on the point.
	logConst []float64
	// The dimensions by how their density is computed.
	continuous, discrete, categorical []int
	// shared, if set, evaluates the observation components at once.
	shared *sharedKernels
	ws     *arena // where its slices come from
}

// newEstimator fits an estimator to the points xs (values as in
// Observation.X, restricted to dims), oldest first; its slices come from
// ws. The multivariate bandwidth counts len(dims) dimensions.
func newEstimator(dims []Dim, xs [][]float64, cfg *Config, ws *arena) *estimator {
	n := len(xs)
	prior := cfg.ConsiderPrior || n == 0
	nComp := n
	if prior {
		nComp++
	}
	D := len(dims)
	e := &estimator{
		dims: dims, nComp: nComp,
		low: make([]float64, D), high: make([]float64, D), q: make([]float64, D),
		mu: ws.take(nComp * D), invSigma: ws.take(nComp * D),
		catProbs: make([][]float64, D), catLogProbs: make([][]float64, D),
		logConst: ws.take(nComp), ws: ws,
	}

	// Component weights: Optuna's default weights, then the prior's.
	w := Weights(n)
	if prior {
		w = append(w, cfg.PriorWeight)
	}
	var total float64
	for _, v := range w {
		total += v
	}
	e.cumWeights = ws.take(nComp)
	var cum float64
	for c, v := range w {
		v /= total
		cum += v
		e.cumWeights[c] = cum
		e.logConst[c] = math.Log(v)
	}

	var sigma0 float64
	if cfg.Multivariate {
		sigma0 = sigma0Magnitude * math.Pow(float64(max(n, 1)), -1/float64(D+4))
	}
	col := ws.take(n)
	massProd := ws.take(nComp)
	for c := range massProd {
		massProd[c] = 1
	}
	for d, dim := range dims {
		for i, x := range xs {
			col[i] = x[d]
		}
		if dim.Kind == Categorical {
			e.categorical = append(e.categorical, d)
			e.fitCategorical(d, dim, col, prior, cfg.PriorWeight)
			continue
		}
		low, high, q := dim.parzenBounds()
		e.low[d], e.high[d], e.q[d] = low, high, q
		mus := ws.take(nComp)
		for i, x := range col {
			mus[i] = dim.toModel(x)
		}
		if prior {
			mus[n] = (low + high) / 2
		}
		sigmas := bandwidths(ws.take(nComp), mus, low, high, sigma0, cfg)
		if prior {
			sigmas[n] = high - low
		}
		if q > 0 {
			e.discrete = append(e.discrete, d)
		} else {
			e.continuous = append(e.continuous, d)
		}
		logSigma, lastSigma := 0.0, math.NaN()
		for c := range nComp {
			i := c*D + d
			sigma := sigmas[c]
			e.mu[i], e.invSigma[i] = mus[c], 1/sigma
			a, b := (low-mus[c])/sigma, (high-mus[c])/sigma
			if q > 0 {
				if e.logMass == nil {
					e.logMass = ws.take(nComp * D)
				}
				e.logMass[i] = logGaussMass(a, b)
				continue
			}
			if cfg.NormalizeKernels && sigma != lastSigma { // multivariate kernels share one
				logSigma, lastSigma = math.Log(sigma), sigma
			}
			e.logConst[c] -= logSigma + logSqrt2Pi
			// A centre lies inside the range, so a <= 0 <= b, and the
			// mass is 1 - Φ(a) - Φ(-b), at least 0.34 (σ <= the range);
			// the product over dimensions takes one log below.
			massProd[c] *= 1 - phiLow(a) - phiLow(-b)
		}
	}
	for c, m := range massProd {
		e.logConst[c] -= math.Log(m)
	}
	e.share(n)
	return e
}

// bandwidths are the numeric kernels' standard deviations (the prior's,
// last if present, is overwritten by the caller): a common one from
// Scott's rule when multivariate, else the larger gap to a neighbouring
// centre; then clipped to [range/min(100, 1+components), range] (the
// "magic clip") or [1e-12, range].
func bandwidths(sigmas, mus []float64, low, high, sigma0 float64, cfg *Config) []float64 {
	m := len(mus)
	if cfg.Multivariate {
		for i := range sigmas {
			sigmas[i] = sigma0 * (high - low)
		}
	} else {
		order := make([]int, m)
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmpFloat(mus[a], mus[b]) })
		// Sorted centres with the range's ends around them.
		s := make([]float64, m+2)
		s[0], s[m+1] = low, high
		for k, i := range order {
			s[k+1] = mus[i]
		}
		sorted := make([]float64, m)
		for k := range sorted {
			sorted[k] = math.Max(s[k+1]-s[k], s[k+2]-s[k+1])
		}
		if !cfg.ConsiderEndpoints && m >= 2 {
			// The outermost kernels ignore the gap to the range's end.
			sorted[0] = s[2] - s[1]
			sorted[m-1] = s[m] - s[m-1]
		}
		for k, i := range order {
			sigmas[i] = sorted[k]
		}
	}
	maxSigma := high - low
	minSigma := minSigmaNoClip
	if cfg.MagicClip {
		minSigma = (high - low) / math.Min(100, 1+float64(m))
	}
	for i, s := range sigmas {
		sigmas[i] = math.Max(minSigma, math.Min(maxSigma, s))
	}
	return sigmas
}

// fitCategorical sets each component's choice probabilities: the prior
// weight spread evenly over the choices, plus 1 on the observed choice,
// normalised; the prior's component is uniform.
func (e *estimator) fitCategorical(d int, dim Dim, col []float64, prior bool, priorWeight float64) {
	k := dim.N
	n := len(col)
	spread := priorWeight / float64(n)
	if prior {
		spread = priorWeight / float64(n+1)
	}
	probs := make([]float64, e.nComp*k)
	logs := make([]float64, e.nComp*k)
	for c := range e.nComp {
		row := probs[c*k : (c+1)*k]
		for j := range row {
			row[j] = spread
		}
		if c < n {
			row[int(col[c])]++
		}
		var sum float64
		for _, p := range row {
			sum += p
		}
		for j := range row {
			row[j] /= sum
			logs[c*k+j] = math.Log(row[j])
		}
	}
	e.catProbs[d], e.catLogProbs[d] = probs, logs
}

// sample draws size points from the mixture: a component by weight, then
// each dimension from that component's kernel.
func (e *estimator) sample(rng *rand.Rand, size int) [][]float64 {
	D := len(e.dims)
	out := make([][]float64, size)
	flat := e.ws.take(size * D)
	for s := range out {
		x := flat[s*D : (s+1)*D]
		c, _ := slices.BinarySearch(e.cumWeights, rng.Float64())
		c = min(c, e.nComp-1)
		for d, dim := range e.dims {
			if dim.Kind == Categorical {
				x[d] = float64(drawIndex(rng, e.catProbs[d][c*dim.N:(c+1)*dim.N]))
				continue
			}
			i := c*D + d
			mu, sigma := e.mu[i], 1/e.invSigma[i]
			z := sampleTruncNorm(rng, (e.low[d]-mu)/sigma, (e.high[d]-mu)/sigma)
			x[d] = dim.fromModel(mu + sigma*z)
		}
		out[s] = x
	}
	return out
}

func drawIndex(rng *rand.Rand, probs []float64) int {
	u := rng.Float64()
	var cum float64
	for j, p := range probs {
		cum += p
		if u < cum {
			return j
		}
	}
	return len(probs) - 1
}

// logPDF writes the mixture's log density at each point (values as
// sample returns them) into out.
func (e *estimator) logPDF(points [][]float64, out []float64) {
	D := len(e.dims)
	model := make([][]float64, len(points))
	flat := e.ws.take(len(points) * D)
	for p, x := range points {
		m := flat[p*D : (p+1)*D]
		for d, dim := range e.dims {
			if dim.Kind != Categorical {
				m[d] = dim.toModel(x[d])
			}
		}
		model[p] = m
	}
	first := 0 // the first component evaluated one by one
	terms := e.ws.take(e.nComp)
	var sharedTerms []float64
	if e.shared != nil {
		first = e.shared.rows
		sharedTerms = e.ws.take(len(points) * first)
		e.shared.sharedLogTerms(e, model, sharedTerms)
	}
	for p, x := range points {
		if first > 0 {
			copy(terms, sharedTerms[p*first:(p+1)*first])
		}
		for c := first; c < e.nComp; c++ {
			terms[c] = e.componentLogPDF(c, model[p], x)
		}
		out[p] = logSumExp(terms)
	}
}

// componentLogPDF is component c's log weighted density at a point, in
// model space (m) and as sampled (x, for categorical indices).
func (e *estimator) componentLogPDF(c int, m, x []float64) float64 {
	D := len(e.dims)
	base := c * D
	lp := e.logConst[c]
	var sq float64
	for _, d := range e.continuous {
		z := (m[d] - e.mu[base+d]) * e.invSigma[base+d]
		sq += z * z
	}
	lp -= sq / 2
	for _, d := range e.discrete {
		// The kernel's mass on the grid cell around the value.
		inv := e.invSigma[base+d]
		lo := math.Max(m[d]-e.q[d]/2, e.low[d])
		hi := math.Min(m[d]+e.q[d]/2, e.high[d])
		lp += logGaussMass((lo-e.mu[base+d])*inv, (hi-e.mu[base+d])*inv) - e.logMass[base+d]
	}
	for _, d := range e.categorical {
		lp += e.catLogProbs[d][c*e.dims[d].N+int(x[d])]
	}
	return lp
}

// logSumExp is log Σ e^t.
func logSumExp(terms []float64) float64 {
	best := math.Inf(-1)
	for _, t := range terms {
		if t > best { // not math.Max: it is a call, and NaN never wins
			best = t
		}
	}
	if math.IsInf(best, 0) || math.IsNaN(best) {
		return best
	}
	var sum float64
	for _, t := range terms {
		// Terms below e^-40 of the largest change the sum by less than
		// its rounding error; most of a large mixture's are.
		if d := t - best; d > expMin {
			sum += expNeg(d)
		}
	}
	return best + math.Log(sum)
}
