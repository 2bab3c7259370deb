package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rayo-dev/rayo/dashboard"
	"github.com/rayo-dev/rayo/internal/cluster"
	"github.com/rayo-dev/rayo/internal/gcs"
	"github.com/rayo-dev/rayo/internal/gpu"
	"github.com/rayo-dev/rayo/internal/node"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/sched"
	"github.com/rayo-dev/rayo/internal/session"
)

// DefaultPort is the head's default port, Ray's GCS port.
const DefaultPort = 6379

type startFlags struct {
	head      bool
	address   string
	token     string
	port      int
	numCPUs   float64
	numGPUs   float64
	memory    int64
	resources string
	labels    string
	tempDir   string
	nodeIP    string
	block     bool
	storeMem  int64
	spillDir  string
	dataDir   string
	syncState bool
	grace     time.Duration
	maxTasks  int
	dashHost  string
	dashPort  int
	dashNames []string
	metricTok bool
	// readyFD is set on the re-executed daemon: it reports readiness there.
	readyFD int
	// headNode is set on the node daemon a head starts for its machine.
	headNode bool
	tls      tlsFlags

	tokenFile string
	// keepSessions is how many session directories start keeps.
	keepSessions int

	// softWorkers and maxWorkers cap the node's pooled workers (node.Config).
	softWorkers int
	maxWorkers  int
}

