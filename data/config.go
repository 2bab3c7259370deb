package data

import (
	"context"
	"io"
	"os"
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

// execOptions configure runs of a dataset.
type execOptions struct {
	budget     int64
	target     int64
	stall      time.Duration
	progress   ProgressMode
	progressTo io.Writer
}

// ExecOption configures how a dataset runs (Ray's DataContext fields).
type ExecOption func(*execOptions)

// ObjectStoreBudget bounds the object-store bytes a run holds: blocks
// queued between operators, being processed or handed to the consumer,
// and room for running tasks' output (Ray's
// execution_options.resource_limits.object_store_memory). Default: half
// the cluster's object-store capacity.
func ObjectStoreBudget(bytes int64) ExecOption { return func(o *execOptions) { o.budget = bytes } }

// TargetBlockSize is the size of the blocks operators produce (Ray's
// target_max_block_size; default 128 MiB, at most a quarter of the
// budget).
func TargetBlockSize(bytes int64) ExecOption { return func(o *execOptions) { o.target = bytes } }

// StallTimeout fails a run that makes no progress for d with a
// *StallError naming the operator it waits on (default 10 minutes; 0
// waits forever, as Ray Data does).
func StallTimeout(d time.Duration) ExecOption { return func(o *execOptions) { o.stall = d } }

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
	return func(o *execOptions) { o.progress, o.progressTo = mode, w }
}

// WithOptions returns the dataset with run options set.
func (d *Dataset) WithOptions(opts ...ExecOption) *Dataset {
	if d.err != nil {
		return d
	}
	return &Dataset{n: d.n, exec: append(append([]ExecOption{}, d.exec...), opts...)}
}

// config resolves a run's configuration against the cluster.
func (d *Dataset) config(ctx context.Context) (execConfig, execOptions, error) {
	o := execOptions{stall: defaultStall, progressTo: os.Stderr}
	for _, f := range d.exec {
		f(&o)
	}
	cfg := execConfig{budget: o.budget, targetBlock: o.target, stall: o.stall}
	if o.budget < 0 || o.target < 0 || o.stall < 0 {
		return cfg, o, errorf("negative budget, block size or stall timeout")
	}
	nodes, err := rayo.Nodes(ctx)
	if err != nil {
		return cfg, o, err
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
		cfg.targetBlock = min(defaultTargetBlock, max(cfg.budget/4, 1<<20))
	}
	return cfg, o, nil
}

// ReadOption configures a source.
type ReadOption func(*readOptions)

type readOptions struct {
	parallelism int
}

// Parallelism sets how many read tasks a source is split into (Ray's
// override_num_blocks).
func Parallelism(n int) ReadOption { return func(o *readOptions) { o.parallelism = n } }

func newReadOptions(opts []ReadOption) readOptions {
	var o readOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}
