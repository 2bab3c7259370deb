package testcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/session"
)

// MarkerEnv is the environment variable that tags every process the
// harness starts, and (through the node daemons) their workers.
const MarkerEnv = "RAYO_TESTCLUSTER_MARKER"

// RayoPackage is the rayo command's package.
const RayoPackage = "github.com/rayo-dev/rayo/cmd/rayo"

// Timeouts of the harness's own waits. They bound waits for things that
// take milliseconds when all is well; on a slow, loaded machine they still
// leave a wide margin.
const (
	readyTimeout = 60 * time.Second // a daemon starting and joining
	stopTimeout  = 10 * time.Second // a process exiting after a signal
	leakTimeout  = 10 * time.Second // workers exiting after their daemon
)

// ---- building ----

var builds struct {
	sync.Mutex
	dir  string
	bins map[string]*buildResult
}

type buildResult struct {
	once sync.Once
	path string
	err  error
}

// ModuleRoot returns the directory of the go.mod enclosing the working
// directory (a test runs in its package's directory).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if st, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !st.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testcluster: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Build builds a main package of this module once per test process and
// returns the executable's path. pkg is an import path or a path relative
// to the module root ("./examples/quickstart"). The executables live in one
// directory under os.TempDir that outlives individual tests; RemoveBuilds
// deletes it (call it from TestMain after m.Run).
func Build(pkg string) (string, error) {
	builds.Lock()
	if builds.bins == nil {
		builds.bins = map[string]*buildResult{}
	}
	b := builds.bins[pkg]
	if b == nil {
		b = &buildResult{}
		builds.bins[pkg] = b
	}
	builds.Unlock()
	b.once.Do(func() { b.path, b.err = goBuild(pkg) })
	return b.path, b.err
}

// BuildRayo builds ./cmd/rayo once per test process and returns its path.
func BuildRayo(t testing.TB) string {
	t.Helper()
	return BuildProgram(t, RayoPackage)
}

// BuildProgram is Build that fails the test on error.
func BuildProgram(t testing.TB, pkg string) string {
	t.Helper()
	p, err := Build(pkg)
	if err != nil {
		t.Fatalf("testcluster: %v", err)
	}
	return p
}

// RemoveBuilds deletes the executables Build made.
func RemoveBuilds() {
	builds.Lock()
	defer builds.Unlock()
	if builds.dir != "" {
		_ = os.RemoveAll(builds.dir)
		builds.dir = ""
		builds.bins = nil
	}
}

func buildDir() (string, error) {
	builds.Lock()
	defer builds.Unlock()
	if builds.dir == "" {
		d, err := os.MkdirTemp("", "rayo-testcluster-bin-*")
		if err != nil {
			return "", err
		}
		builds.dir = d
	}
	return builds.dir, nil
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	return "go"
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func goBuild(pkg string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	dir, err := buildDir()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, unsafeName.ReplaceAllString(path.Base(pkg), "_")+"-"+newMarker()[:8])
	cmd := exec.Command(goTool(), "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return out, nil
}

// ---- waiting ----

// WaitFor polls cond until it returns true, and fails the test (Fatal) if
// it does not within timeout. It never sleeps longer than 100ms at a time.
// Call it from the test's goroutine.
func WaitFor(t testing.TB, timeout time.Duration, cond func() bool, msg string) {
	t.Helper()
	if !poll(timeout, cond) {
		t.Fatalf("testcluster: timed out after %v waiting for %s", timeout, msg)
	}
}

// poll is WaitFor that reports instead of failing.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	delay := 2 * time.Millisecond
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(delay)
		delay = min(delay*2, 100*time.Millisecond)
	}
}

// ---- processes ----

// Command describes a process to start with Spawn or Run.
type Command struct {
	// Name labels the process in logs ("head", "quickstart").
	Name string
	Path string
	Args []string
	// Dir is the working directory (default: the test's).
	Dir string
	// Env is added to the test's environment, from which every RAYO_*
	// variable has been removed.
	Env []string
	// Marker tags the process (MarkerEnv); a fresh one when empty.
	Marker string
}

