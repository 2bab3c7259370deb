package scalebench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"syscall"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/microbench"
)

// Options configure a run. The zero value of each field is its default.
type Options struct {
	// Nodes are the cluster sizes, run in turn (default 10, 50, 100).
	Nodes []int
	// Filter selects rows by name ("N=10 register all nodes", ...).
	Filter *regexp.Regexp
	// Progress receives each row as it finishes (the table form).
	Progress io.Writer
	Log      *slog.Logger
	// Binary is the rayo executable the daemons run (default: this one).
	Binary string
	// TempDir holds each run's directory (default: os.TempDir()).
	TempDir string
	// Netns: "auto" (namespaces where possible, else loopback), "off".
	Netns string
	// RunID names the run's namespaces (rayo-sb-<id>-<i>) and bridge
	// (rsb<id>br): 4 hex digits, random by default.
	RunID string

	// PlainTCP starts the cluster with --tls=false (a network you
	// trust), to measure what TLS costs; TLS is on by default.
	PlainTCP bool

	NodeCPUs   float64 // --num-cpus of each node daemon (1)
	StoreBytes int64   // each node's object store (64 MiB)
	// CPUWindow is how long the head's idle CPU is measured (10 s).
	CPUWindow time.Duration
	// Tasks is the scheduling row's task count (100,000).
	Tasks int
	// FailTasksPerNode and FailResultBytes shape the failure-at-scale
	// row's load (20 per node, 256 KiB each).
	FailTasksPerNode int
	FailResultBytes  int
	// TransferBytes is the pulled object's size (1 GiB); BroadcastBytes
	// the broadcast one's (256 MiB), to BroadcastNodes nodes (50);
	// CapRate the tc rate of the capped broadcast ("1gbit").
	TransferBytes  int64
	BroadcastBytes int64
	BroadcastNodes int
	CapRate        string
	// RowTimeout bounds each row that waits for the cluster (10 min).
	RowTimeout time.Duration
}

