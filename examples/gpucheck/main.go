// Command gpucheck checks, on a machine with an NVIDIA GPU, that a task
// which asks for one GPU sees exactly one: it runs a task with
// Options(rayo.NumGPUs(1)) that reports
//
//   - CUDA_VISIBLE_DEVICES as the task sees it (the node assigns GPU IDs
//     and the worker sets the variable before it runs the task);
//   - the output of `nvidia-smi -L` run from the task;
//   - the output of `python3 -c "import torch; print(torch.cuda.device_count())"`
//     run from the task;
//
// and exits non-zero unless CUDA_VISIBLE_DEVICES names exactly one device,
// nvidia-smi lists exactly one GPU and torch counts 1. nvidia-smi does not
// honour CUDA_VISIBLE_DEVICES, so its check expects a machine (or
// container) that exposes a single GPU; torch's count is the one that
// shows the variable at work.
//
// It is meant to be run by scripts/gpu-check.sh against a head started
// there (RAYO_ADDRESS and RAYO_TOKEN set); run alone it starts an embedded
// cluster, which offers GPUs only if rayo detects them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/rayo-dev/rayo"
)

// Report is what the probe task sees in its worker.
type Report struct {
	Host     string
	Pid      int
	CUDASet  bool   // whether CUDA_VISIBLE_DEVICES is set at all
	CUDA     string // its value
	SMI      string // nvidia-smi -L's output
	SMIErr   string // why nvidia-smi -L failed, if it did
	Torch    string // what the torch one-liner printed
	TorchErr string
}

// probe runs where the cluster has a GPU for it (the driver asks for one).
var probe = rayo.Register[Report]("gpucheck.probe", func(ctx context.Context) (Report, error) {
	var r Report
	r.Host, _ = os.Hostname()
	r.Pid = os.Getpid()
	r.CUDA, r.CUDASet = os.LookupEnv("CUDA_VISIBLE_DEVICES")
	r.SMI, r.SMIErr = run(ctx, time.Minute, "nvidia-smi", "-L")
	r.Torch, r.TorchErr = run(ctx, 3*time.Minute, "python3", "-c", "import torch; print(torch.cuda.device_count())")
	return r, nil
})

// run runs a command with a time limit and returns its stdout, or a
// description of its failure (with its stderr).
func run(ctx context.Context, limit time.Duration, name string, args ...string) (out, errMsg string) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	out = stdout.String()
	if err != nil {
		msg := err.Error()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			msg = fmt.Sprintf("timed out after %v", limit)
		}
		if s := strings.TrimSpace(stderr.String()); s != "" {
			msg += ": " + lastLines(s, 10)
		}
		return out, msg
	}
	return out, ""
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// check returns what is wrong with a report; nil means it passes.
func check(r Report) []string {
	var bad []string
	switch ids := deviceList(r.CUDA); {
	case !r.CUDASet:
		bad = append(bad, "CUDA_VISIBLE_DEVICES is not set in the task")
	case len(ids) != 1:
		bad = append(bad, fmt.Sprintf("CUDA_VISIBLE_DEVICES=%q names %d devices, want 1", r.CUDA, len(ids)))
	}
	if r.SMIErr != "" {
		bad = append(bad, "nvidia-smi -L failed: "+r.SMIErr)
	} else if n := countGPUs(r.SMI); n != 1 {
		bad = append(bad, fmt.Sprintf("nvidia-smi -L lists %d GPUs, want 1", n))
	}
	if r.TorchErr != "" {
		bad = append(bad, "torch failed: "+r.TorchErr)
	} else if got := lastLine(r.Torch); got != "1" {
		bad = append(bad, fmt.Sprintf("torch.cuda.device_count() printed %q, want 1", got))
	}
	return bad
}

// deviceList splits a CUDA_VISIBLE_DEVICES value into its entries.
func deviceList(v string) []string {
	var ids []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			ids = append(ids, f)
		}
	}
	return ids
}

// countGPUs counts the "GPU n: ..." lines of nvidia-smi -L (MIG devices
// are listed on indented lines under their GPU and are not counted).
func countGPUs(out string) int {
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "GPU ") {
			n++
		}
	}
	return n
}

// lastLine returns the last non-blank line of s, trimmed.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func main() {
	timeout := flag.Duration("timeout", 5*time.Minute, "how long to wait for the task (it waits for a GPU to be free)")
	gpus := flag.Float64("gpus", 1, "GPUs the task asks for")
	flag.Parse()

	ctx := context.Background()
	if err := rayo.Init(ctx); err != nil { // in a worker: serves tasks, never returns
		fmt.Fprintln(os.Stderr, "gpucheck:", err)
		os.Exit(2)
	}

	gctx, cancel := context.WithTimeout(ctx, *timeout)
	r, err := probe.Options(rayo.NumGPUs(*gpus)).Remote().Get(gctx)
	cancel()
	if err != nil {
		rayo.Shutdown()
		fmt.Fprintf(os.Stderr, "gpucheck: the task asking for %v GPU did not finish: %v\n", *gpus, err)
		fmt.Fprintln(os.Stderr, "gpucheck: (does the cluster offer GPUs? rayo status shows its resources)")
		os.Exit(2)
	}

	fmt.Printf("task ran on %s, pid %d\n", r.Host, r.Pid)
	if r.CUDASet {
		fmt.Printf("CUDA_VISIBLE_DEVICES=%q\n", r.CUDA)
	} else {
		fmt.Println("CUDA_VISIBLE_DEVICES is not set")
	}
	fmt.Println("--- nvidia-smi -L")
	printOutput(r.SMI, r.SMIErr)
	fmt.Println("--- python3 -c 'import torch; print(torch.cuda.device_count())'")
	printOutput(r.Torch, r.TorchErr)
	fmt.Println("---")

	bad := check(r)
	rayo.Shutdown()
	if len(bad) > 0 {
		for _, b := range bad {
			fmt.Println("FAIL:", b)
		}
		os.Exit(1)
	}
	fmt.Println("PASS: the task sees exactly one GPU")
}

func printOutput(out, errMsg string) {
	if s := strings.TrimRight(out, "\n"); s != "" {
		fmt.Println(s)
	}
	if errMsg != "" {
		fmt.Println("error:", errMsg)
	}
}