// Proc is a process the harness started: a daemon or a program.
type Proc struct {
	Name string
	Pid  int
	// Marker is the value of MarkerEnv in the process's environment; its
	// workers carry it too.
	Marker string
	// LogPath holds the process's stdout and stderr (for a detached
	// daemon: its log file in the session directory).
	LogPath string

	// Daemons only.
	IsHead  bool
	NodeID  string
	Addr    string
	TempDir string // its --temp-dir
	WorkDir string
	Spec    NodeSpec

	command Command   // how it was started (daemons: for a restart)
	cmd     *exec.Cmd // nil for a detached daemon, which is not our child
	done    chan struct{}
	err     error
}

// Output returns what the process has written so far.
func (p *Proc) Output() string {
	if p.LogPath == "" {
		return ""
	}
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	if p.done != nil {
		select {
		case <-p.done:
			return true
		default:
			return false
		}
	}
	return !p.ours()
}

// ExitErr is the process's exit error (nil for a zero exit status); valid
// once Exited is true. Detached daemons always report nil.
func (p *Proc) ExitErr() error {
	if p.done == nil {
		return nil
	}
	<-p.done
	return p.err
}

// Wait waits up to timeout for the process to exit and reports whether
// it did.
func (p *Proc) Wait(timeout time.Duration) bool {
	if p.done != nil {
		select {
		case <-p.done:
			return true
		case <-time.After(timeout):
			return false
		}
	}
	return poll(timeout, p.Exited)
}

// Signal sends sig to the process's whole process group (to the process
// alone for a detached daemon, after checking that the pid is still ours).
func (p *Proc) Signal(sig syscall.Signal) {
	if p.cmd != nil {
		if !p.Exited() {
			_ = syscall.Kill(-p.Pid, sig)
		}
		return
	}
	if p.ours() {
		_ = syscall.Kill(p.Pid, sig)
	}
}

// ours reports whether p.Pid is alive and still carries p's marker (a
// detached daemon's pid could be reused once it exits).
func (p *Proc) ours() bool {
	info, ok := readProcess(p.Pid)
	return ok && info.State != 'Z' && info.Env[MarkerEnv] == p.Marker
}

// SessionDir is the daemon's session directory (session_latest under its
// temp dir, resolved).
func (p *Proc) SessionDir() (string, error) {
	d, err := session.Latest(p.TempDir)
	if err != nil {
		return "", err
	}
	return d.Path, nil
}

// Env returns the test's environment without any RAYO_* variable, plus
// MarkerEnv=marker and extra.
func Env(marker string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "RAYO_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, MarkerEnv+"="+marker)
	return append(env, extra...)
}

