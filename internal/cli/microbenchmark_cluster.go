package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rayo-dev/rayo/internal/microbench"
	"github.com/rayo-dev/rayo/internal/scalebench"
)

// clusterBenchFlags are rayo microbenchmark's --cluster-* flags: the
// many-nodes harness (internal/scalebench).
type clusterBenchFlags struct {
	nodes string
	o     scalebench.Options
}

func (f *clusterBenchFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.nodes, "cluster-nodes", "", "run the many-nodes rows instead: start a head and N node daemons (this binary, each in its own network namespace where root allows) for each N of a comma-separated list, e.g. 10,50,100")
	fl.StringVar(&f.o.Netns, "cluster-netns", "auto", "--cluster-nodes: auto (a network namespace per node daemon where possible, else loopback) or off (loopback)")
	fl.BoolVar(&f.o.PlainTCP, "cluster-plain-tcp", false, "--cluster-nodes: start the cluster with --tls=false (TLS is on by default)")
	fl.Float64Var(&f.o.NodeCPUs, "cluster-node-cpus", 1, "--cluster-nodes: --num-cpus of each node daemon")
	fl.Int64Var(&f.o.StoreBytes, "cluster-node-store", 64<<20, "--cluster-nodes: each node's object store in bytes (the transfer rows' nodes get what their objects need)")
	fl.IntVar(&f.o.Tasks, "cluster-tasks", 100000, "--cluster-nodes: no-op tasks of the scheduling row")
	fl.DurationVar(&f.o.CPUWindow, "cluster-cpu-window", 10*time.Second, "--cluster-nodes: how long the idle head's CPU is measured")
	fl.Int64Var(&f.o.TransferBytes, "cluster-transfer-bytes", 1<<30, "--cluster-nodes: the size of the object pulled between two nodes")
	fl.Int64Var(&f.o.BroadcastBytes, "cluster-broadcast-bytes", 256<<20, "--cluster-nodes: the size of the broadcast object")
	fl.IntVar(&f.o.BroadcastNodes, "cluster-broadcast-nodes", 50, "--cluster-nodes: how many nodes read the broadcast object (the rows run where N is at least this)")
	fl.StringVar(&f.o.CapRate, "cluster-cap-rate", "1gbit", "--cluster-nodes: the tc rate of each node's link in the capped broadcast")
	fl.DurationVar(&f.o.RowTimeout, "cluster-row-timeout", 10*time.Minute, "--cluster-nodes: the most a row that waits for the cluster may take; past it the run fails")
	fl.StringVar(&f.o.RunID, "cluster-run-id", "", "--cluster-nodes: 1 to 4 hex digits naming the run's namespaces (rayo-sb-ID-i) and bridge (rsbIDbr) (default: random)")
}

// run runs the harness; it is the driver, so the caller has not called
// rayo.Init.
func (f *clusterBenchFlags) run(ctx context.Context, out, errOut io.Writer, filter *regexp.Regexp, asJSON bool, tempDir string) ([]microbench.Result, error) {
	for _, s := range strings.Split(f.nodes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--cluster-nodes: %q is not a node count", s)
		}
		f.o.Nodes = append(f.o.Nodes, n)
	}
	f.o.Filter = filter
	if !asJSON {
		f.o.Progress = out
	}
	f.o.TempDir = tempDir
	f.o.Log = slog.New(slog.NewTextHandler(errOut, nil))
	return scalebench.Run(ctx, f.o)
}
