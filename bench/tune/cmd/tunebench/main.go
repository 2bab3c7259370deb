// Command tunebench measures rayo Tune against its floors and peers
// (docs/performance.md, "Tune"): the runner's overhead on many short
// trials, the results one trial can report per second, and early
// stopping (ASHA, PBT) run through the real runner on real actors, on the
// embedded cluster.
//
//	go run ./bench/tune/cmd/tunebench -rows overhead,results,asha,pbt
//
// The searchers' quality against Optuna and TPE's latency are measured by
// bench/tune/cmd/tunequality and BenchmarkTPESuggest.
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/bench/tune/curves"
	"github.com/rayo-dev/rayo/tune"
)

// sleeper sleeps total "sleep" seconds over "reports" reports.
var sleeper = tune.Function("tunebench.sleeper", func(ctx context.Context, p tune.Params) error {
	n := p.Int("reports")
	d := time.Duration(p.Float("sleep") * float64(time.Second) / float64(n))
	for i := 1; i <= n; i++ {
		time.Sleep(d)
		if err := tune.Report(ctx, tune.Metrics{"score": float64(i)}, nil); err != nil {
			return err
		}
	}
	return nil
})

// flood reports as fast as it can for "seconds".
var flood = tune.Function("tunebench.flood", func(ctx context.Context, p tune.Params) error {
	end := time.Now().Add(time.Duration(p.Float("seconds") * float64(time.Second)))
	for i := 0; time.Now().Before(end); i++ {
		if err := tune.Report(ctx, tune.Metrics{"i": float64(i)}, nil); err != nil {
			return err
		}
	}
	return nil
})

// curve reports the learning curve of one of curves' 100 configurations
// (by index into a seeded shuffle), one iteration per report.
var curve = tune.Function("tunebench.curve", func(ctx context.Context, p tune.Params) error {
	c := curves.Configs()[p.Int("config")]
	for i := 1; i <= curves.MaxIter; i++ {
		if err := tune.Report(ctx, tune.Metrics{"loss": curves.Loss(c, i)}, nil); err != nil {
			return err
		}
	}
	return nil
})

// pbtTask trains the learning-rate problem: its state, the loss, is in
// its checkpoints.
var pbtTask = tune.Function("tunebench.pbt", func(ctx context.Context, p tune.Params) error {
	loss := curves.PBTInitialLoss
	if c := tune.GetCheckpoint(ctx); c != nil {
		b, _ := c.Bytes()
		loss = math.Float64frombits(binary.LittleEndian.Uint64(b))
	}
	lr := p.Float("lr")
	for {
		loss = curves.PBTStep(loss, lr)
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(loss))
		if err := tune.Report(ctx, tune.Metrics{"loss": loss}, tune.CheckpointFromBytes(b[:])); err != nil {
			return err
		}
	}
})