func newMarker() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// start starts c with its output in a file under logDir, in its own
// process group. It registers no cleanup.
func start(c Command, logDir string) (*Proc, error) {
	if c.Marker == "" {
		c.Marker = newMarker()
	}
	name := c.Name
	if name == "" {
		name = filepath.Base(c.Path)
	}
	logf, err := os.CreateTemp(logDir, unsafeName.ReplaceAllString(name, "_")+"-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Dir = c.Dir
	cmd.Env = Env(c.Marker, c.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Proc{Name: name, Pid: cmd.Process.Pid, Marker: c.Marker, LogPath: logf.Name(), cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logf.Close()
		close(p.done)
	}()
	return p, nil
}

// Spawn starts a program in its own process group, with its output in a
// file (Proc.Output). A cleanup stops it (SIGTERM, then SIGKILL), then
// kills and reports any process left carrying its marker (its workers),
// and prints its output if the test failed.
func Spawn(t testing.TB, c Command) *Proc {
	t.Helper()
	logDir := t.TempDir() // before the cleanup below, which thus runs first
	if c.Marker == "" {
		c.Marker = newMarker()
	}
	t.Cleanup(func() { sweep(t, c.Marker, c.Name) })
	p, err := start(c, logDir)
	if err != nil {
		t.Fatalf("testcluster: %v", err)
	}
	t.Cleanup(func() {
		stopProcs(t, []*Proc{p})
		if t.Failed() {
			dumpProc(t, p)
		}
	})
	return p
}

// Run runs a short command to completion (killing its process group at
// timeout) and returns its combined output.
func Run(t testing.TB, timeout time.Duration, c Command) (string, error) {
	t.Helper()
	if c.Marker == "" {
		c.Marker = newMarker()
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Path, c.Args...)
	cmd.Dir = c.Dir
	cmd.Env = Env(c.Marker, c.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s %s: timed out after %v: %w", c.Path, strings.Join(c.Args, " "), timeout, err)
	}
	return string(out), err
}

// stopProcs sends SIGTERM to every process, waits, and SIGKILLs those
// still running after stopTimeout.
func stopProcs(t testing.TB, procs []*Proc) {
	for _, p := range procs {
		p.Signal(syscall.SIGTERM)
	}
	deadline := time.Now().Add(stopTimeout)
	for _, p := range procs {
		if p.Wait(time.Until(deadline)) {
			continue
		}
		t.Logf("testcluster: %s (pid %d) did not stop on SIGTERM within %v; killing it", p.Name, p.Pid, stopTimeout)
		p.Signal(syscall.SIGKILL)
		if !p.Wait(stopTimeout) {
			t.Errorf("testcluster: %s (pid %d) survived SIGKILL", p.Name, p.Pid)
		}
	}
	// A group killed with SIGKILL may hold children of its own.
	for _, p := range procs {
		if p.cmd != nil {
			_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
		}
	}
}

// sweep waits for the processes carrying marker to exit on their own
// (workers follow their daemon or driver), then kills the rest and reports
// them: a process left behind is a bug.
func sweep(t testing.TB, marker, what string) {
	if poll(leakTimeout, func() bool { return len(MarkedPids(marker)) == 0 }) {
		return
	}
	left := MarkedPids(marker)
	var desc []string
	for _, pid := range left {
		if info, ok := readProcess(pid); ok {
			desc = append(desc, fmt.Sprintf("pid %d (ppid %d, worker=%v): %s", pid, info.PPid,
				info.Env["RAYO_WORKER_MODE"] == "1", strings.Join(info.Cmdline, " ")))
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	t.Errorf("testcluster: %d process(es) of %s still running %v after it stopped; killed them:\n  %s",
		len(left), what, leakTimeout, strings.Join(desc, "\n  "))
	if !poll(stopTimeout, func() bool { return len(MarkedPids(marker)) == 0 }) {
		t.Errorf("testcluster: processes of %s survived SIGKILL: %v", what, MarkedPids(marker))
	}
}

const dumpLimit = 32 << 10

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

func dumpProc(t testing.TB, p *Proc) {
	t.Logf("==== %s (pid %d) output, %s ====\n%s", p.Name, p.Pid, p.LogPath, tail(p.Output(), dumpLimit))
}

// ---- /proc ----

// ProcessInfo is what /proc says of a process.
type ProcessInfo struct {
	Pid     int
	PPid    int
	State   byte // 'R', 'S', 'Z'...
	Cmdline []string
	Env     map[string]string
}

func readProcess(pid int) (ProcessInfo, bool) {
	dir := "/proc/" + strconv.Itoa(pid)
	info := ProcessInfo{Pid: pid}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return info, false
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 || i+2 >= len(stat) {
		return info, false
	}
	fields := strings.Fields(string(stat[i+2:]))
	if len(fields) < 2 {
		return info, false
	}
	info.State = fields[0][0]
	info.PPid, _ = strconv.Atoi(fields[1])
	if b, err := os.ReadFile(dir + "/cmdline"); err == nil {
		info.Cmdline = strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	}
	info.Env = map[string]string{}
	if b, err := os.ReadFile(dir + "/environ"); err == nil {
		for _, kv := range strings.Split(string(b), "\x00") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				info.Env[k] = v
			}
		}
	}
	return info, true
}

// Processes lists the live processes /proc shows (zombies excluded),
// except this one.
func Processes() []ProcessInfo {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []ProcessInfo
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if info, ok := readProcess(pid); ok && info.State != 'Z' && info.State != 'X' {
			out = append(out, info)
		}
	}
	return out
}

// Alive reports whether pid is a live process (a zombie counts as gone).
func Alive(pid int) bool {
	info, ok := readProcess(pid)
	return ok && info.State != 'Z' && info.State != 'X'
}

// MarkedPids lists the live processes whose MarkerEnv is marker.
func MarkedPids(marker string) []int {
	var pids []int
	for _, p := range Processes() {
		if p.Env[MarkerEnv] == marker {
			pids = append(pids, p.Pid)
		}
	}
	sort.Ints(pids)
	return pids
}

// ---- clusters ----

// NodeSpec describes a node daemon (or the head's own node).
type NodeSpec struct {
	// CPUs is passed as --num-cpus; a negative value leaves the default
	// (the machine's CPUs). The zero value is a node with no CPU.
	CPUs      float64
	Resources map[string]float64
	Labels    map[string]string
	// SeparateDirs gives the node its own --temp-dir and working
	// directory, and the token through --token: it shares no file with the
	// head or the driver, so it must fetch the job binary from the head.
	// Ignored for the head.
	SeparateDirs bool
	// ExtraArgs are appended to the daemon's `rayo start` command line
	// (e.g. "--object-store-memory", "67108864").
	ExtraArgs []string
}

// Cluster is a running test cluster.
type Cluster struct {
	t        testing.TB
	rayo     string
	root     string
	tempDir  string
	marker   string
	detached bool
	addr     string
	token    string

	mu    sync.Mutex
	head  *Proc
	nodes []*Proc
	// formerHeads are heads that died and were restarted.
	formerHeads []*Proc
	// headNodes are the node daemons heads started for their machine
	// (processes of their own, which outlive a head's crash).
	headNodes []*Proc
	addrs     map[string]bool // every node address seen
	client    *rpc.Client
	seq       int
	closed    bool
}

// Start starts a head (with its own node, head) and node daemons (nodes),
// each as a `rayo start --block` child process, and waits until the head
// reports every node alive. A cleanup stops everything.
func Start(t testing.TB, head NodeSpec, nodes ...NodeSpec) *Cluster {
	t.Helper()
	return start2(t, false, head, nodes)
}

// StartDetached is Start with the daemons started the way users start
// them: `rayo start` without --block, which puts the daemon in the
// background (its own session) and returns once it is ready. All share
// one --temp-dir unless SeparateDirs. The cleanup stops them as Start's
// does, by pid.
func StartDetached(t testing.TB, head NodeSpec, nodes ...NodeSpec) *Cluster {
	t.Helper()
	return start2(t, true, head, nodes)
}

func start2(t testing.TB, detached bool, head NodeSpec, nodes []NodeSpec) *Cluster {
	t.Helper()
	bin := BuildRayo(t)
	root := t.TempDir()
	c := &Cluster{t: t, rayo: bin, root: root, tempDir: filepath.Join(root, "rayo"), marker: newMarker(),
		detached: detached, addrs: map[string]bool{}}
	t.Cleanup(c.cleanup)
	c.startDaemon(t, head, true)
	WaitFor(t, readyTimeout, func() bool {
		c.checkRunning(t, c.head)
		d, err := session.Latest(c.tempDir)
		if err != nil {
			return false
		}
		addr, err := d.ReadAddress()
		if err != nil {
			return false
		}
		token, err := d.ReadToken()
		if err != nil {
			return false
		}
		c.mu.Lock()
		c.addr, c.token = addr, token
		c.mu.Unlock()
		_, err = c.status()
		return err == nil
	}, "the head to write its address and token and answer ClusterStatus")
	procs := []*Proc{c.head}
	for _, spec := range nodes {
		procs = append(procs, c.startDaemon(t, spec, false))
	}
	c.waitAlive(t, procs...)
	return c
}

// Address is the head's host:port.
func (c *Cluster) Address() string { return c.addr }

// Token is the cluster token.
func (c *Cluster) Token() string { return c.token }

// TempDir is the head's --temp-dir (shared by nodes without SeparateDirs).
func (c *Cluster) TempDir() string { return c.tempDir }

// Marker is the MarkerEnv value of the cluster's processes.
func (c *Cluster) Marker() string { return c.marker }

// Head is the head daemon.
func (c *Cluster) Head() *Proc { return c.head }

// NodeProcs lists the node daemons started, head excluded, killed ones
// included.
func (c *Cluster) NodeProcs() []*Proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Proc(nil), c.nodes...)
}

