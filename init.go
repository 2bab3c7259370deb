package rayo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/rayo-dev/rayo/dashboard"
	"github.com/rayo-dev/rayo/internal/cluster"
	"github.com/rayo-dev/rayo/internal/core"
	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/gcs"
	"github.com/rayo-dev/rayo/internal/gpu"
	"github.com/rayo-dev/rayo/internal/node"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/reaper"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/sched"
	"github.com/rayo-dev/rayo/internal/session"
)

// InitOption configures Init.
type InitOption func(*initOptions)

type initOptions struct {
	address     string
	token       string
	tempDir     string
	resources   map[string]float64
	labels      map[string]string
	logToDriver bool
	logger      *slog.Logger
	env         map[string]string
	jobBinary   string
	entrypoint  string
	namespace   string
	storeMemory int64
	spillDir    string
	headWait    time.Duration
	nodeAddr    string
	dashboard   string
	// tls is the driver's TLS identity (nil: plain TCP); see tls.go.
	tls *rpc.TLS
}

// WithAddress joins the cluster whose head listens at addr ("host:port"),
// instead of starting an embedded one. RAYO_ADDRESS does the same; the
// value "auto" finds the cluster started on this machine with rayo start.
func WithAddress(addr string) InitOption { return func(o *initOptions) { o.address = addr } }

// WithToken sets the cluster token (default: RAYO_TOKEN, then the session
// directory of a cluster started on this machine).
func WithToken(token string) InitOption { return func(o *initOptions) { o.token = token } }

// WithTempDir sets where sessions live (default /tmp/rayo).
func WithTempDir(dir string) InitOption { return func(o *initOptions) { o.tempDir = dir } }

// WithNumCPUs sets the embedded cluster's CPUs (default: the machine's).
func WithNumCPUs(n float64) InitOption {
	return func(o *initOptions) { o.resources["CPU"] = n }
}

// WithNumGPUs sets the embedded cluster's GPUs.
func WithNumGPUs(n float64) InitOption {
	return func(o *initOptions) { o.resources["GPU"] = n }
}

// WithResources adds custom resources to the embedded cluster's node.
func WithResources(r map[string]float64) InitOption {
	return func(o *initOptions) {
		for k, v := range r {
			o.resources[k] = v
		}
	}
}

// WithLogToDriver turns the printing of worker output on the driver's
// terminal on (the default) or off. Worker log files keep every line.
func WithLogToDriver(on bool) InitOption { return func(o *initOptions) { o.logToDriver = on } }

// WithLogger sets the logger of the runtime (and of the embedded
// cluster's daemons, which otherwise log to the session directory).
func WithLogger(l *slog.Logger) InitOption { return func(o *initOptions) { o.logger = l } }

// WithObjectStoreMemory sets the embedded node's shared-memory object
// store capacity in bytes (default: 30% of the machine's memory).
func WithObjectStoreMemory(bytes int64) InitOption {
	return func(o *initOptions) { o.storeMemory = bytes }
}

// WithObjectSpillingDir sets where the embedded node spills objects
// (default: under the session directory). The node keeps its files in a
// directory of its own inside dir, removed when the driver ends.
func WithObjectSpillingDir(dir string) InitOption { return func(o *initOptions) { o.spillDir = dir } }

// WithNamespace sets the job's namespace: named actors are created and
// looked up there unless an actor's own Namespace option says otherwise.
// By default every job has a namespace of its own, as in Ray.
func WithNamespace(ns string) InitOption { return func(o *initOptions) { o.namespace = ns } }

// WithHeadTimeout bounds how long a call that needs the head (creating or
// looking up an actor or a placement group) waits for a head that is down
// or restarting before it fails with ErrHeadUnavailable (default one
// minute). Tasks, actor calls and objects do not need the head.
func WithHeadTimeout(d time.Duration) InitOption { return func(o *initOptions) { o.headWait = d } }

// WithNodeAddress makes the driver submit through the node daemon at addr
// (one of the cluster's nodes) rather than the one Init picks: a node on
// this host, the head's first.
func WithNodeAddress(addr string) InitOption { return func(o *initOptions) { o.nodeAddr = addr } }

// WithDashboard runs the head's HTTP API and web dashboard in an embedded
// cluster, listening on addr ("127.0.0.1:8265"; port 0 takes any free
// one). DashboardAddress says where it listens; log in with the token in
// the session directory (<temp dir>/embedded/session_latest/token).
// Clusters started with rayo start --head always run it.
func WithDashboard(addr string) InitOption { return func(o *initOptions) { o.dashboard = addr } }