func main() {
	rows := flag.String("rows", "overhead,results,asha,pbt", "rows to run")
	trials := flag.Int("trials", 1000, "overhead: trials")
	sleep := flag.Duration("sleep", 100*time.Millisecond, "overhead: each trial's total sleep")
	reports := flag.Int("reports", 10, "overhead: reports per trial")
	conc := flag.Int("concurrency", 2, "overhead: trials at once")
	reuse := flag.Bool("reuse", true, "overhead: reuse actors")
	storage := flag.String("storage", "", "storage path (default a temporary directory)")
	seeds := flag.Int("seeds", 3, "asha, pbt: seeds")
	flag.Parse()
	ctx := context.Background()
	if err := rayo.Init(ctx, rayo.WithNumCPUs(2), rayo.WithLogToDriver(false)); err != nil {
		log.Fatal(err)
	}
	defer rayo.Shutdown()
	dir := *storage
	if dir == "" {
		d, err := os.MkdirTemp("", "tunebench-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	for _, row := range strings.Split(*rows, ",") {
		switch row {
		case "overhead":
			overhead(ctx, dir, *trials, *sleep, *reports, *conc, *reuse)
		case "results":
			results(ctx, dir)
		case "asha":
			asha(ctx, dir, *seeds)
		case "pbt":
			pbt(ctx, dir, *seeds)
		default:
			log.Fatalf("unknown row %q", row)
		}
	}
}

func fit(ctx context.Context, tr *tune.Trainable, space tune.Space, tc tune.TuneConfig, rc tune.RunConfig) *tune.ResultGrid {
	rc.Quiet = true
	tn, err := tune.NewTuner(tr, space, tc, rc)
	if err != nil {
		log.Fatal(err)
	}
	g, err := tn.Fit(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, t := range g.Trials {
		if t.Err != nil {
			log.Fatalf("trial %s: %v", t.ID, t.Err)
		}
	}
	return g
}

var runs int

func name(prefix string) string {
	runs++
	return fmt.Sprintf("%s-%d", prefix, runs)
}

// overhead: n trials of sleep each, at concurrency c, against the ideal
// n·sleep/c.
func overhead(ctx context.Context, dir string, n int, sleep time.Duration, reports, c int, reuse bool) {
	start := time.Now()
	g := fit(ctx, sleeper, tune.Space{"sleep": sleep.Seconds(), "reports": reports},
		tune.TuneConfig{NumSamples: n, MaxConcurrentTrials: c, ReuseActors: reuse},
		tune.RunConfig{Name: name("overhead"), StoragePath: dir})
	wall := time.Since(start)
	ideal := time.Duration(n) * sleep / time.Duration(c)
	res := 0
	for _, t := range g.Trials {
		res += len(t.History)
	}
	// The floor: the same sleeps in c goroutines of this process (what
	// the timers themselves cost).
	start = time.Now()
	done := make(chan struct{})
	for w := 0; w < c; w++ {
		go func() {
			for i := w; i < n; i += c {
				for range reports {
					time.Sleep(sleep / time.Duration(reports))
				}
			}
			done <- struct{}{}
		}()
	}
	for range c {
		<-done
	}
	floor := time.Since(start)
	fmt.Printf("overhead: %d trials × %v (%d reports each) at concurrency %d, reuse %v: %.2f s wall, ideal %.2f s: %.3f× ideal; floor (the sleeps in %d goroutines) %.2f s: %.3f× the floor; %d results (%.0f/s)\n",
		n, sleep, reports, c, reuse, wall.Seconds(), ideal.Seconds(), wall.Seconds()/ideal.Seconds(), c, floor.Seconds(), wall.Seconds()/floor.Seconds(), res, float64(res)/wall.Seconds())
}

// results: one trial reporting as fast as it can, alone and then after
// 2,000 other trials (which report once each): the driver's cost per
// result does not grow with the experiment (Ray Tune rewrites its whole
// state as JSON).
func results(ctx context.Context, dir string) {
	const secs = 5.0
	for _, before := range []int{0, 2000} {
		grid := make([]any, before+1)
		for i := range before {
			grid[i] = 0.0 // returns at once, having reported nothing
		}
		grid[before] = secs
		g := fit(ctx, flood, tune.Space{"seconds": tune.GridSearch(grid...)}, tune.TuneConfig{MaxConcurrentTrials: 1, ReuseActors: true},
			tune.RunConfig{Name: name("results"), StoragePath: dir})
		t := g.Trials[before]
		fmt.Printf("results: one trial after %d others reported %d results in %.1f s: %.0f results/s (Ray Tune: about 500/s)\n",
			before, len(t.History), t.Last.TimeTotal.Seconds(), float64(len(t.History))/t.Last.TimeTotal.Seconds())
	}
}

// asha: the 100 crossing learning curves, in a seeded random order, run
// in full (FIFO) and with ASHA; the configuration each would pick, by
// its last result, and the iterations each spent.
func asha(ctx context.Context, dir string, seeds int) {
	_, bestFull := curves.Best()
	for seed := 1; seed <= seeds; seed++ {
		order := rand.New(rand.NewPCG(uint64(seed), 1)).Perm(100)
		idx := make([]any, len(order))
		for i, v := range order {
			idx[i] = v
		}
		space := tune.Space{"config": tune.GridSearch(idx...)}
		tc := tune.TuneConfig{Metric: "loss", Mode: tune.Min, MaxConcurrentTrials: 8, ReuseActors: true}
		tr := curve.WithResources(tune.Resources{CPU: 0.25})
		full := fit(ctx, tr, space, tc, tune.RunConfig{Name: name("asha-full"), StoragePath: dir})
		tc.Scheduler = tune.ASHA(tune.ASHAConfig{MaxT: curves.MaxIter, GracePeriod: 8, ReductionFactor: 4, Seed: int64(seed)})
		start := time.Now()
		early := fit(ctx, tr, space, tc, tune.RunConfig{Name: name("asha"), StoragePath: dir})
		wall := time.Since(start)
		fullPick, fullIters := pick(full)
		earlyPick, earlyIters := pick(early)
		fmt.Printf("asha seed %d: full search picks %.5f (best %.5f) in %d iterations; ASHA picks %.5f (%+.2f%% of full) in %d iterations (%.1f× fewer), %.1f s\n",
			seed, fullPick, bestFull, fullIters, earlyPick, 100*(earlyPick/fullPick-1), earlyIters, float64(fullIters)/float64(earlyIters), wall.Seconds())
	}
}

// pick returns the full-run loss of the configuration the grid's best
// last result names, and the iterations spent in all.
func pick(g *tune.ResultGrid) (float64, int) {
	best, err := g.Best("loss", tune.Min, tune.ScopeLast)
	if err != nil {
		log.Fatal(err)
	}
	iters := 0
	for _, t := range g.Trials {
		iters += len(t.History)
	}
	return curves.Loss(curves.Configs()[best.Params.Int("config")], curves.MaxIter), iters
}

// pbt: a population of 8 on the learning-rate problem for 100 steps,
// against the best constant learning rate.
func pbt(ctx context.Context, dir string, seeds int) {
	const steps = 100
	fixedLR, fixedLoss := curves.BestFixedLR(steps)
	for seed := 1; seed <= seeds; seed++ {
		lr := tune.LogUniform(curves.PBTMinLR, curves.PBTMaxLR)
		tc := tune.TuneConfig{Metric: "loss", Mode: tune.Min, NumSamples: 8, MaxConcurrentTrials: 8, Seed: int64(seed), ReuseActors: true,
			Scheduler: tune.PBT(tune.PBTConfig{PerturbationInterval: 4, Seed: int64(seed), HyperparamMutations: tune.Space{"lr": lr}})}
		start := time.Now()
		g := fit(ctx, pbtTask.WithResources(tune.Resources{CPU: 0.25}), tune.Space{"lr": lr}, tc,
			tune.RunConfig{Name: name("pbt"), StoragePath: dir, Stop: tune.StopCondition{Iterations: steps}})
		best, err := g.Best("loss", tune.Min, tune.ScopeLast)
		if err != nil {
			log.Fatal(err)
		}
		exploits := 0
		for _, t := range g.Trials {
			for _, d := range t.Decisions {
				if d.Action == "exploit" {
					exploits++
				}
			}
		}
		got := best.Last.Metrics["loss"]
		fmt.Printf("pbt seed %d: best loss %.5f after %d steps vs the best fixed lr %.4g's %.5f (%.1f%% lower), %d exploits, %.1f s\n",
			seed, got, steps, fixedLR, fixedLoss, 100*(1-got/fixedLoss), exploits, time.Since(start).Seconds())
	}
}