// Rayo runs the rayo command with args (and the cluster's marker) to
// completion, with a one-minute limit, and returns its output.
func (c *Cluster) Rayo(t testing.TB, args ...string) (string, error) {
	t.Helper()
	return Run(t, time.Minute, Command{Name: "rayo " + args[0], Path: c.rayo, Args: args, Dir: c.root, Marker: c.marker})
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

var pidRe = regexp.MustCompile(`pid (\d+)\)`)

// startDaemon starts `rayo start` for the head or a node.
func (c *Cluster) startDaemon(t testing.TB, spec NodeSpec, isHead bool) *Proc {
	t.Helper()
	c.mu.Lock()
	c.seq++
	name := fmt.Sprintf("node%d", c.seq)
	if isHead {
		name = "head"
	}
	addr, token := c.addr, c.token
	c.mu.Unlock()

	tempDir, workDir := c.tempDir, c.root
	args := []string{"start"}
	if isHead {
		args = append(args, "--head", "--port", "0")
	} else {
		args = append(args, "--address", addr)
		if spec.SeparateDirs {
			tempDir = filepath.Join(c.root, name+"-temp")
			workDir = filepath.Join(c.root, name+"-wd")
			args = append(args, "--token", token)
		}
	}
	for _, d := range []string{tempDir, workDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("testcluster: %v", err)
		}
	}
	if !c.detached {
		args = append(args, "--block")
	}
	args = append(args, "--temp-dir", tempDir)
	if spec.CPUs >= 0 {
		args = append(args, "--num-cpus", fmtFloat(spec.CPUs))
	}
	if len(spec.Resources) > 0 {
		b, err := json.Marshal(spec.Resources)
		if err != nil {
			t.Fatalf("testcluster: resources: %v", err)
		}
		args = append(args, "--resources", string(b))
	}
	if len(spec.Labels) > 0 {
		var kv []string
		for k, v := range spec.Labels {
			kv = append(kv, k+"="+v)
		}
		sort.Strings(kv)
		args = append(args, "--labels", strings.Join(kv, ","))
	}
	args = append(args, spec.ExtraArgs...)
	cmd := Command{Name: name, Path: c.rayo, Args: args, Dir: workDir, Marker: c.marker}
	p := c.launch(t, cmd)
	p.IsHead, p.TempDir, p.WorkDir, p.Spec = isHead, tempDir, workDir, spec
	c.mu.Lock()
	if isHead {
		c.head = p
	} else {
		c.nodes = append(c.nodes, p)
	}
	c.mu.Unlock()
	return p
}

