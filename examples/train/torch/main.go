// Command torch runs a PyTorch DDP training script, train.py beside this
// file, on a group of rayo workers with train.TorchTrainer: a small CNN
// learning synthetic 28x28 images (made from a seed, nothing downloaded),
// gloo on CPU, NCCL with -gpu. Run it from the repository root with
//
//	go run ./examples/train/torch
//	go run ./examples/train/torch -epochs 5 -kill-rank 1 -kill-epoch 3
//	go run ./examples/train/torch -gpu -workers 4
//
// The script is an ordinary torchrun-style script: each worker starts it
// as its child with torchrun's environment (RANK, WORLD_SIZE,
// MASTER_ADDR...) and, with -gpu, exactly its GPU in
// CUDA_VISIBLE_DEVICES. Its output reaches this program prefixed with
// "[rank N]". Through the rayo.train Python module (embedded in this
// binary: nothing to install) every rank reports each epoch's loss and
// validation accuracy, rank 0 adds a checkpoint (model, optimizer,
// epoch), and a restarted group resumes from the latest one. With
// -kill-rank R -kill-epoch E, rank R kills its own process (SIGKILL)
// halfway through epoch E of the first attempt, and the trainer restarts
// the group from the checkpoint (-max-failures times at most).
//
// The program prints each epoch's metrics, the restarts and the
// checkpoint, and exits non-zero if training fails or the final accuracy
// is not well above chance. It starts an embedded single-node cluster
// (RAYO_ADDRESS=auto uses a running one), which needs a CPU per worker
// and, with -gpu, a GPU per worker. The interpreter must import torch:
// -python, else $RAYO_PYTHON, else Debian's /usr/bin/python3
// (python3-torch), else python3.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/train"
)

type options struct {
	workers, epochs, batchSize, samples int
	lr                                  float64
	gpu, deviceCheck                    bool
	killRank, killEpoch, maxFailures    int
	storage, python, script             string
}

func main() {
	ctx := context.Background()
	// A worker process serves the trainer's actors and never returns from
	// Init, so it never parses the driver's flags.
	if rayo.IsWorker() {
		if err := rayo.Init(ctx); err != nil {
			log.Fatal(err)
		}
	}
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "torch:", err)
		os.Exit(2)
	}
	if err := rayo.Init(ctx); err != nil {
		log.Fatal(err)
	}
	err = run(ctx, o, os.Stdout)
	rayo.Shutdown()
	if err != nil {
		fmt.Fprintln(os.Stderr, "torch:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("torch", flag.ContinueOnError)
	fs.IntVar(&o.workers, "workers", 2, "workers, one script process each (each takes a CPU, and a GPU with -gpu)")
	fs.BoolVar(&o.gpu, "gpu", false, "give each worker a GPU (the script then uses NCCL)")
	fs.IntVar(&o.epochs, "epochs", 5, "epochs")
	fs.IntVar(&o.batchSize, "batch-size", 64, "samples per step on each worker")
	fs.Float64Var(&o.lr, "lr", 0.05, "learning rate")
	fs.IntVar(&o.samples, "samples", 4096, "training samples the script makes")
	fs.StringVar(&o.storage, "storage", "", "directory of the runs (default ~/rayo_results)")
	fs.IntVar(&o.killRank, "kill-rank", -1, "rank that kills its own process in -kill-epoch on the first attempt (-1: none)")
	fs.IntVar(&o.killEpoch, "kill-epoch", 2, "epoch (1-based) in which -kill-rank dies")
	fs.IntVar(&o.maxFailures, "max-failures", 2, "restarts of the group from its latest checkpoint before training fails")
	fs.BoolVar(&o.deviceCheck, "device-check", false, "each rank prints the CUDA devices it sees and fails if it sees more than one GPU")
	fs.StringVar(&o.python, "python", defaultPython(), "Python interpreter that imports torch")
	fs.StringVar(&o.script, "script", "", "the training script (default: train.py beside this program or its source)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.workers < 1 || o.epochs < 1 || o.batchSize < 1 || o.samples < o.workers:
		return o, errors.New("-workers, -epochs and -batch-size must be 1 or more, and -samples at least -workers")
	case o.lr <= 0:
		return o, errors.New("-lr must be above 0")
	case o.killRank < -1 || o.killRank >= o.workers:
		return o, fmt.Errorf("-kill-rank %d: want -1 or a rank below -workers (%d)", o.killRank, o.workers)
	case o.killRank >= 0 && (o.killEpoch < 1 || o.killEpoch > o.epochs):
		return o, fmt.Errorf("-kill-epoch %d: want an epoch in [1, %d]", o.killEpoch, o.epochs)
	case o.maxFailures < -1:
		return o, errors.New("-max-failures: want -1 (no limit) or more")
	}
	if o.script == "" {
		var err error
		if o.script, err = findScript(); err != nil {
			return o, err
		}
	}
	return o, nil
}

// defaultPython is $RAYO_PYTHON, else Debian's interpreter (the one that
// sees python3-torch) where it exists, else python3 on PATH.
func defaultPython() string {
	if p := os.Getenv("RAYO_PYTHON"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return "python3"
}

// findScript looks for train.py beside the executable (where
// scripts/gpu-check-train.sh puts it), beside this source file (go run,
// go build in the checkout), then under the working directory (the
// package's directory or the repository root).
func findScript() (string, error) {
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(exe))
	}
	if _, src, _, ok := runtime.Caller(0); ok && filepath.IsAbs(src) { // not with -trimpath
		dirs = append(dirs, filepath.Dir(src))
	}
	dirs = append(dirs, ".", filepath.Join("examples", "train", "torch"))
	for _, d := range dirs {
		p := filepath.Join(d, "train.py")
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return filepath.Abs(p)
		}
	}
	return "", fmt.Errorf("no train.py in %q: give its path with -script", dirs)
}

