// Command rayo starts, stops and inspects rayo clusters, and benchmarks
// them. See `rayo --help`.
package main

import (
	"context"
	"os"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/cli"
	"github.com/rayo-dev/rayo/internal/rpc"
	// Python's rayo.train.torch.TorchTrainer runs its Go side (the task
	// rayo.train.fit and the worker actors) in this binary, a Python
	// job's workers.
	_ "github.com/rayo-dev/rayo/train"
)

func main() {
	// Daemons hold a descriptor per connection; the processes they start
	// inherit the raised limit.
	_, _ = rpc.RaiseFileLimit()
	// `rayo microbenchmark` is a rayo program: this binary is then also
	// its own worker, and in a worker Init serves tasks and never returns.
	if rayo.IsWorker() {
		_ = rayo.Init(context.Background())
	}
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