// DashboardAddress is the host:port of the dashboard of the cluster this
// process is connected to ("" when it runs none).
func DashboardAddress() string {
	state.Lock()
	defer state.Unlock()
	if state.cluster != nil && state.cluster.Dashboard() != nil {
		return state.cluster.Dashboard().Addr()
	}
	return state.dashAddr
}

// WithJobBinary makes the job's workers run path instead of this
// program's executable. path must be a rayo program (its main calls
// Init, which serves tasks in a worker): its registered tasks and actors
// are the ones the job can call. A Python driver names its Go binary this
// way (rayo.init(go_binary=...)) to call Go tasks across languages.
func WithJobBinary(path string) InitOption { return func(o *initOptions) { o.jobBinary = path } }

// WithEntrypoint sets what `rayo list jobs` and the dashboard show as
// the job's driver (default: this program's executable); a Python driver
// gives its command line.
func WithEntrypoint(s string) InitOption { return func(o *initOptions) { o.entrypoint = s } }

// WithEnv sets environment variables for every worker of this job.
func WithEnv(env map[string]string) InitOption {
	return func(o *initOptions) {
		for k, v := range env {
			o.env[k] = v
		}
	}
}

// state is the process's runtime, set by Init.
var state struct {
	sync.Mutex
	rt *core.Runtime
	// cluster is the embedded cluster's head, node and dashboard.
	cluster  *cluster.Cluster
	dashAddr string // a joined cluster's, from its head
	logFile  *os.File
	// reaper cleans up after the embedded cluster if the driver dies
	// without Shutdown; spillDir is the embedded node's own directory
	// inside a WithObjectSpillingDir one.
	reaper   *reaper.Reaper
	spillDir string
	nodeID   string
	embedded bool
	// logToDriver: worker output is printed here, so Shutdown lets what
	// is still on its way arrive.
	logToDriver bool
}

func runtimeOrErr() (*core.Runtime, error) {
	state.Lock()
	rt := state.rt
	state.Unlock()
	if rt == nil {
		return nil, errs.ErrNotInitialized
	}
	return rt, nil
}

// A program's executable also serves as its embedded cluster's reaper
// (internal/reaper): then it cleans up after the driver and exits here,
// before any code of the program's main package runs.
func init() { reaper.RunIfReaper() }

// IsInitialized reports whether Init has connected this process to a
// cluster and Shutdown has not been called since (Ray's
// ray.is_initialized()). In a worker it is true while the worker serves.
// Libraries use it to refuse, with a clear error, what is registered
// after Init: workers run only the registrations made at package level.
func IsInitialized() bool {
	state.Lock()
	defer state.Unlock()
	return state.rt != nil
}

// IsWorker reports whether this process runs as a rayo worker.
func IsWorker() bool { return os.Getenv("RAYO_WORKER_MODE") == "1" }

// Init connects this process to a cluster. In a driver it starts an
// embedded single-node cluster, or joins the one RAYO_ADDRESS (or
// WithAddress) names, and returns. In a worker process (started by a node
// daemon) it serves tasks and never returns.
func Init(ctx context.Context, opts ...InitOption) error {
	if IsWorker() {
		runWorker()
	}
	o := &initOptions{resources: map[string]float64{}, logToDriver: true, env: map[string]string{}}
	for _, f := range opts {
		f(o)
	}
	if o.address == "" {
		o.address = os.Getenv("RAYO_ADDRESS")
	}
	if o.tempDir == "" {
		o.tempDir = session.DefaultTempDir
	}
	state.Lock()
	defer state.Unlock()
	if state.rt != nil {
		return errors.New("rayo: Init called twice; call Shutdown first")
	}
	var err error
	if o.address == "" {
		err = startEmbedded(ctx, o)
	} else {
		err = joinCluster(ctx, o)
	}
	if err != nil {
		shutdownLocked()
	}
	return err
}

// Shutdown disconnects from the cluster and stops what Init started: the
// embedded cluster's daemons and their workers. Pending results fail with
// ErrShutdown. It is safe to call more than once.
func Shutdown() {
	state.Lock()
	defer state.Unlock()
	shutdownLocked()
}

func shutdownLocked() {
	if state.rt != nil && state.logToDriver {
		waitLogsQuiet()
	}
	if state.rt != nil {
		state.rt.Close()
		state.rt = nil
	}
	if state.cluster != nil {
		state.cluster.Stop()
		state.cluster = nil
	}
	state.dashAddr = ""
	if state.reaper != nil {
		if err := state.reaper.Close(); err != nil {
			slog.Warn("the embedded cluster's reaper process", "err", err)
		}
		state.reaper = nil
	}
	if state.spillDir != "" {
		_ = os.Remove(state.spillDir) // empty once the node stopped
		state.spillDir = ""
	}
	if state.logFile != nil {
		_ = state.logFile.Close()
		state.logFile = nil
	}
	state.embedded = false
	state.logToDriver = false
}