// launch starts a daemon's command, detached (rayo start returns once the
// daemon is ready) or as a child.
func (c *Cluster) launch(t testing.TB, cmd Command) *Proc {
	t.Helper()
	args := cmd.Args
	var p *Proc
	if c.detached {
		out, err := Run(t, readyTimeout, cmd)
		if err != nil {
			t.Fatalf("testcluster: rayo %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		m := pidRe.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("testcluster: rayo %s printed no pid:\n%s", strings.Join(args, " "), out)
		}
		pid, _ := strconv.Atoi(m[1])
		p = &Proc{Name: cmd.Name, Pid: pid, Marker: c.marker}
	} else {
		var err error
		if p, err = start(cmd, c.root); err != nil {
			t.Fatalf("testcluster: %v", err)
		}
	}
	p.command = cmd
	return p
}

// RestartHead starts the head again, after it died, with the command it
// was started with: on the same --temp-dir, so it recovers the cluster
// from its data directory, and on the same address. It waits until the
// new head answers and its own (new) node is alive, and returns it.
func (c *Cluster) RestartHead(t testing.TB) *Proc {
	t.Helper()
	c.mu.Lock()
	old := c.head
	c.seq++
	cmd := old.command
	cmd.Name = fmt.Sprintf("head-restart%d", c.seq)
	c.mu.Unlock()
	if !old.Exited() {
		t.Fatalf("testcluster: RestartHead: the head (pid %d) still runs", old.Pid)
	}
	p := c.launch(t, cmd)
	p.IsHead, p.TempDir, p.WorkDir, p.Spec = true, old.TempDir, old.WorkDir, old.Spec
	c.mu.Lock()
	c.formerHeads = append(c.formerHeads, old)
	c.head = p
	c.mu.Unlock()
	c.waitAlive(t, p)
	return p
}

// checkRunning fails the test if a daemon exited while it was awaited.
func (c *Cluster) checkRunning(t testing.TB, p *Proc) {
	t.Helper()
	if p.Exited() {
		t.Fatalf("testcluster: %s (pid %d) exited early (%v):\n%s", p.Name, p.Pid, p.ExitErr(), tail(p.Output(), dumpLimit))
	}
}

// waitAlive waits until the head reports each daemon's node alive (and,
// for a head, its HTTP API's address), and records their IDs and
// addresses.
func (c *Cluster) waitAlive(t testing.TB, procs ...*Proc) {
	t.Helper()
	WaitFor(t, readyTimeout, func() bool {
		for _, p := range procs {
			c.checkRunning(t, p)
		}
		st, err := c.status()
		if err != nil {
			return false
		}
		for _, p := range procs {
			if ns := nodeOf(st, p); ns == nil || !ns.Alive {
				return false
			}
			// A head serves its HTTP API (rayo job, the dashboard) a
			// moment after its control plane: wait for that too.
			if p.IsHead && st.DashboardAddr == "" {
				return false
			}
		}
		c.mu.Lock()
		for _, p := range procs {
			ns := nodeOf(st, p)
			if p.IsHead {
				c.trackHeadNodeLocked(ns.Info.Pid)
			}
			p.NodeID, p.Addr = ns.Info.NodeID, ns.Info.Addr
			if p.LogPath == "" { // detached: the daemon logs into its session
				if d, err := session.Latest(p.TempDir); err == nil {
					name := "node-" + p.NodeID
					if p.IsHead {
						name = "head"
					}
					p.LogPath = filepath.Join(d.LogsDir(), name+".log")
				}
			}
		}
		c.mu.Unlock()
		return true
	}, fmt.Sprintf("%d node(s) to be alive in ClusterStatus", len(procs)))
}

// trackHeadNodeLocked records the head's node daemon, for the cleanup.
func (c *Cluster) trackHeadNodeLocked(pid int) {
	for _, p := range c.headNodes {
		if p.Pid == pid {
			return
		}
	}
	c.headNodes = append(c.headNodes, &Proc{Name: "head-node", Pid: pid, Marker: c.marker})
}

// nodeOf finds a daemon's node: a node daemon's by its pid; the head's
// (whose node daemon is a process of its own) by the head flag.
func nodeOf(st *protocol.ClusterStatusReply, p *Proc) *protocol.NodeState {
	if !p.IsHead {
		return nodeByPid(st, p.Pid)
	}
	for i := range st.Nodes {
		if st.Nodes[i].Info.IsHead && st.Nodes[i].Alive {
			return &st.Nodes[i]
		}
	}
	return nil
}

func nodeByPid(st *protocol.ClusterStatusReply, pid int) *protocol.NodeState {
	for i := range st.Nodes {
		if st.Nodes[i].Info.Pid == pid {
			return &st.Nodes[i]
		}
	}
	return nil
}

// status asks the head for ClusterStatus over a cached connection.
func (c *Cluster) status() (*protocol.ClusterStatusReply, error) {
	c.mu.Lock()
	cl := c.client
	if cl != nil {
		select {
		case <-cl.Done():
			cl = nil
		default:
		}
	}
	if cl == nil {
		if c.closed {
			c.mu.Unlock()
			return nil, errors.New("testcluster: the cluster is stopped")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var err error
		// Over TLS when the head uses it (the Unix socket is tried first).
		var id *rpc.TLS
		id, err = rpc.TLSSettings{LocalCAFile: session.CAFile(c.tempDir, c.addr)}.Resolve(ctx, c.addr, c.token, "testcluster")
		if err == nil {
			cl, err = rpc.Dial(ctx, c.addr, c.token, rpc.WithTLS(id))
		}
		cancel()
		if err != nil {
			c.mu.Unlock()
			return nil, err
		}
		c.client = cl
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var st protocol.ClusterStatusReply
	if err := cl.Call(ctx, protocol.HeadClusterStatus, &protocol.ClusterStatusRequest{}, &st); err != nil {
		_ = cl.Close()
		return nil, err
	}
	c.mu.Lock()
	for _, n := range st.Nodes {
		c.addrs[n.Info.Addr] = true
	}
	c.mu.Unlock()
	return &st, nil
}

// Status returns the head's ClusterStatus; it fails the test on error.
func (c *Cluster) Status(t testing.TB) *protocol.ClusterStatusReply {
	t.Helper()
	st, err := c.status()
	if err != nil {
		t.Fatalf("testcluster: ClusterStatus: %v", err)
	}
	return st
}

// Nodes returns the nodes the head knows, dead ones included.
func (c *Cluster) Nodes(t testing.TB) []protocol.NodeState {
	t.Helper()
	return c.Status(t).Nodes
}

// NodeIDWithResource returns the ID of an alive node that offers resource
// name; it fails the test if none does.
func (c *Cluster) NodeIDWithResource(t testing.TB, name string) string {
	t.Helper()
	for _, n := range c.Nodes(t) {
		if n.Alive && n.Info.Total[name] > 0 {
			return n.Info.NodeID
		}
	}
	t.Fatalf("testcluster: no alive node offers %q", name)
	return ""
}

// HeadNodeID is the ID of the head's own node.
func (c *Cluster) HeadNodeID() string { return c.head.NodeID }

// AddNode starts another node daemon and waits until it is alive.
func (c *Cluster) AddNode(t testing.TB, spec NodeSpec) *Proc {
	t.Helper()
	p := c.startDaemon(t, spec, false)
	c.waitAlive(t, p)
	return p
}

// KillNode kills a daemon with SIGKILL (its process group) and waits
// until it is gone and, unless it is the head, until the head reports its
// node dead.
func (c *Cluster) KillNode(t testing.TB, p *Proc) {
	t.Helper()
	p.Signal(syscall.SIGKILL)
	WaitFor(t, stopTimeout, p.Exited, fmt.Sprintf("%s (pid %d) to die", p.Name, p.Pid))
	if p.IsHead {
		return
	}
	WaitFor(t, readyTimeout, func() bool {
		st, err := c.status()
		if err != nil {
			return false
		}
		ns := nodeByPid(st, p.Pid)
		return ns == nil || !ns.Alive
	}, fmt.Sprintf("the head to declare %s dead", p.Name))
}

// WaitFor is the package's WaitFor.
func (c *Cluster) WaitFor(t testing.TB, timeout time.Duration, cond func() bool, msg string) {
	t.Helper()
	WaitFor(t, timeout, cond, msg)
}

// WorkerPids lists the live worker processes of this cluster: processes
// with RAYO_WORKER_MODE=1 whose RAYO_NODE_ADDRESS is a node of this
// cluster (or that carry the cluster's marker).
func (c *Cluster) WorkerPids(t testing.TB) []int {
	t.Helper()
	_, _ = c.status() // refresh the node addresses; the head may be gone
	c.mu.Lock()
	addrs := make(map[string]bool, len(c.addrs))
	for a := range c.addrs {
		addrs[a] = true
	}
	c.mu.Unlock()
	var pids []int
	for _, p := range Processes() {
		if p.Env["RAYO_WORKER_MODE"] == "1" && (addrs[p.Env["RAYO_NODE_ADDRESS"]] || p.Env[MarkerEnv] == c.marker) {
			pids = append(pids, p.Pid)
		}
	}
	sort.Ints(pids)
	return pids
}

// DaemonPids lists the live processes of this cluster that are not
// workers: its daemons (and `rayo` commands still running).
func (c *Cluster) DaemonPids() []int {
	var pids []int
	for _, p := range Processes() {
		if p.Env[MarkerEnv] == c.marker && p.Env["RAYO_WORKER_MODE"] != "1" {
			pids = append(pids, p.Pid)
		}
	}
	sort.Ints(pids)
	return pids
}

func (c *Cluster) cleanup() {
	t := c.t
	c.mu.Lock()
	c.closed = true
	cl := c.client
	c.client = nil
	procs := append([]*Proc(nil), c.nodes...)
	procs = append(procs, c.formerHeads...)
	procs = append(procs, c.headNodes...)
	if c.head != nil {
		procs = append(procs, c.head)
	}
	c.mu.Unlock()
	if cl != nil {
		_ = cl.Close()
	}
	stopProcs(t, procs)
	sweep(t, c.marker, "the cluster")
	c.checkRaces(t, procs)
	if t.Failed() {
		for _, p := range procs {
			dumpProc(t, p)
		}
		c.dumpSessionLogs(t, procs)
	}
}

// sessionLogs lists the log files in the daemons' session directories.
func sessionLogs(procs []*Proc) []string {
	seen := map[string]bool{}
	var files []string
	for _, p := range procs {
		if p.TempDir == "" || seen[p.TempDir] {
			continue
		}
		seen[p.TempDir] = true
		fs, _ := filepath.Glob(filepath.Join(p.TempDir, "session_*", "logs", "*.log"))
		files = append(files, fs...)
	}
	return files
}

// checkRaces reports the data races that processes built with -race (the
// workers, when the test binary is) wrote to their logs: nobody else
// would see them.
func (c *Cluster) checkRaces(t testing.TB, procs []*Proc) {
	const marker = "WARNING: DATA RACE"
	for _, f := range sessionLogs(procs) {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if i := strings.Index(string(b), marker); i >= 0 {
			t.Errorf("testcluster: a data race in %s:\n%s", f, tail(string(b[i:]), dumpLimit))
		}
	}
}

// dumpSessionLogs prints the tails of the log files in the daemons'
// session directories (workers' logs, and detached daemons').
func (c *Cluster) dumpSessionLogs(t testing.TB, procs []*Proc) {
	files := sessionLogs(procs)
	if len(files) > 20 {
		files = files[len(files)-20:]
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || len(b) == 0 {
			continue
		}
		t.Logf("==== %s ====\n%s", f, tail(string(b), 8<<10))
	}
}
