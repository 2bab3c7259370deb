// Command train is rayo Train's quick start: a logistic regression written
// with gonum, trained data-parallel on a group of workers (2 by default)
// with DataParallelTrainer, checkpointing as it goes. Run it with
//
//	go run ./examples/train
//	go run ./examples/train -steps 300 -kill-rank 1 -kill-step 120
//
// Every step, each worker computes the gradient of its share of the
// step's global batch, the workers add their gradients up with an
// AllReduce (package collective), and each applies the same update: so
// the weights are those of one process training on the same global
// batches, up to the order of floating-point additions. The program
// checks that: it trains the same model in the driver alone and prints
// the largest difference between the two sets of weights, and fails if
// it is above 1e-6.
//
// Every step the workers report the batch's loss and accuracy (the run
// keeps rank 0's), and every -checkpoint-every steps rank 0 adds a
// checkpoint: the weights and the optimiser's state. With -kill-rank R
// -kill-step S, rank R kills its own process at step S of the first
// attempt; the trainer restarts the group from the latest checkpoint
// (-max-failures times at most) and training ends with the same weights.
//
// It starts an embedded single-node cluster (set RAYO_ADDRESS=auto to use
// a running one), which needs a CPU per worker.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/collective"
	"github.com/rayo-dev/rayo/train"
)

// tolerance is how far the workers' weights may be from the single
// process's: their sums add the same terms in another order.
const tolerance = 1e-6

// logreg is the training loop, registered at package level under a stable
// name so that the workers, which run this same binary, have it too.
var logreg = train.RegisterLoop("examples.train.logreg", trainLoop)

// trainLoop runs on every worker. It rebuilds the data and the initial
// weights from the config's seed (the same in every process), resumes
// from the checkpoint the trainer hands a restarted group, and trains
// until cfg's steps are done.
func trainLoop(ctx context.Context, cfg train.Config) error {
	h := hyperFrom(cfg)
	tc, err := train.GetContext(ctx)
	if err != nil {
		return err
	}
	d, s := makeData(h), newState(h)
	if ck, err := train.GetCheckpoint(ctx); err != nil {
		return err
	} else if ck != nil {
		if s, err = loadState(ck.Path(), h); err != nil {
			return err
		}
	}
	comm, err := train.JoinCollective(ctx)
	if err != nil {
		return err
	}
	// One AllReduce a step: the gradient, then the loss and the count of
	// rows right, summed over the ranks' shares.
	buf := make([]float64, h.features+3)
	lossAt, rightAt := h.features+1, h.features+2
	for s.Step < h.steps {
		if tc.WorldRank == h.killRank && s.Step == h.killStep && tc.Attempt == 0 {
			if err := killSelf(); err != nil {
				return err
			}
		}
		mine := shard(batchRows(s.Step, h.batch, h.rows), tc.WorldRank, tc.WorldSize)
		loss, right := d.gradient(s.Theta, mine, buf[:lossAt])
		buf[lossAt], buf[rightAt] = loss, float64(right)
		if err := collective.AllReduce(ctx, comm, buf, collective.Sum); err != nil {
			return err
		}
		loss = buf[lossAt] / float64(h.batch)
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return fmt.Errorf("diverged at step %d (loss %v): try a smaller -lr", s.Step, loss)
		}
		s.apply(buf[:lossAt], h)
		// Every rank reports every round (the trainer completes a round
		// when all have); the run keeps rank 0's metrics, and only rank 0
		// sends the checkpoint, since every rank holds the same state.
		metrics := map[string]any{"step": s.Step, "loss": loss, "accuracy": buf[rightAt] / float64(h.batch)}
		if err := report(ctx, metrics, s, tc.WorldRank == 0 && (s.Step%h.ckptEvery == 0 || s.Step == h.steps)); err != nil {
			return err
		}
	}
	return nil
}

