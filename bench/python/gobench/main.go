// Command gobench is the Go side of bench/python: the job binary whose
// registered task Python calls across languages (bench.noop), and, run
// as a driver, the Go rows of the same run: Go→Go and Go→Python calls.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/rayo-dev/rayo"
)

var noop = rayo.Register[int]("bench.noop", func(x int) int { return x })

func main() {
	n := flag.Int("n", 2000, "calls per round")
	rounds := flag.Int("rounds", 5, "rounds; the median is reported")
	flag.Parse()
	ctx := context.Background()
	here, _ := os.Getwd()
	if err := rayo.Init(ctx, rayo.WithLogToDriver(false), rayo.WithEnv(map[string]string{
		"PYTHONPATH": filepath.Join(here, "python") + string(os.PathListSeparator) + filepath.Join(here, "bench", "python"),
	})); err != nil {
		log.Fatal(err)
	}
	defer rayo.Shutdown()
	goSync := median(*rounds, *n, func() error { _, err := noop.Remote(1).Get(ctx); return err })
	pySync := median(*rounds, *n, func() error {
		_, err := rayo.PythonFunction[int]("perf.noop").Remote(1).Get(ctx)
		return err
	})
	fmt.Printf("go_sync_calls_per_s %.0f\n", goSync)
	fmt.Printf("go_to_python_sync_calls_per_s %.0f\n", pySync)
}

// median runs n calls of f per round and returns the median rate.
func median(rounds, n int, f func() error) float64 {
	for range 50 { // warm: the worker and its Python child start
		if err := f(); err != nil {
			log.Fatal(err)
		}
	}
	rates := make([]float64, rounds)
	for r := range rates {
		start := time.Now()
		for range n {
			if err := f(); err != nil {
				log.Fatal(err)
			}
		}
		rates[r] = float64(n) / time.Since(start).Seconds()
	}
	sort.Float64s(rates)
	return rates[len(rates)/2]
}
