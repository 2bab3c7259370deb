// Command rayo starts, stops and inspects rayo clusters, and benchmarks
// them. See `rayo --help`.
package main

import (
	"context"
	"os"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/cli"
)

func main() {
	// `rayo microbenchmark` is a rayo program: this binary is then also
	// its own worker, and in a worker Init serves tasks and never returns.
	if rayo.IsWorker() {
		_ = rayo.Init(context.Background())
	}
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