func newStart() *cobra.Command {
	f := &startFlags{}
	cmd := &cobra.Command{
		Use:   "start (--head | --address HOST:PORT)",
		Short: "Start a head or a node daemon on this machine",
		Long: `Start the head daemon (--head), which also runs a node daemon for this machine,
or a node daemon that joins the cluster at --address. Without --block the
daemon runs in the background; its log is in the session directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runStart(cmd, f) },
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.head, "head", false, "start the head daemon")
	fl.StringVar(&f.address, "address", "", "join the cluster whose head is at HOST:PORT")
	fl.StringVar(&f.token, tokenFlag, "", "the cluster token when joining from another machine (default: RAYO_TOKEN, then the local session); visible to every local user in ps: prefer RAYO_TOKEN or --token-file")
	fl.StringVar(&f.tokenFile, tokenFileFlag, "", tokenFileHelp)
	fl.IntVar(&f.keepSessions, "keep-sessions", session.DefaultKeep, "session directories to keep under --temp-dir: older ones whose daemons have exited are removed at start (0: keep all)")
	fl.IntVar(&f.port, "port", DefaultPort, "the head's port (0: any free port)")
	fl.Float64Var(&f.numCPUs, "num-cpus", -1, "CPUs to offer (default: the machine's)")
	fl.Float64Var(&f.numGPUs, "num-gpus", -1, "GPUs to offer (default: the NVIDIA GPUs nvidia-smi finds)")
	fl.Int64Var(&f.memory, "memory", -1, "memory to offer, in bytes (default: 70% of available memory)")
	fl.StringVar(&f.resources, "resources", "", `custom resources as JSON, e.g. '{"special": 1}'`)
	fl.StringVar(&f.labels, "labels", "", "node labels, k=v,k2=v2")
	fl.StringVar(&f.tempDir, "temp-dir", session.DefaultTempDir, "where session directories live")
	fl.StringVar(&f.nodeIP, "node-ip-address", "127.0.0.1", "the address daemons listen on (loopback unless set)")
	fl.BoolVar(&f.block, "block", false, "run in the foreground until interrupted")
	fl.Int64Var(&f.storeMem, "object-store-memory", 0, "shared-memory object store capacity in bytes (default: 30% of the machine's memory)")
	fl.IntVar(&f.softWorkers, "num-workers-soft-limit", 0, "the node's soft cap on pooled worker processes; workers blocked in Get do not count (default: 4 per CPU, at least 16)")
	fl.IntVar(&f.maxWorkers, "max-worker-processes", 0, "the node's hard cap on pooled worker processes, blocked ones included (default: 8 times the soft limit, at least 64)")
	fl.StringVar(&f.spillDir, "object-spilling-dir", "", "where objects spill when the store is full (default: under the session directory)")
	fl.StringVar(&f.dataDir, "head-data-dir", "", "where the head persists its state (default: <temp-dir>/head); a head started on a directory a crashed head left recovers its cluster")
	fl.DurationVar(&f.grace, "head-recovery-grace", 30*time.Second, "how long a recovering head waits for the nodes and drivers it knew before it declares them gone")
	fl.IntVar(&f.maxTasks, "head-max-task-records", 0, "task records the head keeps for the state API (default 100000); older ones are dropped, and lists say so")
	fl.BoolVar(&f.syncState, "head-sync-writes", false, "fsync each write of the head's state (survives a machine crash, not only the head's; slower)")
	fl.StringVar(&f.dashHost, "dashboard-host", "127.0.0.1", "the address the dashboard and HTTP API listen on (loopback unless set)")
	fl.BoolVar(&f.metricTok, "metrics-need-token", false, "ask for the cluster token on /metrics from loopback too (other addresses always need it)")
	fl.IntVar(&f.dashPort, "dashboard-port", dashboard.DefaultPort, "the dashboard's port (when the default is taken, another is used; see the session's dashboard_address)")
	fl.StringSliceVar(&f.dashNames, "dashboard-allowed-host", nil, "a host name (or name:port) the dashboard answers to besides its address and, on loopback, localhost: the name in the URL a browser or proxy uses (repeat or comma-separate)")
	fl.IntVar(&f.readyFD, "ready-fd", 0, "internal: report readiness on this file descriptor")
	_ = fl.MarkHidden("ready-fd")
	fl.BoolVar(&f.headNode, "head-node", false, "internal: this is the node daemon of the head's machine")
	_ = fl.MarkHidden("head-node")
	addTLSFlags(fl, &f.tls)
	return cmd
}

func (f *startFlags) validate() (sched.Resources, map[string]string, error) {
	if f.head == (f.address != "") {
		return nil, nil, errors.New("give exactly one of --head and --address")
	}
	if f.port < 0 || f.port > 65535 {
		return nil, nil, fmt.Errorf("--port %d is not a port", f.port)
	}
	if f.storeMem < 0 {
		return nil, nil, fmt.Errorf("--object-store-memory must not be negative")
	}
	if net.ParseIP(f.nodeIP) == nil {
		return nil, nil, fmt.Errorf("--node-ip-address %q is not an IP address", f.nodeIP)
	}
	res := map[string]float64{}
	if f.resources != "" {
		if err := json.Unmarshal([]byte(f.resources), &res); err != nil {
			return nil, nil, fmt.Errorf(`--resources must be a JSON object of numbers, like '{"special": 1}': %v`, err)
		}
		for _, k := range []string{"CPU", "GPU", "memory"} {
			if _, ok := res[k]; ok {
				return nil, nil, fmt.Errorf("--resources cannot set %s; use --num-cpus, --num-gpus or --memory", k)
			}
		}
	}
	res["CPU"] = float64(runtime.NumCPU())
	if f.numCPUs >= 0 {
		res["CPU"] = f.numCPUs
	}
	if f.numGPUs >= 0 {
		res["GPU"] = f.numGPUs
	}
	labels := map[string]string{}
	if f.numGPUs < 0 {
		// Detect NVIDIA GPUs; an override with --num-gpus skips this.
		if n, accel := detectGPUs(); n > 0 {
			res["GPU"] = float64(n)
			if accel != "" {
				labels["accelerator_type"] = accel
				res["accelerator_type:"+accel] = 1
			}
		}
	}
	if f.memory >= 0 {
		res["memory"] = float64(f.memory)
	} else if m := node.MemInfo("MemAvailable"); m > 0 {
		res["memory"] = float64(m) * 0.7
	}
	r, err := sched.FromFloat(res)
	if err != nil {
		return nil, nil, err
	}
	if _, ok := r["CPU"]; !ok {
		r["CPU"] = 0 // --num-cpus 0: say so, or the node would take the machine's
	}
	if f.labels != "" {
		for _, kv := range strings.Split(f.labels, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || strings.TrimSpace(k) == "" {
				return nil, nil, fmt.Errorf("--labels: %q is not key=value", kv)
			}
			labels[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return r, labels, nil
}

// detectGPUs counts the machine's NVIDIA GPUs and names their model.
func detectGPUs() (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	devs, err := gpu.Detect(ctx)
	if err != nil || len(devs) == 0 {
		return 0, ""
	}
	return len(devs), gpu.AcceleratorType(devs[0].Name)
}

func runStart(cmd *cobra.Command, f *startFlags) error {
	res, labels, err := f.validate()
	if err != nil {
		return err
	}
	// A token from --token-file was never on the command line.
	tokenInArgv := cmd.Flags().Changed(tokenFlag) && f.tokenFile == ""
	if tokenInArgv {
		fmt.Fprintln(cmd.ErrOrStderr(), "rayo: warning: --token is visible to every local user (ps) while this command runs; pass the token as RAYO_TOKEN or with --token-file (the daemon never has it on its command line)")
	}
	if !f.block && f.readyFD == 0 {
		return startInBackground(cmd, f)
	}
	if tokenInArgv {
		// This process is the daemon: replace it (same pid) with one
		// whose command line does not hold the token.
		return reexecWithoutToken(cmd, f)
	}
	return runDaemon(cmd, f, res, labels)
}

// daemonArgs is the command line that runs this `rayo start` again as its
// daemon: the flags as parsed, less the token and --ready-fd. The token
// goes in the environment (RAYO_TOKEN), which only the user can read: a
// command line is readable by every local user, through ps, for the
// daemon's life.
func daemonArgs(cmd *cobra.Command) []string {
	args := []string{"start"}
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		switch fl.Name {
		case tokenFlag, tokenFileFlag, "ready-fd":
			return
		}
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				args = append(args, "--"+fl.Name+"="+v)
			}
			return
		}
		args = append(args, "--"+fl.Name+"="+fl.Value.String())
	})
	return args
}

// daemonEnv is the environment that passes the token to a daemon.
func daemonEnv(f *startFlags) []string {
	if f.token == "" {
		return nil
	}
	return []string{"RAYO_TOKEN=" + f.token}
}

// reexecWithoutToken replaces this process with the same daemon, the
// token moved from its command line to its environment.
func reexecWithoutToken(cmd *cobra.Command, f *startFlags) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	args := append([]string{os.Args[0]}, daemonArgs(cmd)...)
	if f.readyFD > 0 {
		args = append(args, "--ready-fd", strconv.Itoa(f.readyFD))
	}
	env := setEnv(os.Environ(), "RAYO_TOKEN", f.token)
	return fmt.Errorf("re-executing the daemon without --token: %w", syscall.Exec(exe, args, env))
}

// startInBackground re-runs this command as a detached daemon and waits
// until it reports ready (or fails).
func startInBackground(cmd *cobra.Command, f *startFlags) error {
	ready, err := spawnDaemon(append(daemonArgs(cmd), "--ready-fd", "3"), daemonEnv(f))
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if f.head {
		fmt.Fprintf(out, "rayo head started at %s (node %s, pid %d)\n", ready.Address, ready.NodeID, ready.Pid)
		fmt.Fprintf(out, "  session: %s\n", ready.Session)
		if ready.Dashboard != "" {
			fmt.Fprintf(out, "  dashboard and HTTP API: http://%s (log in with the token in the session directory)\n", ready.Dashboard)
		}
		fmt.Fprintf(out, "  to add a node on this machine:   rayo start --address %s\n", ready.Address)
		join, remoteEnv := "", ""
		if ready.CAFingerprint != "" {
			join = " --ca-fingerprint " + ready.CAFingerprint
			remoteEnv = " RAYO_CA_FINGERPRINT=" + ready.CAFingerprint
		}
		fmt.Fprintf(out, "  from another machine:            RAYO_TOKEN=$(cat %s/token) rayo start --address %s%s --node-ip-address <its ip>\n", ready.Session, ready.Address, join)
		fmt.Fprintf(out, "  to run a program on the cluster: RAYO_ADDRESS=%s go run ./yourprogram\n", ready.Address)
		fmt.Fprintf(out, "    (from another machine, also RAYO_TOKEN=<the token>%s)\n", remoteEnv)
		if ready.CAFingerprint != "" {
			fmt.Fprintf(out, "  TCP between machines: mutual TLS; cluster CA fingerprint (SHA-256) %s\n", ready.CAFingerprint)
		}
	} else {
		fmt.Fprintf(out, "rayo node %s joined the cluster at %s (pid %d)\n", ready.NodeID, ready.Address, ready.Pid)
	}
	fmt.Fprintln(out, "  to stop: rayo stop")
	return nil
}

// spawnDaemon runs `rayo ARGS` (which must include --ready-fd 3) as a
// daemon in its own session, and waits until it reports ready or fails.
func spawnDaemon(args, env []string) (*readyInfo, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	c := exec.Command(exe, args...)
	c.ExtraFiles = []*os.File{w}
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	c.Env = os.Environ()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		c.Env = setEnv(c.Env, k, v)
	}
	devnull, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	c.Stdin, c.Stdout, c.Stderr = devnull, devnull, devnull
	if err := c.Start(); err != nil {
		_ = r.Close()
		_ = w.Close()
		return nil, err
	}
	_ = w.Close()
	line, _ := bufio.NewReader(r).ReadString('\n')
	_ = r.Close()
	_ = c.Process.Release()
	line = strings.TrimSpace(line)
	if msg, ok := strings.CutPrefix(line, "error "); ok {
		return nil, errors.New(msg)
	}
	info, ok := strings.CutPrefix(line, "ready ")
	if !ok {
		return nil, errors.New("the daemon exited before it was ready; see its log in the session directory")
	}
	var ready readyInfo
	if err := json.Unmarshal([]byte(info), &ready); err != nil {
		return nil, err
	}
	// Identified now, while it surely runs: what stops it later checks
	// that the pid still names this process.
	if ready.proc, err = session.Identify(ready.Pid); err != nil {
		ready.proc = session.Proc{Pid: ready.Pid}
	}
	return &ready, nil
}

type readyInfo struct {
	Address string `json:"address"`
	NodeID  string `json:"node_id"`
	Pid     int    `json:"pid"`
	Session string `json:"session"`
	// Dashboard is the head's HTTP API and dashboard.
	Dashboard string `json:"dashboard,omitempty"`
	// CAFingerprint is the cluster CA's, which joining nodes check.
	CAFingerprint string `json:"ca_fingerprint,omitempty"`
	// proc identifies the daemon beyond its pid.
	proc session.Proc
}

// runDaemon runs the head (with its node) or a node daemon until SIGTERM
// or SIGINT.
func runDaemon(cmd *cobra.Command, f *startFlags, res sched.Resources, labels map[string]string) (err error) {
	var ready *os.File
	if f.readyFD > 0 {
		ready = os.NewFile(uintptr(f.readyFD), "ready")
		defer func() {
			if err != nil {
				fmt.Fprintf(ready, "error %v\n", err)
			}
			_ = ready.Close()
		}()
	}
	// Catch signals first: a SIGTERM while the daemon starts must still
	// stop it in order (a head that stops on purpose forgets its state).
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	var sess *session.Dir
	var token string
	var rec *headRecord
	var dashAddr, caFingerprint string
	headAddr := f.address
	dataDir := f.headDataDir()
	if f.head {
		if sess, token, rec, err = headSession(f.tempDir, dataDir); err != nil {
			return err
		}
	} else {
		// On the head's machine, share its session; elsewhere make one.
		headAddr, token, err = session.Resolve(f.tempDir, f.address, f.token)
		if err != nil {
			return fmt.Errorf("no token for the cluster at %s: pass --token or set RAYO_TOKEN (%w)", f.address, err)
		}
		if sess, err = session.Latest(f.tempDir); err != nil {
			if sess, err = session.Create(f.tempDir); err != nil {
				return err
			}
		}
	}
	nodeID := newNodeID()
	name := "node-" + nodeID
	if f.head {
		name = "head"
	}
	// The log file stays open for the daemon's life, also with --block:
	// `rayo stop` takes a process that holds no file of the session for
	// one that merely reused a daemon's pid (see isRayoDaemon).
	logf, err := sess.LogFile(name)
	if err != nil {
		return err
	}
	defer logf.Close()
	log := slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if f.block {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	if !f.headNode { // the head prunes for the node it starts
		pruneSessions(f, sess, dataDir, log)
	}
	// The daemons this process runs: the head and its dashboard, or a
	// node daemon (the head's machine gets its node as a process of its
	// own, below).
	var ccfg cluster.Config
	drained := make(chan struct{})
	headStarted := false // by this process, on this data directory
	if f.head {
		listen := net.JoinHostPort(f.nodeIP, strconv.Itoa(f.port))
		if rec != nil && f.port == 0 {
			listen = rec.Address // nodes and drivers know this one
		}
		tlsID, ca, err := headTLS(&f.tls, dataDir, sess)
		if err != nil {
			return err
		}
		var signer rpc.CertSigner
		if ca != nil {
			signer, caFingerprint = ca, ca.Fingerprint()
		}
		ccfg.Head = &gcs.Config{Listen: listen, Token: token, DataDir: dataDir, SyncWrites: f.syncState, RecoveryGrace: f.grace, MaxTaskRecords: f.maxTasks,
			BinariesDir: sess.BinariesDir(), Log: log.With("component", "head"), TLS: tlsID, CA: signer}
		ccfg.OnHead = func(g *gcs.Server) error {
			headStarted = true
			headAddr = g.Addr()
			if err := sess.WriteAddress(headAddr); err != nil {
				return err
			}
			if err := writeHeadRecord(dataDir, &headRecord{Session: sess.Path, Address: headAddr}); err != nil {
				return err
			}
			if rec != nil {
				log.Info("head restarted on its data directory: recovering the cluster", "data_dir", dataDir, "session", sess.Path)
			}
			return nil
		}
		ccfg.Dashboard = &dashboard.Config{Listen: net.JoinHostPort(f.dashHost, strconv.Itoa(f.dashPort)),
			FallbackPort: !cmd.Flags().Changed("dashboard-port"), Token: token,
			SessionDir: sess.Path, MetricsNeedToken: f.metricTok, Log: log.With("component", "dashboard"), TLS: tlsID,
			AllowedHosts: f.dashNames}
		ccfg.OnDashboard = func(d *dashboard.Server) error {
			dashAddr = d.Addr()
			return sess.WriteDashboardAddress(dashAddr)
		}
	} else {
		jctx, cancel := context.WithTimeout(context.Background(), rpc.DialTimeout+5*time.Second)
		tlsID, err := joinTLS(jctx, &f.tls, f.tempDir, headAddr, token, name)
		cancel()
		if err != nil {
			return err
		}
		var drainOnce sync.Once
		ccfg.Node = &node.Config{TLS: tlsID, NodeID: nodeID, OnDrained: func() { drainOnce.Do(func() { close(drained) }) }, Listen: net.JoinHostPort(f.nodeIP, "0"), HeadAddr: headAddr,
			Token: token, Resources: res, Labels: labels, IsHead: f.headNode, LogsDir: sess.LogsDir(),
			BinariesDir: sess.BinariesDir(), Log: log.With("component", "node"),
			ObjectStoreMemory: f.storeMem, SpillDir: f.spillDir, MaxWorkers: f.softWorkers, MaxWorkersCeiling: f.maxWorkers}
	}
	// running: the daemon reported ready. A new cluster's head that fails
	// before then leaves no state behind, or the next head on this
	// directory would take it for a crashed cluster to recover; a head
	// that was recovering one (rec) keeps it.
	running := false
	c, err := cluster.Start(ccfg)
	if err != nil {
		if headStarted && rec == nil {
			forgetHead(dataDir, log)
		}
		return err
	}
	defer func() {
		c.Stop()
		if f.head && (err == nil || (!running && rec == nil)) {
			// Stopped on purpose: the cluster ends with its head, and
			// the next head on this directory starts a new one.
			forgetHead(dataDir, log)
		}
	}()
	// A listener that stopped for good ends the daemon, with an error.
	failed, failErr := c.Failed(), c.Err
	if f.head {
		// The head's machine gets its node daemon as a process of its
		// own, so that it outlives a crash of the head (and the actors
		// on it keep running while the head restarts).
		hn, err := startHeadNode(f, sess, rec, headAddr, token, log)
		if err != nil {
			return err
		}
		nodeID = hn.NodeID
		defer func() {
			// The cluster ends with its head. (This err is the block's,
			// set only by writeHeadRecord below: a new cluster's node
			// goes when the record cannot be written; a recovering head
			// keeps the node its predecessor left, and its actors.)
			if err == nil || (!running && rec == nil) {
				stopDaemon(sess, hn.proc, 10*time.Second)
			}
		}()
		if err = writeHeadRecord(dataDir, &headRecord{Session: sess.Path, Address: headAddr, NodeID: hn.NodeID, NodePid: hn.Pid, NodeProc: &hn.proc}); err != nil {
			return err
		}
	}
	if err = sess.WritePid(name, os.Getpid()); err != nil {
		return err
	}
	defer func() { _ = sess.RemovePid(name) }()

	running = true
	if ready != nil {
		b, _ := json.Marshal(readyInfo{Address: headAddr, NodeID: nodeID, Pid: os.Getpid(), Session: sess.Path, Dashboard: dashAddr, CAFingerprint: caFingerprint})
		fmt.Fprintf(ready, "ready %s\n", b)
		_ = ready.Close()
		ready = nil
	} else if f.block {
		fmt.Fprintf(cmd.OutOrStdout(), "rayo %s running at %s (node %s); Ctrl-C stops it\n", name, headAddr, nodeID)
	}
	select {
	case s := <-sigs:
		log.Info("stopping on signal", "signal", s.String())
	case <-drained:
		log.Info("stopping: the node was drained")
	case <-failed:
		log.Error("stopping: a listener stopped", "err", failErr())
		return failErr()
	}
	return nil
}

// headDataDir is where the head keeps its state.
func (f *startFlags) headDataDir() string {
	if f.dataDir != "" {
		return f.dataDir
	}
	return filepath.Join(f.tempDir, "head")
}

// headRecord is what a head leaves beside its state for the head that
// recovers it: the session (token, logs, binaries) and the address.
type headRecord struct {
	Session string `json:"session"`
	Address string `json:"address"`
	// The node daemon the head started for its machine.
	NodeID  string `json:"node_id,omitempty"`
	NodePid int    `json:"node_pid,omitempty"`
	// NodeProc identifies that daemon beyond its pid (absent in records
	// of older heads).
	NodeProc *session.Proc `json:"node_proc,omitempty"`
}

// readHeadRecord reads the record a head left in dir; nil if none.
func readHeadRecord(dir string) (*headRecord, error) {
	b, err := os.ReadFile(filepath.Join(dir, headRecordFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var rec headRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, err
	}
	return &rec, nil
}

// pruneSessions removes old session directories under the temp dir (see
// session.Prune), never the current one nor the one a head's record in
// dataDir names (a crashed head recovers with it).
func pruneSessions(f *startFlags, cur *session.Dir, dataDir string, log *slog.Logger) {
	protect := []string{cur.Path}
	if rec, err := readHeadRecord(dataDir); err == nil && rec != nil {
		protect = append(protect, rec.Session)
	}
	removed, err := session.Prune(f.tempDir, f.keepSessions, protect...)
	if err != nil {
		log.Warn("could not remove every old session directory", "temp_dir", f.tempDir, "err", err)
	}
	if len(removed) > 0 {
		log.Info("removed old session directories", "temp_dir", f.tempDir, "count", len(removed), "keep", f.keepSessions)
	}
}

const headRecordFile = "cluster.json"

func writeHeadRecord(dir string, r *headRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, headRecordFile), b, 0o600)
}

// headSession returns the head's session: the one of the cluster a
// crashed head left in dataDir (with its record), or a new one.
func headSession(tempDir, dataDir string) (*session.Dir, string, *headRecord, error) {
	if b, err := os.ReadFile(filepath.Join(dataDir, headRecordFile)); err == nil && gcs.HasState(dataDir) {
		var rec headRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, "", nil, fmt.Errorf("the head's record %s is damaged (%v); remove %s to start a new cluster", headRecordFile, err, dataDir)
		}
		sess, err := session.Open(rec.Session)
		if err != nil {
			return nil, "", nil, fmt.Errorf("the cluster to recover from %s used session %s, which is gone: %w", dataDir, rec.Session, err)
		}
		token, err := sess.ReadToken()
		if err != nil {
			return nil, "", nil, err
		}
		if err := sess.MakeLatest(); err != nil {
			return nil, "", nil, err
		}
		return sess, token, &rec, nil
	}
	sess, err := session.Create(tempDir)
	if err != nil {
		return nil, "", nil, err
	}
	token, err := session.NewToken()
	if err != nil {
		return nil, "", nil, err
	}
	if err := sess.WriteToken(token); err != nil {
		return nil, "", nil, err
	}
	return sess, token, nil, nil
}

// startHeadNode starts the node daemon of the head's machine, or, for a
// head that recovers, finds the one its predecessor started still
// running.
func startHeadNode(f *startFlags, sess *session.Dir, rec *headRecord, headAddr, token string, log *slog.Logger) (*readyInfo, error) {
	if rec != nil && rec.NodePid > 0 {
		proc := session.Proc{Pid: rec.NodePid}
		if rec.NodeProc != nil && rec.NodeProc.Pid == rec.NodePid {
			proc = *rec.NodeProc
		}
		if isRayoDaemon(sess, proc) {
			log.Info("the head's node daemon survived the head; keeping it", "node", rec.NodeID, "pid", rec.NodePid)
			return &readyInfo{NodeID: rec.NodeID, Pid: rec.NodePid, proc: proc}, nil
		}
	}
	args := []string{"start", "--address", headAddr, "--head-node", "--temp-dir", f.tempDir, "--node-ip-address", f.nodeIP,
		"--ready-fd", "3"}
	// The operator's TLS files (paths, no secret), for the head's node.
	for flag, v := range map[string]string{"--tls-cert": f.tls.cert, "--tls-key": f.tls.key, "--tls-ca": f.tls.ca} {
		if v != "" {
			args = append(args, flag, v)
		}
	}
	if f.numCPUs >= 0 {
		args = append(args, "--num-cpus", strconv.FormatFloat(f.numCPUs, 'f', -1, 64))
	}
	if f.numGPUs >= 0 {
		args = append(args, "--num-gpus", strconv.FormatFloat(f.numGPUs, 'f', -1, 64))
	}
	if f.memory >= 0 {
		args = append(args, "--memory", strconv.FormatInt(f.memory, 10))
	}
	if f.resources != "" {
		args = append(args, "--resources", f.resources)
	}
	if f.labels != "" {
		args = append(args, "--labels", f.labels)
	}
	if f.storeMem > 0 {
		args = append(args, "--object-store-memory", strconv.FormatInt(f.storeMem, 10))
	}
	if f.spillDir != "" {
		args = append(args, "--object-spilling-dir", f.spillDir)
	}
	if f.softWorkers > 0 {
		args = append(args, "--num-workers-soft-limit", strconv.Itoa(f.softWorkers))
	}
	if f.maxWorkers > 0 {
		args = append(args, "--max-worker-processes", strconv.Itoa(f.maxWorkers))
	}
	ready, err := spawnDaemon(args, []string{"RAYO_TOKEN=" + token})
	if err != nil {
		return nil, fmt.Errorf("starting the head's node daemon: %w", err)
	}
	return ready, nil
}

// stopDaemon stops a rayo daemon of sess: SIGTERM, then SIGKILL after
// grace.
func stopDaemon(sess *session.Dir, p session.Proc, grace time.Duration) {
	if !isRayoDaemon(sess, p) {
		return
	}
	_ = syscall.Kill(p.Pid, syscall.SIGTERM)
	waitOrKill(p, time.Now().Add(grace))
}

// forgetHead deletes the state of a head that stopped on purpose.
func forgetHead(dataDir string, log *slog.Logger) {
	if err := gcs.RemoveState(dataDir); err != nil {
		log.Warn("could not remove the head's state", "dir", dataDir, "err", err)
	}
	_ = os.Remove(filepath.Join(dataDir, headRecordFile))
}

func newNodeID() string {
	t, err := session.NewToken()
	if err != nil {
		return strconv.Itoa(os.Getpid())
	}
	return t[:16]
}