func resourcesOf(o *initOptions) (sched.Resources, error) {
	r, err := sched.FromFloat(o.resources)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errs.ErrInvalidOption, err)
	}
	if _, ok := o.resources["CPU"]; !ok {
		r["CPU"] = int64(runtime.NumCPU()) * sched.Unit
	}
	if _, ok := o.resources["GPU"]; !ok {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		devs, err := gpu.Detect(ctx)
		cancel()
		if err == nil && len(devs) > 0 {
			r["GPU"] = int64(len(devs)) * sched.Unit
		}
	}
	return r, nil
}

// startEmbedded runs a head and a node daemon inside this process, on
// loopback, with a fresh token; workers are child processes.
func startEmbedded(ctx context.Context, o *initOptions) error {
	res, err := resourcesOf(o)
	if err != nil {
		return err
	}
	if o.storeMemory < 0 {
		return fmt.Errorf("%w: object store memory must not be negative", errs.ErrInvalidOption)
	}
	sess, err := session.Create(filepath.Join(o.tempDir, "embedded"))
	if err != nil {
		return fmt.Errorf("rayo: creating the session directory: %w", err)
	}
	token, err := session.NewToken()
	if err != nil {
		return err
	}
	if err := sess.WriteToken(token); err != nil {
		return err
	}
	log := o.logger
	if log == nil {
		f, err := sess.LogFile(fmt.Sprintf("driver-%d", os.Getpid()))
		if err != nil {
			return err
		}
		state.logFile = f
		log = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	// The reaper removes what the embedded cluster leaves should this
	// process die without Shutdown (panic, os.Exit, SIGKILL): it is told
	// of each file below as soon as it exists.
	rp, err := reaper.Start(state.logFile, log)
	if err != nil {
		log.Warn("no reaper: files of the embedded cluster stay behind if the driver dies without Shutdown", "err", err)
	}
	state.reaper = rp
	if o.tls, err = embeddedTLS(); err != nil {
		return err
	}
	spillDir := ""
	if o.spillDir != "" {
		spillDir = filepath.Join(o.spillDir, "rayo-"+filepath.Base(sess.Path))
		state.spillDir = spillDir
	}
	cfg := cluster.Config{
		Head: &gcs.Config{Token: token, BinariesDir: sess.BinariesDir(), Log: log.With("component", "head"), TLS: o.tls},
		Node: &node.Config{Token: token, TLS: o.tls, Resources: res, Labels: o.labels,
			IsHead: true, LogsDir: sess.LogsDir(), BinariesDir: sess.BinariesDir(), Log: log.With("component", "node"),
			ObjectStoreMemory: o.storeMemory, SpillDir: spillDir},
		OnHead: func(g *gcs.Server) error {
			if rp != nil {
				rp.Socket(rpc.UnixPath(g.Addr()))
			}
			_ = sess.WriteAddress(g.Addr())
			return nil
		},
		OnNode: func(n *node.Node) error {
			if rp != nil {
				rp.Node(n.ID())
				rp.Store(n.StorePath())
				rp.Dir(n.SpillDir())
				rp.Socket(rpc.UnixPath(n.Addr()))
			}
			return nil
		},
	}
	if rp != nil {
		cfg.Node.OnWorkerListen = func(addr string) { rp.Socket(rpc.UnixPath(addr)) }
	}
	if o.dashboard != "" {
		cfg.Dashboard = &dashboard.Config{Listen: o.dashboard, Token: token, TLS: o.tls,
			SessionDir: sess.Path, Log: log.With("component", "dashboard")}
		cfg.OnDashboard = func(d *dashboard.Server) error {
			_ = sess.WriteDashboardAddress(d.Addr())
			return nil
		}
	}
	c, err := cluster.Start(cfg)
	if err != nil {
		return fmt.Errorf("rayo: %w", err)
	}
	state.cluster, state.nodeID, state.embedded = c, c.Node().ID(), true
	bin, err := cluster.LocalBinary(o.jobBinary)
	if err != nil {
		return err
	}
	if err := connectDriver(ctx, o, c.Head().Addr(), c.Node().Addr(), token, bin, log); err != nil {
		return err
	}
	if rp != nil {
		rp.Socket(rpc.UnixPath(state.rt.Addr()))
	}
	return nil
}

// joinCluster connects to a running cluster, uploading this program's
// executable so that nodes which cannot read it can run workers.
func joinCluster(ctx context.Context, o *initOptions) error {
	addr, token := o.address, o.token
	if addr == "auto" {
		addr = ""
	}
	addr, token, err := session.Resolve(o.tempDir, addr, token)
	if err != nil {
		return fmt.Errorf("rayo: finding the cluster: %w", err)
	}
	log := o.logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if o.tls, err = joinTLS(ctx, o.tempDir, addr, token); err != nil {
		return fmt.Errorf("rayo: TLS for the cluster at %s: %w", addr, mapRPCErr(err))
	}
	j, err := cluster.Join(ctx, cluster.JoinConfig{HeadAddr: addr, Token: token, TLS: o.tls, NodeAddr: o.nodeAddr, Binary: o.jobBinary})
	if err != nil {
		return err
	}
	state.dashAddr = j.DashboardAddr
	state.nodeID = j.NodeID
	return connectDriver(ctx, o, addr, j.NodeAddr, token, j.Binary, log)
}

// mapRPCErr turns a refused hello into ErrUnauthenticated.
func mapRPCErr(err error) error { return cluster.AuthError(err) }

// connectDriver starts the driver's runtime and registers the job. The
// head connection stays open: the job lives as long as it does.
func connectDriver(ctx context.Context, o *initOptions, headAddr, nodeAddr, token string, bin protocol.Binary, log *slog.Logger) error {
	var sink func(*protocol.LogBatch)
	if o.logToDriver {
		sink = printWorkerLogs
		state.logToDriver = true
	}
	rt, err := cluster.ConnectDriver(ctx, cluster.DriverConfig{HeadAddr: headAddr, NodeAddr: nodeAddr, Token: token, TLS: o.tls,
		Listen: listenNear(nodeAddr), Binary: bin, LogSink: sink, Log: log, HeadWait: o.headWait, Env: o.env, Namespace: o.namespace, Entrypoint: o.entrypoint})
	if err != nil {
		return err
	}
	state.rt = rt
	return nil
}

var (
	printMu     sync.Mutex
	lastPrinted time.Time
)

// waitLogsQuiet gives worker output still on its way a moment to arrive
// before Shutdown: until none came for a short while, within a bound.
func waitLogsQuiet() {
	const quiet, bound = 30 * time.Millisecond, 300 * time.Millisecond
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		time.Sleep(quiet)
		printMu.Lock()
		last := lastPrinted
		printMu.Unlock()
		if time.Since(last) >= quiet {
			return
		}
	}
}

