// Package objectives holds standard black-box test functions for judging
// package tune's searchers (the performance table's row 3): Branin (2-d),
// Hartmann6 (6-d) and Rosenbrock (10-d), each with its search space and
// known minimum. bench/tune/optuna_quality.py defines the same functions
// and bounds for Optuna.
package objectives

import (
	"fmt"
	"math"

	"github.com/rayo-dev/rayo/tune"
)

// An Objective is a function to minimise over a box.
type Objective struct {
	Name string
	// Bounds are each parameter's [low, high]; parameter d is named
	// "x<d>" in Space.
	Bounds [][2]float64
	// Min is the function's known global minimum.
	Min float64
	// F evaluates the function at x (in parameter order).
	F func(x []float64) float64
}

// Space is the objective's search space: x<d> Uniform over Bounds[d].
func (o Objective) Space() tune.Space {
	s := tune.Space{}
	for d, b := range o.Bounds {
		s[Name(d)] = tune.Uniform(b[0], b[1])
	}
	return s
}

// Eval evaluates the function at a searcher's suggestion (values by
// name).
func (o Objective) Eval(values map[string]any) (float64, error) {
	x := make([]float64, len(o.Bounds))
	for d := range x {
		v, ok := values[Name(d)].(float64)
		if !ok {
			return 0, fmt.Errorf("%s: %s = %#v, want a float64", o.Name, Name(d), values[Name(d)])
		}
		x[d] = v
	}
	return o.F(x), nil
}

// Name is parameter d's name.
func Name(d int) string { return fmt.Sprintf("x%d", d) }

// All are the objectives by name.
var All = map[string]Objective{
	"branin":       Branin,
	"hartmann6":    Hartmann6,
	"rosenbrock10": Rosenbrock10,
}

// Branin is the Branin-Hoo function on [-5, 10] x [0, 15]; its minimum,
// 0.397887, is reached at (-π, 12.275), (π, 2.275) and (9.42478, 2.475).
var Branin = Objective{
	Name:   "branin",
	Bounds: [][2]float64{{-5, 10}, {0, 15}},
	Min:    0.39788735772973816,
	F: func(x []float64) float64 {
		const (
			a = 1.0
			r = 6.0
			s = 10.0
		)
		b := 5.1 / (4 * math.Pi * math.Pi)
		c := 5 / math.Pi
		t := 1 / (8 * math.Pi)
		u := x[1] - b*x[0]*x[0] + c*x[0] - r
		return a*u*u + s*(1-t)*math.Cos(x[0]) + s
	},
}

var (
	hartmannAlpha = [4]float64{1.0, 1.2, 3.0, 3.2}
	hartmannA     = [4][6]float64{
		{10, 3, 17, 3.5, 1.7, 8},
		{0.05, 10, 17, 0.1, 8, 14},
		{3, 3.5, 1.7, 10, 17, 8},
		{17, 8, 0.05, 10, 0.1, 14},
	}
	hartmannP = [4][6]float64{
		{1312, 1696, 5569, 124, 8283, 5886},
		{2329, 4135, 8307, 3736, 1004, 9991},
		{2348, 1451, 3522, 2883, 3047, 6650},
		{4047, 8828, 8732, 5743, 1091, 381},
	}
)

// Hartmann6 is the 6-d Hartmann function on [0, 1]^6; its minimum is
// -3.32237, at (0.20169, 0.150011, 0.476874, 0.275332, 0.311652,
// 0.6573).
var Hartmann6 = Objective{
	Name:   "hartmann6",
	Bounds: [][2]float64{{0, 1}, {0, 1}, {0, 1}, {0, 1}, {0, 1}, {0, 1}},
	Min:    -3.3223680114155147,
	F: func(x []float64) float64 {
		var sum float64
		for i := range 4 {
			var inner float64
			for j := range 6 {
				d := x[j] - hartmannP[i][j]*1e-4
				inner += hartmannA[i][j] * d * d
			}
			sum += hartmannAlpha[i] * math.Exp(-inner)
		}
		return -sum
	},
}

// Rosenbrock10 is the 10-d Rosenbrock function on [-5, 10]^10 (the
// usual domain, as in Surjanovic and Bingham's library); its minimum is
// 0, at (1, ..., 1).
var Rosenbrock10 = Objective{
	Name:   "rosenbrock10",
	Bounds: boxes(10, -5, 10),
	Min:    0,
	F: func(x []float64) float64 {
		var sum float64
		for i := 0; i+1 < len(x); i++ {
			u := x[i+1] - x[i]*x[i]
			v := 1 - x[i]
			sum += 100*u*u + v*v
		}
		return sum
	},
}

func boxes(n int, low, high float64) [][2]float64 {
	b := make([][2]float64, n)
	for i := range b {
		b[i] = [2]float64{low, high}
	}
	return b
}