func (o *Options) defaults() error {
	if len(o.Nodes) == 0 {
		o.Nodes = []int{10, 50, 100}
	}
	for _, n := range o.Nodes {
		if n < 1 {
			return fmt.Errorf("scalebench: %d nodes", n)
		}
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if o.Binary == "" {
		b, err := os.Executable()
		if err != nil {
			return fmt.Errorf("scalebench: finding the rayo binary: %w", err)
		}
		o.Binary = b
	}
	if o.TempDir == "" {
		o.TempDir = os.TempDir()
	}
	if o.Netns == "" {
		o.Netns = "auto"
	}
	if o.Netns != "auto" && o.Netns != "off" {
		return fmt.Errorf("scalebench: netns %q: want auto or off", o.Netns)
	}
	if o.RunID == "" {
		o.RunID = newRunID()
	}
	if !regexp.MustCompile(`^[0-9a-f]{1,4}$`).MatchString(o.RunID) {
		return fmt.Errorf("scalebench: run ID %q: want 1 to 4 hex digits", o.RunID)
	}
	setDefault(&o.NodeCPUs, 1)
	setDefault(&o.StoreBytes, 64<<20)
	setDefault(&o.CPUWindow, 10*time.Second)
	setDefault(&o.Tasks, 100000)
	setDefault(&o.FailTasksPerNode, 20)
	setDefault(&o.FailResultBytes, 256<<10)
	setDefault(&o.TransferBytes, 1<<30)
	setDefault(&o.BroadcastBytes, 256<<20)
	setDefault(&o.BroadcastNodes, 50)
	setDefault(&o.CapRate, "1gbit")
	setDefault(&o.RowTimeout, 10*time.Minute)
	return nil
}

func setDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// bench is one run's state: the rows so far.
type bench struct {
	o       *Options
	results []microbench.Result
}

func (b *bench) want(name string) bool { return b.o.Filter == nil || b.o.Filter.MatchString(name) }

func (b *bench) add(name string, v, sd float64, unit string) {
	r := microbench.Result{Name: name, Value: v, Stddev: sd, Unit: unit}
	b.results = append(b.results, r)
	fmt.Fprintf(b.o.Progress, "%-50s %14.2f +- %.2f %s\n", r.Name, r.Value, r.Stddev, r.Unit)
}

// Run starts each cluster size in turn, measures its rows and tears it
// down. It is the driver: it calls rayo.Init (and Shutdown) itself, so
// the caller must not have. SIGINT and SIGTERM end the run, cleanly.
func Run(ctx context.Context, o Options) ([]microbench.Result, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	b := &bench{o: &o}
	for _, n := range o.Nodes {
		if err := b.runN(ctx, n); err != nil {
			return b.results, fmt.Errorf("scalebench: N=%d: %w", n, err)
		}
	}
	return b.results, nil
}

// runN runs the rows of one cluster size, and removes everything it made
// whatever happens.
func (b *bench) runN(ctx context.Context, n int) (err error) {
	o := b.o
	root, err := os.MkdirTemp(o.TempDir, fmt.Sprintf("scalebench-%d-", n))
	if err != nil {
		return fmt.Errorf("making the run's directory: %w", err)
	}
	defer func() {
		if err == nil {
			err = os.RemoveAll(root)
		} else {
			o.Log.Info("the run failed: its logs stay", "dir", root)
		}
	}()
	marker := fmt.Sprintf("%s-%d-%d", o.RunID, n, time.Now().UnixNano())
	// Netns setup and teardown run even when ctx is cancelled: they are
	// the cleanup.
	nw, err := b.network(n)
	if err != nil {
		return err
	}
	defer func() {
		if terr := nw.teardown(); terr != nil {
			err = errors.Join(err, terr)
		}
	}()
	var c *cluster
	defer func() {
		if c != nil {
			c.stop()
		}
		if left := sweep(marker, 15*time.Second); left > 0 {
			err = errors.Join(err, fmt.Errorf("%d process(es) outlived their daemons; killed them", left))
		}
	}()
	c, err = startHead(ctx, o.Binary, root, marker, nw, o)
	if err != nil {
		return err
	}
	pfx := fmt.Sprintf("N=%d ", n)
	bigStore := func(i int) int64 {
		s := o.StoreBytes
		if i < 2 && b.wantPull(pfx) {
			s = max(s, o.TransferBytes+o.TransferBytes/4)
		}
		if n >= o.BroadcastNodes && b.wantBroadcast(pfx) {
			s = max(s, o.BroadcastBytes+o.BroadcastBytes/4)
		}
		return s
	}
	start := time.Now()
	if err := c.startNodes(o, bigStore); err != nil {
		return err
	}
	if err := c.waitAlive(ctx, 5*time.Minute); err != nil {
		return fmt.Errorf("waiting for %d nodes to register: %w", n, err)
	}
	if name := pfx + "register all nodes"; b.want(name) {
		b.add(name, time.Since(start).Seconds(), 0, "s")
	}
	// The driver's own warnings (retried leases, rebuilt objects: the
	// failure rows cause many) go to a file beside the daemons' logs.
	dlog, err := os.Create(filepath.Join(root, "driver.log"))
	if err != nil {
		return fmt.Errorf("the driver's log: %w", err)
	}
	defer dlog.Close()
	initCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := rayo.Init(initCtx, rayo.WithAddress(c.addr), rayo.WithToken(c.token), rayo.WithTempDir(c.headTemp),
		rayo.WithLogToDriver(false), rayo.WithLogger(slog.New(slog.NewTextHandler(dlog, nil)))); err != nil {
		return fmt.Errorf("rayo.Init: %w", err)
	}
	defer rayo.Shutdown()
	r := &rows{b: b, c: c, n: n, pfx: pfx}
	for _, row := range []func(context.Context) error{r.idle, r.cli, r.tasks, r.pull, r.broadcast, r.detect, r.silent, r.failure} {
		if err := row(ctx); err != nil {
			return err
		}
	}
	return nil
}

// network makes n nodes' places: namespaces where possible.
func (b *bench) network(n int) (*network, error) {
	why := "--cluster-netns=off"
	if b.o.Netns == "auto" {
		why = canNetns()
		if why == "" {
			start := time.Now()
			nw, err := setupNetns(b.o.RunID, n)
			if err == nil {
				b.o.Log.Info("network namespaces ready", "nodes", n, "subnet", fmt.Sprintf("10.%d.0.0/16", nw.subnet),
					"bridge", nw.bridge, "took", time.Since(start).Round(time.Millisecond))
				return nw, nil
			}
			why = err.Error()
		}
	}
	b.o.Log.Warn("no network namespaces: every daemon on loopback", "reason", why)
	return loopback(n), nil
}
