// Command tune is rayo Tune's quick start: it tunes a real model, the
// small perceptron of package model that tells two spirals apart, over
// five hyperparameters (learning rate, momentum, hidden width, weight
// decay, batch size). Each trial trains epoch by epoch in an actor,
// reporting its validation loss and accuracy, with a checkpoint every few
// epochs; the ASHA scheduler stops the unpromising trials early, so the
// search spends a fraction of samples×epochs. Run it with
//
//	go run ./examples/tune
//	go run ./examples/tune -searcher tpe -samples 40 -epochs 50
//
// It starts an embedded single-node cluster (set RAYO_ADDRESS=auto to use
// a running one), runs the search with each searcher named by -searcher
// (random search, and TPE where it is built in), prints Tune's status
// table on stderr, then the best trial's configuration, its validation
// accuracy, and where its checkpoint and the experiment's results.csv
// are. With -fail-at N every trial fails once after epoch N and resumes
// from its latest checkpoint.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/examples/tune/model"
	"github.com/rayo-dev/rayo/tune"
)

// searchers makes each searcher -searcher can name. TPE adds itself
// (searcher_tpe.go).
var searchers = map[string]func() tune.Searcher{
	"random": func() tune.Searcher { return tune.BasicVariantGenerator(tune.BasicConfig{}) },
}

// config is the command line.
type config struct {
	samples, epochs, grace int
	concurrency, ckptEvery int
	failAt                 int
	seed                   int64
	storage                string
	searchers              []string
}

func main() {
	ctx := context.Background()
	// A worker process serves its actors and never returns from Init, so
	// it never parses the driver's flags.
	if rayo.IsWorker() {
		if err := rayo.Init(ctx); err != nil {
			log.Fatal(err)
		}
	}
	c, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "tune:", err)
		os.Exit(2)
	}
	if err := rayo.Init(ctx); err != nil {
		log.Fatal(err)
	}
	err = run(ctx, c)
	rayo.Shutdown()
	if err != nil {
		log.Fatal(err)
	}
}

func parseFlags(args []string) (config, error) {
	var c config
	names := slices.Sorted(maps.Keys(searchers))
	fs := flag.NewFlagSet("tune", flag.ContinueOnError)
	fs.IntVar(&c.samples, "samples", 24, "trials per search")
	fs.IntVar(&c.epochs, "epochs", 30, "epochs of a trial that ASHA never stops (its max_t)")
	fs.IntVar(&c.grace, "grace", 3, "ASHA's grace period: epochs before a trial can be stopped")
	fs.IntVar(&c.concurrency, "concurrency", 2, "trials running at once")
	fs.IntVar(&c.ckptEvery, "checkpoint-every", 5, "epochs between a trial's checkpoints (its last epoch has one too)")
	fs.IntVar(&c.failAt, "fail-at", 0, "make every trial fail once after this epoch, to show it resume from its checkpoint (0: never)")
	fs.Int64Var(&c.seed, "seed", 1, "seed of the search and of ASHA")
	fs.StringVar(&c.storage, "storage", "", "directory of the experiments (default ~/rayo_results)")
	list := fs.String("searcher", strings.Join(names, ","), "searchers to run, one experiment each, comma-separated: "+strings.Join(names, ", "))
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	case c.samples < 1 || c.epochs < 1 || c.grace < 1 || c.concurrency < 1 || c.ckptEvery < 1 || c.failAt < 0:
		return c, errors.New("-samples, -epochs, -grace, -concurrency and -checkpoint-every must be 1 or more, -fail-at 0 or more")
	case c.failAt > 0 && (c.failAt <= c.ckptEvery || c.failAt >= c.epochs):
		return c, fmt.Errorf("-fail-at %d: want an epoch after the first checkpoint (-checkpoint-every %d) and before the last (-epochs %d)", c.failAt, c.ckptEvery, c.epochs)
	}
	for _, s := range strings.Split(*list, ",") {
		s = strings.TrimSpace(s)
		if _, ok := searchers[s]; !ok {
			return c, fmt.Errorf("-searcher %q: want one of %s", s, strings.Join(names, ", "))
		}
		c.searchers = append(c.searchers, s)
	}
	return c, nil
}

// space is the search space: the model's hyperparameters over the ranges
// where tuning matters (see package model), and the trial's constants.
func space(c config) tune.Space {
	return tune.Space{
		"lr":               tune.LogUniform(1e-4, 1),
		"momentum":         tune.Uniform(0, 0.99),
		"hidden":           tune.Choice(8, 16, 32, 64),
		"weight_decay":     tune.LogUniform(1e-6, 1e-1),
		"batch_size":       tune.Choice(16, 32, 64, 128),
		"seed":             1, // same initial weights' stream for every trial
		"epochs":           c.epochs,
		"checkpoint_every": c.ckptEvery,
		"fail_at":          c.failAt,
	}
}

// searched are the keys of space that are searched, in print order.
var searched = []string{"lr", "momentum", "hidden", "weight_decay", "batch_size"}