// report reports metrics, with a checkpoint of s if ckpt.
func report(ctx context.Context, metrics map[string]any, s *state, ckpt bool) error {
	if !ckpt {
		return train.Report(ctx, metrics, nil)
	}
	dir, err := os.MkdirTemp("", "logreg-checkpoint-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir) // Report has taken the files when it returns
	if err := s.save(dir); err != nil {
		return err
	}
	return train.Report(ctx, metrics, train.CheckpointFromDir(dir))
}

// killSelf ends this process as a crash would (SIGKILL on Unix), to show
// the group restart from a checkpoint.
func killSelf() error {
	p, err := os.FindProcess(os.Getpid())
	if err == nil {
		err = p.Kill()
	}
	return fmt.Errorf("-kill-rank: could not kill this worker: %v", err)
}

// options is the command line.
type options struct {
	hyper
	workers, maxFailures int
	storage              string
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
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(2)
	}
	if err := rayo.Init(ctx); err != nil {
		log.Fatal(err)
	}
	err = run(ctx, o, os.Stdout)
	rayo.Shutdown()
	if err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.IntVar(&o.workers, "workers", 2, "workers training data-parallel (each takes a CPU)")
	fs.IntVar(&o.steps, "steps", 200, "SGD steps")
	fs.IntVar(&o.batch, "batch", 256, "global batch: rows per step, split across the workers")
	fs.Float64Var(&o.lr, "lr", 0.5, "learning rate")
	fs.Float64Var(&o.momentum, "momentum", 0.9, "momentum")
	fs.IntVar(&o.rows, "rows", 4000, "rows of the synthetic dataset")
	fs.IntVar(&o.features, "features", 12, "features of the synthetic dataset")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the data and the initial weights")
	fs.IntVar(&o.ckptEvery, "checkpoint-every", 20, "steps between checkpoints (the last step has one too)")
	fs.StringVar(&o.storage, "storage", "", "directory of the runs (default ~/rayo_results)")
	fs.IntVar(&o.killRank, "kill-rank", -1, "rank that kills its own process at -kill-step on the first attempt (-1: none)")
	fs.IntVar(&o.killStep, "kill-step", 0, "step (0-based) at which -kill-rank dies")
	fs.IntVar(&o.maxFailures, "max-failures", 2, "restarts of the group from its latest checkpoint before training fails")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.workers < 1 || o.steps < 1 || o.rows < 1 || o.features < 1 || o.ckptEvery < 1:
		return o, errors.New("-workers, -steps, -rows, -features and -checkpoint-every must be 1 or more")
	case o.batch < o.workers || o.batch > o.rows:
		return o, fmt.Errorf("-batch %d: want at least one row a worker (-workers %d) and at most -rows (%d)", o.batch, o.workers, o.rows)
	case o.lr <= 0 || o.momentum < 0 || o.momentum >= 1:
		return o, errors.New("-lr must be above 0 and -momentum in [0, 1)")
	case o.killRank < -1 || o.killRank >= o.workers:
		return o, fmt.Errorf("-kill-rank %d: want -1 or a rank below -workers (%d)", o.killRank, o.workers)
	case o.killRank >= 0 && (o.killStep < 0 || o.killStep >= o.steps):
		return o, fmt.Errorf("-kill-step %d: want a step in [0, %d)", o.killStep, o.steps)
	case o.maxFailures < -1:
		return o, errors.New("-max-failures: want -1 (no limit) or more")
	}
	return o, nil
}

// config is h as the loop's train.Config. The seed travels as an int64
// (same bits): msgpack numbers arrive as int64 or float64.
func (h hyper) config() train.Config {
	return train.Config{
		"rows": h.rows, "features": h.features, "seed": int64(h.seed), "steps": h.steps, "batch": h.batch,
		"lr": h.lr, "momentum": h.momentum, "checkpoint_every": h.ckptEvery,
		"kill_rank": h.killRank, "kill_step": h.killStep,
	}
}

func hyperFrom(c train.Config) hyper {
	return hyper{
		rows: c.Int("rows"), features: c.Int("features"), seed: uint64(c.Int("seed")), steps: c.Int("steps"), batch: c.Int("batch"),
		lr: c.Float("lr"), momentum: c.Float("momentum"), ckptEvery: c.Int("checkpoint_every"),
		killRank: c.Int("kill_rank"), killStep: c.Int("kill_step"),
	}
}

