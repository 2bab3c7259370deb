package gp

import "math"

// minimizeLBFGS minimises f from x0 with limited-memory BFGS (Nocedal &
// Wright, Algorithm 7.4/7.5) and a backtracking Armijo line search, for at
// most maxEvals evaluations of f. f returns the value and fills grad.
// Callers keep the best point seen themselves, so it returns nothing.
//
// Hand-written rather than gonum/optimize's LBFGS: that package also
// holds CMA-ES, whose dependency (golang.org/x/tools) the module does not
// require.
func minimizeLBFGS(f func(x, grad []float64) float64, x0 []float64, maxEvals int) {
	const (
		memory  = 8
		armijo  = 1e-4
		gradTol = 1e-5
		fTol    = 1e-9
	)
	n := len(x0)
	x := append([]float64(nil), x0...)
	g := make([]float64, n)
	fx := f(x, g)
	evals := 1
	if math.IsInf(fx, 0) || math.IsNaN(fx) {
		return
	}
	var ss, ys [][]float64
	var rhos []float64
	dir := make([]float64, n)
	alphas := make([]float64, memory)
	xNew := make([]float64, n)
	gNew := make([]float64, n)
	for evals < maxEvals {
		if normInf(g) < gradTol {
			return
		}
		// Two-loop recursion: dir = −H·g.
		copy(dir, g)
		for i := len(ss) - 1; i >= 0; i-- {
			alphas[i] = rhos[i] * dot(ss[i], dir)
			axpy(-alphas[i], ys[i], dir)
		}
		gamma := 1.0
		if m := len(ss); m > 0 {
			gamma = dot(ss[m-1], ys[m-1]) / dot(ys[m-1], ys[m-1])
		} else {
			gamma = 1 / math.Max(normInf(g), 1)
		}
		for i := range dir {
			dir[i] *= gamma
		}
		for i := range ss {
			beta := rhos[i] * dot(ys[i], dir)
			axpy(alphas[i]-beta, ss[i], dir)
		}
		for i := range dir {
			dir[i] = -dir[i]
		}
		slope := dot(g, dir)
		if slope >= 0 { // not a descent direction: restart from steepest descent
			ss, ys, rhos = nil, nil, nil
			for i := range dir {
				dir[i] = -g[i] * gamma
			}
			slope = dot(g, dir)
		}
		// Backtracking line search.
		step := 1.0
		var fNew float64
		accepted := false
		for evals < maxEvals {
			for i := range x {
				xNew[i] = x[i] + step*dir[i]
			}
			fNew = f(xNew, gNew)
			evals++
			if fNew <= fx+armijo*step*slope {
				accepted = true
				break
			}
			step *= 0.5
			if step < 1e-10 {
				break
			}
		}
		if !accepted {
			return
		}
		s := make([]float64, n)
		y := make([]float64, n)
		for i := range x {
			s[i] = xNew[i] - x[i]
			y[i] = gNew[i] - g[i]
		}
		if sy := dot(s, y); sy > 1e-12 {
			if len(ss) == memory {
				ss, ys, rhos = ss[1:], ys[1:], rhos[1:]
			}
			ss, ys, rhos = append(ss, s), append(ys, y), append(rhos, 1/sy)
		}
		done := math.Abs(fx-fNew) <= fTol*math.Max(1, math.Abs(fx))
		copy(x, xNew)
		copy(g, gNew)
		fx = fNew
		if done {
			return
		}
	}
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func axpy(alpha float64, x, y []float64) {
	for i := range x {
		y[i] += alpha * x[i]
	}
}

func normInf(a []float64) float64 {
	var m float64
	for _, v := range a {
		m = math.Max(m, math.Abs(v))
	}
	return m
}