// printWorkerLogs prints forwarded worker output with Ray's prefix.
func printWorkerLogs(b *protocol.LogBatch) {
	printMu.Lock()
	defer printMu.Unlock()
	lastPrinted = time.Now()
	short := b.NodeID
	if len(short) > 8 {
		short = short[:8]
	}
	for _, l := range b.Lines {
		name := l.Task
		if name == "" {
			name = "worker"
		}
		w := io.Writer(os.Stdout)
		if l.Stderr {
			w = os.Stderr
		}
		if l.Pid == 0 {
			fmt.Fprintf(w, "(rayo node=%s) %s\n", short, l.Text)
			continue
		}
		fmt.Fprintf(w, "(%s pid=%d node=%s) %s\n", name, l.Pid, short, l.Text)
	}
}

// runWorker serves tasks until the node daemon goes away, then exits.
func runWorker() {
	var job protocol.JobSpec
	if err := json.Unmarshal([]byte(os.Getenv("RAYO_JOB_SPEC")), &job); err != nil {
		fmt.Fprintf(os.Stderr, "rayo worker: malformed RAYO_JOB_SPEC: %v\n", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ready := func(rt *core.Runtime) {
		state.Lock()
		state.rt = rt
		state.nodeID = os.Getenv("RAYO_NODE_ID")
		state.Unlock()
	}
	rt, err := core.New(core.Config{Token: os.Getenv("RAYO_TOKEN"), TLS: workerTLS(), NodeAddr: os.Getenv("RAYO_NODE_ADDRESS"),
		Listen: listenNear(os.Getenv("RAYO_NODE_ADDRESS")), Job: job, WorkerID: os.Getenv("RAYO_WORKER_ID"), IsWorker: true, Executor: executor{}, Log: log,
		BeforeRegister: ready})
	if err != nil {
		fmt.Fprintf(os.Stderr, "rayo worker: %v\n", err)
		os.Exit(1)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-rt.NodeDone():
	case <-sigs:
	}
	// Give in-flight replies a moment to leave, then go.
	done := make(chan struct{})
	go func() { rt.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
	}
	os.Exit(0)
}

func currentNamespace() string {
	rt, err := runtimeOrErr()
	if err != nil {
		return ""
	}
	return rt.Job().Namespace
}

// NodeID is the ID of the node this process submits through (a driver) or
// runs on (a worker).
func NodeID() string {
	state.Lock()
	defer state.Unlock()
	return state.nodeID
}