// run trains on the cluster, then alone in the driver, and prints how the
// two compare.
func run(ctx context.Context, o options, w io.Writer) error {
	storage := o.storage
	if storage == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("no -storage and no home directory: %w", err)
		}
		storage = filepath.Join(home, "rayo_results")
	}
	trainer := &train.DataParallelTrainer{
		Loop:       logreg,
		LoopConfig: o.config(),
		Scaling:    train.ScalingConfig{NumWorkers: o.workers},
		Run: train.RunConfig{
			Name:        runName(storage),
			StoragePath: storage,
			Failure:     train.FailureConfig{MaxFailures: o.maxFailures, CollectiveTimeout: time.Minute},
			Checkpoint:  train.CheckpointConfig{NumToKeep: 3}, // the 3 latest
		},
	}
	fmt.Fprintf(w, "== logistic regression (gonum) on %d rows x %d features, data-parallel on %d workers: %d steps of a global batch of %d rows (%d a worker), lr %g, momentum %g\n",
		o.rows, o.features, o.workers, o.steps, o.batch, o.batch/o.workers, o.lr, o.momentum)
	start := time.Now()
	res, err := trainer.Fit(ctx)
	if err != nil {
		return fmt.Errorf("training failed (%d failures of the worker group): %w", res.Failures, err)
	}
	elapsed := time.Since(start)
	printHistory(w, res.MetricsHistory, o.steps)

	if res.Checkpoint == nil {
		return errors.New("training saved no checkpoint")
	}
	got, err := loadState(res.Checkpoint.Path(), o.hyper)
	if err != nil {
		return err
	}
	if got.Step != o.steps {
		return fmt.Errorf("the latest checkpoint %s is of step %d, not %d", res.Checkpoint.Path(), got.Step, o.steps)
	}
	want := reference(o.hyper)
	diff := 0.0
	for i := range want.Theta {
		diff = max(diff, math.Abs(got.Theta[i]-want.Theta[i]))
	}
	m := train.Config(res.Metrics)
	fmt.Fprintf(w, "trained in %.1fs: batch loss %.4f, batch accuracy %.4f; accuracy on all %d rows %.4f\n",
		elapsed.Seconds(), m.Float("loss"), m.Float("accuracy"), o.rows, makeData(o.hyper).accuracy(got.Theta))
	fmt.Fprintf(w, "weights against one process on the same global batches: max abs difference %.3g (tolerance %g)\n", diff, tolerance)
	fmt.Fprintf(w, "checkpoints: %s (latest %s, step %d; %d kept)\n", res.Path, filepath.Base(res.Checkpoint.Path()), got.Step, len(res.BestCheckpoints))
	fmt.Fprintf(w, "restarts: %d%s\n", res.Failures, resumed(res.MetricsHistory))
	if diff > tolerance {
		return fmt.Errorf("the workers' weights differ from the single process's by %g, more than %g", diff, tolerance)
	}
	return nil
}

// printHistory prints about ten of rank 0's reports, and the first of
// each attempt.
func printHistory(w io.Writer, hist []train.Reported, steps int) {
	every := max(steps/10, 1)
	fmt.Fprintf(w, "%6s %8s %8s %9s\n", "step", "attempt", "loss", "accuracy")
	prev := 0
	for _, r := range hist {
		m := train.Config(r.Metrics)
		step := m.Int("step")
		if step == 1 || step%every == 0 || step == steps || r.Attempt != prev {
			fmt.Fprintf(w, "%6d %8d %8.4f %9.4f\n", step, r.Attempt, m.Float("loss"), m.Float("accuracy"))
		}
		prev = r.Attempt
	}
}

// resumed says where each restarted attempt began: its first report is of
// the step after its checkpoint's.
func resumed(hist []train.Reported) string {
	s, prev := "", 0
	for _, r := range hist {
		if r.Attempt != prev {
			from := train.Config(r.Metrics).Int("step") - 1
			if from == 0 {
				s += fmt.Sprintf(" (attempt %d started over: no checkpoint yet)", r.Attempt)
			} else {
				s += fmt.Sprintf(" (attempt %d resumed from the checkpoint of step %d)", r.Attempt, from)
			}
		}
		prev = r.Attempt
	}
	return s
}

// runName is logreg_<time>, with a suffix if storage already holds a run
// of that name (two runs in one second).
func runName(storage string) string {
	base := "logreg_" + time.Now().Format("2006-01-02_15-04-05")
	name := base
	for i := 2; ; i++ {
		if _, err := os.Stat(filepath.Join(storage, name)); errors.Is(err, os.ErrNotExist) {
			return name
		}
		name = fmt.Sprintf("%s_%d", base, i)
	}
}
