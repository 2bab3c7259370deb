// Command calc is the Go side of the Python quick start
// (examples/python/quickstart.py): a rayo program whose registered tasks
// and actor a Python driver calls across languages once it names this
// binary (rayo.init(go_binary=...)). Run by itself it is a Go driver that
// calls a Python function the other way.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/rayo-dev/rayo"
)

// Add is called from Python as go_function("calc.add").
var Add = rayo.Register[int]("calc.add", func(a, b int) int { return a + b })

// Sum adds up a float64 array: numpy arrays from Python arrive as Go
// slices.
var Sum = rayo.Register[float64]("calc.sum", func(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s
})

// Accumulator is the Go actor go_actor_class("calc.Accumulator") starts.
type Accumulator struct{ total int }

var (
	AccumulatorType = rayo.RegisterActor[Accumulator]("calc.Accumulator", func(start int) *Accumulator {
		return &Accumulator{total: start}
	})
	AccumulatorAdd = rayo.RegisterMethod[int, Accumulator](AccumulatorType, "add", func(a *Accumulator, n int) int {
		a.total += n
		return a.total
	})
)

func main() {
	ctx := context.Background()
	// In a worker (this binary run by a node for a Python or Go job),
	// Init serves tasks and never returns.
	here, _ := os.Getwd()
	if err := rayo.Init(ctx, rayo.WithEnv(map[string]string{
		"PYTHONPATH": filepath.Join(here, "python") + string(os.PathListSeparator) + filepath.Join(here, "examples", "python"),
	})); err != nil {
		log.Fatal(err)
	}
	defer rayo.Shutdown()
	// As a driver: Go calls Python (examples/python/pymath.py).
	n, err := rayo.PythonFunction[int]("pymath.square").Remote(7).Get(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pymath.square(7) from Go:", n)
	g, err := rayo.PythonActorClass("pymath.Greeter").New(ctx, "hello")
	if err != nil {
		log.Fatal(err)
	}
	s, err := rayo.CallPython[string](g, "greet", "rayo").Get(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pymath.Greeter from Go:", s)
}