// run trains and prints a summary: each epoch's metrics, the restarts,
// the checkpoint.
func run(ctx context.Context, o options, w io.Writer) error {
	args := []string{"--epochs", strconv.Itoa(o.epochs), "--batch-size", strconv.Itoa(o.batchSize),
		"--lr", strconv.FormatFloat(o.lr, 'g', -1, 64), "--samples", strconv.Itoa(o.samples)}
	if o.killRank >= 0 {
		args = append(args, "--kill-rank", strconv.Itoa(o.killRank), "--kill-epoch", strconv.Itoa(o.killEpoch))
	}
	if o.deviceCheck {
		args = append(args, "--device-check")
	}
	trainer := &train.TorchTrainer{
		Script:  o.script,
		Args:    args,
		Python:  o.python,
		Scaling: train.ScalingConfig{NumWorkers: o.workers, UseGPU: o.gpu},
		Run: train.RunConfig{
			StoragePath: o.storage, // "" is ~/rayo_results
			Failure:     train.FailureConfig{MaxFailures: o.maxFailures},
			Checkpoint:  train.CheckpointConfig{NumToKeep: 2},
		},
	}
	device := "CPU, gloo"
	if o.gpu {
		device = "a GPU each, NCCL"
	}
	fmt.Fprintf(w, "== PyTorch DDP: a small CNN on %d synthetic 28x28 images, %d workers (%s), %d epochs; script %s (%s)\n",
		o.samples, o.workers, device, o.epochs, o.script, o.python)
	start := time.Now()
	res, err := trainer.Fit(ctx)
	if err != nil {
		return fmt.Errorf("training failed (%d failures of the worker group): %w", res.Failures, err)
	}
	fmt.Fprintf(w, "%6s %8s %8s %9s\n", "epoch", "attempt", "loss", "accuracy")
	for _, r := range res.MetricsHistory {
		fmt.Fprintf(w, "%6d %8d %8.4f %9.4f\n", r.Metrics.Int("epoch"), r.Attempt, r.Metrics.Float("loss"), r.Metrics.Float("accuracy"))
	}
	m := res.Metrics
	if m.Int("epoch") != o.epochs {
		return fmt.Errorf("training ended after epoch %d of %d", m.Int("epoch"), o.epochs)
	}
	acc, chance := m.Float("accuracy"), 1/float64(max(m.Int("classes"), 1))
	fmt.Fprintf(w, "final accuracy %.4f (chance %.2f) after %d epochs in %.1fs on %s\n",
		acc, chance, o.epochs, time.Since(start).Seconds(), m.String("backend"))
	if o.deviceCheck {
		fmt.Fprintf(w, "device check (rank 0): CUDA_VISIBLE_DEVICES=%s, torch.cuda.device_count() %d, device %s\n",
			m.String("cuda_visible_devices"), m.Int("cuda_device_count"), m.String("device"))
	}
	fmt.Fprintf(w, "restarts: %d%s\n", res.Failures, resumed(res.MetricsHistory))
	if res.Checkpoint == nil {
		return errors.New("training saved no checkpoint")
	}
	fmt.Fprintf(w, "checkpoint: %s\n", res.Checkpoint.Path())
	// Halfway from chance to perfect: a model that learned something.
	if want := (1 + chance) / 2; acc < want {
		return fmt.Errorf("final accuracy %.4f is below %.4f, halfway from chance to perfect", acc, want)
	}
	return nil
}

// resumed says where each restarted attempt began: its first report is of
// the epoch after its checkpoint's.
func resumed(hist []train.Reported) string {
	s, prev := "", 0
	for _, r := range hist {
		if r.Attempt != prev {
			s += fmt.Sprintf(" (attempt %d resumed at epoch %d)", r.Attempt, r.Metrics.Int("epoch"))
		}
		prev = r.Attempt
	}
	return s
}
