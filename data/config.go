package data

import (
	"context"
	"io"
	"time"

	"github.com/rayo-dev/rayo"
)

// Defaults of a run (Ray's DataContext).
const (
	// defaultTargetBlock is Ray Data's target_max_block_size.
	defaultTargetBlock = 128 << 20
	// defaultStall is how long a pipeline may make no progress.
	defaultStall = 10 * time.Minute
)

// execOptions configure runs of a dataset (plain data: they travel with
// a plan to a StreamingSplit's coordinator).
type execOptions struct {
	Budget     int64         `msgpack:"b"`
	Target     int64         `msgpack:"t"`
	Stall      time.Duration `msgpack:"s"`
	Progress   ProgressMode  `msgpack:"p"`
	progressTo io.Writer     // where progress goes (os.Stderr when nil)
}

func defaultExecOptions() execOptions { return execOptions{Stall: defaultStall} }

// ExecOption configures how a dataset runs (Ray's DataContext fields).
type ExecOption func(*execOptions)

// ObjectStoreBudget bounds the object-store bytes a run holds: blocks
// queued between operators, being processed or handed to the consumer,
// and room for running tasks' output (Ray's
// execution_options.resource_limits.object_store_memory). Default: half
// the cluster's object-store capacity.
func ObjectStoreBudget(bytes int64) ExecOption { return func(o *execOptions) { o.Budget = bytes } }

// TargetBlockSize is the size of the blocks operators produce (Ray's
// target_max_block_size; default 128 MiB, at most an eighth of the
// budget).
func TargetBlockSize(bytes int64) ExecOption { return func(o *execOptions) { o.Target = bytes } }

// StallTimeout fails a run that makes no progress for d with a
// *StallError naming the operator it waits on (default 10 minutes; 0
// waits forever, as Ray Data does).
func StallTimeout(d time.Duration) ExecOption { return func(o *execOptions) { o.Stall = d } }

// ProgressMode says how a run reports progress.
type ProgressMode int

const (
	// ProgressAuto: bars on a terminal, plain lines otherwise (default).
	ProgressAuto ProgressMode = iota
	// ProgressBars: one bar per operator, redrawn in place.
	ProgressBars
	// ProgressLines: a plain line per operator every few seconds.
	ProgressLines
	// ProgressQuiet: nothing.
	ProgressQuiet
)

// Progress sets how a run reports its progress, and where (default
// os.Stderr).
func Progress(mode ProgressMode, w io.Writer) ExecOption {
	return func(o *execOptions) { o.Progress, o.progressTo = mode, w }
}

// WithOptions returns the dataset with run options set.
func (d *Dataset) WithOptions(opts ...ExecOption) *Dataset {
	if d.err != nil {
		return d
	}
	o := d.exec
	for _, f := range opts {
		f(&o)
	}
	if o.Budget < 0 || o.Target < 0 || o.Stall < 0 {
		return failed(errorf("a negative budget, block size or stall timeout"))
	}
	return &Dataset{n: d.n, exec: o}
}

// config resolves a run's configuration against the cluster.
func (d *Dataset) config(ctx context.Context) (execConfig, error) {
	o := d.exec
	cfg := execConfig{budget: o.Budget, targetBlock: o.Target, stall: o.Stall}
	nodes, err := rayo.Nodes(ctx)
	if err != nil {
		return cfg, err
	}
	var store int64
	for _, n := range nodes {
		if n.Alive {
			store += n.ObjectStoreMemory
			cfg.cpus += n.Resources["CPU"]
		}
	}
	cfg.cpus = max(cfg.cpus, 1)
	if cfg.budget == 0 {
		cfg.budget = max(store/2, 1<<20)
	}
	if cfg.targetBlock == 0 {
		// Small enough that the blocks in flight (a few per running task
		// and at the consumer) fit the budget.
		cfg.targetBlock = min(defaultTargetBlock, max(cfg.budget/8, 1<<20))
	}
	return cfg, nil
}
