package main

import (
	"math"
	"slices"
)

// quantile is the q-quantile of xs by linear interpolation between order
// statistics (numpy's default).
func quantile(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(s)-1)
	i := int(pos)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (pos-float64(i))*(s[i+1]-s[i])
}

// mannWhitneyGreater is the one-sided p-value of the Mann-Whitney U test
// that a's values tend to be larger than b's (for minimisation: that a
// searcher is worse), by the normal approximation with the tie
// correction and a continuity correction (fine for 20 per side).
func mannWhitneyGreater(a, b []float64) float64 {
	n1, n2 := float64(len(a)), float64(len(b))
	if n1 == 0 || n2 == 0 {
		return math.NaN()
	}
	var u float64
	for _, x := range a {
		for _, y := range b {
			switch {
			case x > y:
				u++
			case x == y:
				u += 0.5
			}
		}
	}
	// Tie correction: Σ (t³ - t) over groups of equal values.
	all := append(slices.Clone(a), b...)
	slices.Sort(all)
	var ties float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j] == all[i] {
			j++
		}
		t := float64(j - i)
		ties += t*t*t - t
		i = j
	}
	n := n1 + n2
	mean := n1 * n2 / 2
	variance := n1 * n2 / 12 * ((n + 1) - ties/(n*(n-1)))
	if variance <= 0 {
		return 0.5
	}
	z := (u - mean - 0.5) / math.Sqrt(variance)
	return 0.5 * math.Erfc(z/math.Sqrt2)
}

// holm returns Holm's step-down adjusted p-values (NaNs are not tests
// and stay NaN): a row's verdict at level α compares its adjusted p with
// α, which keeps the chance of any false alarm in the table below α.
func holm(ps []float64) []float64 {
	var idx []int
	for i, p := range ps {
		if !math.IsNaN(p) {
			idx = append(idx, i)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case ps[a] < ps[b]:
			return -1
		case ps[a] > ps[b]:
			return 1
		}
		return 0
	})
	out := make([]float64, len(ps))
	for i := range out {
		out[i] = math.NaN()
	}
	m := float64(len(idx))
	running := 0.0
	for k, i := range idx {
		running = math.Max(running, math.Min(1, (m-float64(k))*ps[i]))
		out[i] = running
	}
	return out
}