func run(ctx context.Context, c config) error {
	for _, name := range c.searchers {
		if err := experiment(ctx, c, name); err != nil {
			return fmt.Errorf("searcher %s: %w", name, err)
		}
	}
	return nil
}

// experiment runs one search with ASHA and prints its outcome.
func experiment(ctx context.Context, c config, searcher string) error {
	tc := tune.TuneConfig{
		Metric:              metricValidLoss,
		Mode:                tune.Min,
		NumSamples:          c.samples,
		MaxConcurrentTrials: c.concurrency,
		SearchAlg:           searchers[searcher](),
		Scheduler: tune.ASHA(tune.ASHAConfig{
			TimeAttr:        tune.TrainingIteration,
			MaxT:            float64(c.epochs),
			GracePeriod:     float64(c.grace),
			ReductionFactor: 3,
			Seed:            c.seed,
		}),
		ReuseActors: true, // one process per slot, not one per trial
		Seed:        c.seed,
	}
	rc := tune.RunConfig{
		Name:          experimentName(c.storage, searcher),
		StoragePath:   c.storage,
		FailureConfig: tune.FailureConfig{MaxFailures: 2},
		// Keep the two best checkpoints by validation loss (and the
		// latest, to resume from).
		CheckpointConfig: tune.CheckpointConfig{NumToKeep: 2, ScoreAttribute: metricValidLoss, Order: tune.Min},
	}
	tuner, err := tune.NewTuner(spirals, space(c), tc, rc)
	if err != nil {
		return err
	}
	fmt.Printf("== %s search with ASHA: %d trials of up to %d epochs, %d at a time; experiment %s\n",
		searcher, c.samples, c.epochs, c.concurrency, tuner.Path())
	start := time.Now()
	grid, err := tuner.Fit(ctx)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	return summarise(os.Stdout, grid, c, elapsed)
}

// experimentName is spirals_<searcher>_<time>, with a suffix if storage
// already holds an experiment of that name (two runs in one second).
func experimentName(storage, searcher string) string {
	base := "spirals_" + searcher + "_" + time.Now().Format("2006-01-02_15-04-05")
	if storage == "" {
		home, _ := os.UserHomeDir()
		storage = filepath.Join(home, "rayo_results")
	}
	name := base
	for i := 2; ; i++ {
		if _, err := os.Stat(filepath.Join(storage, name)); errors.Is(err, os.ErrNotExist) {
			return name
		}
		name = fmt.Sprintf("%s_%d", base, i)
	}
}

// summarise prints what the search cost and the best trial it found,
// checking that the trial's checkpoint restores a model that scores as
// the trial reported.
func summarise(w *os.File, grid *tune.ResultGrid, c config, elapsed time.Duration) error {
	spent, stopped, restarts, failed := 0, 0, 0, 0
	for _, t := range grid.Trials {
		spent += len(t.History)
		restarts += t.Failures
		if t.State == tune.Errored {
			failed++
		} else if t.Last != nil && t.Last.Iteration < c.epochs && !t.Last.Done {
			stopped++
		}
	}
	budget := c.samples * c.epochs
	fmt.Fprintf(w, "%d trials in %.1fs: %d epochs of %d (%.0f%%); ASHA stopped %d trials early; %d restarts from a checkpoint, %d trials failed\n",
		grid.Len(), elapsed.Seconds(), spent, budget, 100*float64(spent)/float64(budget), stopped, restarts, failed)

	best, err := grid.Best(metricValidLoss, tune.Min, tune.ScopeLast)
	if err != nil {
		return err
	}
	last := best.Last
	fmt.Fprintf(w, "best trial %s: %s %.4f, %s %.4f after %d epochs\n", best.ID,
		metricValidLoss, last.Metrics[metricValidLoss], metricAccuracy, last.Metrics[metricAccuracy], last.Iteration)
	var cfg []string
	for _, k := range searched {
		cfg = append(cfg, fmt.Sprintf("%s=%.4g", k, best.Params.Float(k)))
	}
	fmt.Fprintf(w, "  config: %s\n", strings.Join(cfg, " "))
	if ck := best.BestCheckpoint; ck != nil {
		acc, err := restoredAccuracy(ck)
		if err != nil {
			return fmt.Errorf("best trial %s's checkpoint: %w", best.ID, err)
		}
		fmt.Fprintf(w, "  checkpoint: %s (epoch %d; restored, it scores %s %.4f)\n", ck.Path(), ck.Iteration, metricAccuracy, acc)
	}
	fmt.Fprintf(w, "  results: %s\n", filepath.Join(grid.Path, "results.csv"))
	return nil
}

// restoredAccuracy loads a model from a checkpoint's bytes and measures
// its validation accuracy.
func restoredAccuracy(ck *tune.Checkpoint) (float64, error) {
	b, err := ck.Bytes()
	if err != nil {
		return 0, err
	}
	var m model.Model
	if err := m.UnmarshalBinary(b); err != nil {
		return 0, err
	}
	return m.Accuracy(), nil
}
