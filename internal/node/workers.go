package node

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"

	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/sched"
)

// job is what the node knows of one job in one environment: how to start
// its workers and its pool of idle ones. A job has one entry per call
// environment it uses (EnvVars), so that a worker started with one
// environment never serves a call of another.
type job struct {
	spec     protocol.JobSpec
	key      string   // the job's ID, or ID + "/detached"; + "#" + EnvKey for a call environment
	env      []string // the call environment its workers start with (protocol.EnvList)
	binPath  string   // resolved executable; "" while fetching
	fetching bool
	err      error // the binary cannot run here
	idle     []*worker
	starting int
	dead     bool
	endedAt  time.Time
	logs     *logForwarder
}

func (j *job) popIdle() *worker {
	for len(j.idle) > 0 {
		w := j.idle[len(j.idle)-1]
		j.idle = j.idle[:len(j.idle)-1]
		if !w.dead {
			return w
		}
	}
	return nil
}

// worker is one worker process.
type worker struct {
	id        string
	jobID     string // its job entry's key
	pid       int    // 0 until its process started
	addr      string // "" until registered
	lease     *lease
	idleSince time.Time
	dead      bool
	dedicated bool // serves one lease (an actor); never back in the pool
	detached  bool // a detached actor's: it outlives its job
	evicted   bool // stopped to make room for another environment's worker
	exited    chan struct{}
	started   time.Time

	// procMu guards the process, which starts outside n.mu (launch):
	// a kill asked for before it started stops it as soon as it has.
	procMu  sync.Mutex
	cmd     *exec.Cmd
	killReq bool
}

// kill stops the worker's process, now or as soon as it has started. It
// only sends a signal: it may be called under n.mu.
func (w *worker) kill() {
	w.procMu.Lock()
	w.killReq = true
	cmd := w.cmd
	w.procMu.Unlock()
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}

// errKilledBeforeStart: the worker was stopped (its job ended, the node
// stops) before its process started.
var errKilledBeforeStart = errors.New("node: worker stopped before it started")

// start starts the worker's process unless a kill came first.
func (w *worker) start(cmd *exec.Cmd) error {
	w.procMu.Lock()
	killed := w.killReq
	w.procMu.Unlock()
	if killed {
		return errKilledBeforeStart
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	w.procMu.Lock()
	w.cmd = cmd
	killed = w.killReq
	w.procMu.Unlock()
	if killed {
		_ = cmd.Process.Kill()
	}
	return nil
}

// jobLocked returns the node's entry for a job in a call environment,
// creating it (and starting its binary fetch and prestarted workers) on
// first sight.
func (n *Node) jobLocked(spec *protocol.JobSpec, key string, env []string) (*job, error) {
	if j := n.jobs[key]; j != nil {
		if j.dead {
			return nil, rpc.Errorf(protocol.CodeJobDead, "node: job %s has ended", spec.JobID)
		}
		return j, nil
	}
	var sibling *job // an entry of the same job in another environment
	for _, o := range n.jobs {
		if baseKey(o.key) == baseKey(key) {
			if o.dead {
				// A new environment of an ended job.
				return nil, rpc.Errorf(protocol.CodeJobDead, "node: job %s has ended", spec.JobID)
			}
			sibling = o
		}
	}
	j := &job{spec: *spec, key: key, env: env}
	if spec.Binary.GOOS != "" && (spec.Binary.GOOS != runtime.GOOS || spec.Binary.GOARCH != runtime.GOARCH) {
		j.err = rpc.Errorf(protocol.CodeBinaryMismatch, "node: job %s's binary is built for %s/%s; this node runs %s/%s",
			spec.JobID, spec.Binary.GOOS, spec.Binary.GOARCH, runtime.GOOS, runtime.GOARCH)
	}
	if sibling != nil {
		j.logs = sibling.logs // one stream of output to the driver per job
	} else {
		j.logs = newLogForwarder(n, spec)
	}
	n.jobs[key] = j
	if j.err == nil {
		n.resolveBinaryLocked(j)
		for i := 0; i < n.prestart(j); i++ {
			n.maybeStartWorkerLocked(j)
		}
	}
	return j, nil
}

// prestart is how many workers a job entry starts ahead of demand and
// keeps idle: none for a call environment (EnvVars), whose workers start
// on demand and are all reaped once idle, as Ray's workers of a runtime
// env.
func (n *Node) prestart(j *job) int {
	if len(j.env) > 0 {
		return 0
	}
	return n.cfg.PrestartWorkers
}

// baseKey is a job entry's key without its call environment: the job's
// own entry (ID, or ID + "/detached").
func baseKey(key string) string {
	k, _, _ := strings.Cut(key, "#")
	return k
}

// resolveBinaryLocked finds the job's executable in the background (it
// touches the file system: never under n.mu): in place when the driver
// shares this file system, else in the node's cache, else fetched from the
// head. Another entry of the same job (a call environment) lends its path.
func (n *Node) resolveBinaryLocked(j *job) {
	for _, o := range n.jobs {
		if o != j && o.binPath != "" && o.spec.JobID == j.spec.JobID && o.spec.Binary == j.spec.Binary {
			j.binPath = o.binPath
			return
		}
	}
	b := j.spec.Binary
	j.fetching = true
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		p, err := n.findBinary(b)
		n.mu.Lock()
		j.fetching = false
		if err != nil {
			n.log.Error("fetching job binary failed", "job", j.spec.JobID, "err", err)
			j.err = rpc.Errorf(protocol.CodeBinaryUnavailable, "node: cannot fetch job %s's binary: %v", j.spec.JobID, err)
		} else {
			j.binPath = p
			for j.starting < n.prestart(j) && n.maybeStartWorkerLocked(j) {
			}
		}
		n.scheduleLocked()
		n.mu.Unlock()
	}()
}

// findBinary is resolveBinaryLocked's search, without the lock.
func (n *Node) findBinary(b protocol.Binary) (string, error) {
	if b.Path != "" {
		if st, err := os.Stat(b.Path); err == nil && st.Size() == b.Size {
			return b.Path, nil
		}
	}
	if p, err := cachedBinary(n.cfg.BinariesDir, b.Hash); err == nil {
		return p, nil
	}
	ctx, cancel := n.stopContext(5 * time.Minute)
	defer cancel()
	return fetchBinary(ctx, n.cfg.HeadAddr, n.cfg.Token, n.cfg.BinariesDir, b, rpc.WithTLS(n.cfg.TLS))
}

// grantableLocked is how many of the job's queued requests the node's free
// resources could hold at once: the most workers it is worth starting.
func (n *Node) grantableLocked(jobID string) int {
	free := n.available.Clone()
	c := 0
	reserved := map[int]int64{} // by depth (blocked.go)
	for _, r := range n.queue {
		if r.finished || r.infeasible || jobKey(r.req) != jobID {
			continue
		}
		rsv, ok := reserved[r.req.Depth]
		if !ok {
			rsv = n.reservedCPULocked(r.req.Depth)
			reserved[r.req.Depth] = rsv
		}
		if !fitsLess(r.req.Resources, free, rsv) {
			continue
		}
		free.Sub(r.req.Resources)
		c++
	}
	return c
}

// maybeStartWorkerLocked starts a worker for the job if the node is under
// its cap and the job is not already starting enough of them.
func (n *Node) maybeStartWorkerLocked(j *job) bool {
	return n.startWorkerIfUsefulLocked(j, false, false)
}

// startWorkerIfUsefulLocked starts a worker unless the job cannot use
// one; dedicated (actor) workers are exempt from the pool's cap. For a
// request waiting on a full pool (forRequest), an idle worker of another
// job or environment is stopped to make room (evictIdleLocked).
func (n *Node) startWorkerIfUsefulLocked(j *job, dedicated, forRequest bool) bool {
	if j.binPath == "" || j.err != nil || j.dead || n.stopping {
		return false
	}
	if n.startingLocked() >= n.cfg.MaxStartingWorkers {
		return false // the next registration (or failed start) tries again
	}
	if j.starting >= n.prestart(j) && j.starting+len(j.idle) >= n.grantableLocked(j.key) {
		return false
	}
	if !dedicated && !n.poolRoomLocked(j) {
		if forRequest {
			n.evictIdleLocked(j)
		}
		return false
	}
	n.startWorkerLocked(j)
	return true
}

// StartingWorkers counts the worker processes started and not yet
// registered: a worker killed in that time (with its node's process)
// leaves its socket file, which the embedded cluster's reaper does not
// know of yet.
func (n *Node) StartingWorkers() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.startingLocked()
}

// startingLocked counts the worker processes started and not registered
// yet, over every job.
func (n *Node) startingLocked() int {
	c := 0
	for _, j := range n.jobs {
		c += j.starting
	}
	return c
}

// evictIdleLocked stops the longest idle worker of another job entry,
// so that a request of j's whose pool is full gets a worker once it has
// exited (Ray's worker pool does the same for workers of another runtime
// env): idle workers of an environment nobody uses would otherwise hold
// the room until the reaper stops them. One eviction at a time: its
// exit reschedules.
func (n *Node) evictIdleLocked(j *job) {
	if n.evicting > 0 {
		return
	}
	var victim *worker
	var from *job
	for _, o := range n.jobs {
		if o == j {
			continue
		}
		for _, w := range o.idle {
			if !w.dead && (victim == nil || w.idleSince.Before(victim.idleSince)) {
				victim, from = w, o
			}
		}
	}
	if victim == nil {
		return
	}
	for i, w := range from.idle {
		if w == victim {
			from.idle = append(from.idle[:i], from.idle[i+1:]...)
			break
		}
	}
	victim.dead, victim.evicted = true, true
	n.evicting++
	n.log.Debug("stopping an idle worker to make room for another environment's", "pid", victim.pid, "job", from.spec.JobID)
	victim.kill() // a signal: no I/O under n.mu
}

// startWorkerLocked reserves a worker and starts its process in the
// background (launch). Forking under n.mu would stall every lease,
// registration and heartbeat of the node while the process starts; the
// reservation counts at once (n.workers, j.starting), so that the pool's
// cap and ceiling (blocked.go) stay exact, and launch records the process
// or undoes the reservation.
func (n *Node) startWorkerLocked(j *job) {
	w := &worker{id: newID(8), jobID: j.key, exited: make(chan struct{}), started: time.Now()}
	n.workers[w.id] = w
	j.starting++
	bin := j.binPath
	n.wg.Add(1)
	go func() { defer n.wg.Done(); n.launch(j, w, bin) }()
}

// testHookLaunch, when set (tests), runs in launch just before the
// worker's process starts, without n.mu.
var testHookLaunch func()

// launch starts a reserved worker's process; it runs without n.mu (j.spec
// and j.env never change).
func (n *Node) launch(j *job, w *worker, bin string) {
	cmd, stdout, stderr, err := n.workerCommand(j, w, bin)
	if err == nil {
		if testHookLaunch != nil {
			testHookLaunch()
		}
		err = w.start(cmd)
	}
	if err != nil {
		n.mu.Lock()
		j.starting--
		delete(n.workers, w.id)
		w.dead = true
		if !errors.Is(err, errKilledBeforeStart) && !j.dead && !n.stopping {
			n.log.Error("starting worker failed", "job", j.spec.JobID, "err", err)
			j.err = rpc.Errorf(protocol.CodeWorkerStartFailed, "node: cannot start a worker for job %s: %v", j.spec.JobID, err)
		}
		n.scheduleLocked() // fails the job's requests, or starts another
		n.mu.Unlock()
		close(w.exited)
		return
	}
	pid := cmd.Process.Pid
	logf, err := os.OpenFile(n.workerLogPath(j.spec.JobID, pid), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		n.log.Warn("cannot open worker log file", "err", err)
	}
	n.mu.Lock()
	w.pid = pid
	n.mu.Unlock()
	var pipes sync.WaitGroup
	var logMu sync.Mutex
	pipes.Add(2)
	go func() { defer pipes.Done(); n.pumpOutput(j, w, stdout, false, logf, &logMu) }()
	go func() { defer pipes.Done(); n.pumpOutput(j, w, stderr, true, logf, &logMu) }()
	// The environment's hash only: its values may be secrets.
	n.log.Debug("worker started", "worker", w.id, "pid", pid, "job", j.spec.JobID, "env", protocol.EnvKey(n.cfg.Token, j.env))

	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		pipes.Wait()
		err := cmd.Wait()
		if logf != nil {
			_ = logf.Close()
		}
		n.workerExited(j, w, err)
	}()
	timeout := n.cfg.WorkerStartTimeout
	time.AfterFunc(timeout, func() {
		n.mu.Lock()
		late := w.addr == "" && !w.dead
		n.mu.Unlock()
		if late {
			n.log.Warn("worker did not register in time; killing it", "pid", pid, "timeout", timeout)
			w.kill()
		}
	})
}

// workerCommand prepares a worker's process: the job's binary in worker
// mode, with the job's environment and then the call's (EnvVars) over
// the node's own. Values travel in the environment, never in argv.
func (n *Node) workerCommand(j *job, w *worker, bin string) (cmd *exec.Cmd, stdout, stderr io.ReadCloser, err error) {
	specJSON, err := json.Marshal(j.spec)
	if err != nil {
		return nil, nil, nil, err
	}
	cmd = exec.Command(bin)
	env := os.Environ()
	env = append(env,
		"RAYO_WORKER_MODE=1",
		"RAYO_WORKER_ID="+w.id,
		"RAYO_NODE_ADDRESS="+n.Addr(),
		"RAYO_NODE_ID="+n.cfg.NodeID,
		"RAYO_JOB_SPEC="+string(specJSON),
		"RAYO_TOKEN="+n.cfg.Token,
	)
	env = append(env, n.cfg.TLS.Environ()...) // the node's identity, as the token
	for k, v := range j.spec.Env {
		env = append(env, k+"="+v)
	}
	env = append(env, j.env...) // later entries win (exec.Cmd)
	env = append(env, protocol.EnvNamesVar+"="+strings.Join(protocol.EnvKeys(j.env), ","))
	env = append(env, startProcsEnv(env)...)
	cmd.Env = env
	cmd.Dir = os.TempDir()
	// The worker dies with its node daemon even when the daemon is killed
	// with SIGKILL; a worker also exits when its connection to the node
	// closes (see the core runtime).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if stdout, err = cmd.StdoutPipe(); err != nil {
		return nil, nil, nil, err
	}
	if stderr, err = cmd.StderrPipe(); err != nil {
		_ = stdout.Close()
		return nil, nil, nil, err
	}
	return cmd, stdout, stderr, nil
}

// startProcsEnv starts a worker on one P, naming the count it would have
// had (core.WorkerMaxProcsEnv; the worker sizes itself to each lease up
// to that), unless env sets GOMAXPROCS: the user's choice wins. An idle
// actor's process is 0.8 MiB smaller for it on 2 cores, more on more.
func startProcsEnv(env []string) []string {
	for _, e := range env {
		if strings.HasPrefix(e, "GOMAXPROCS=") {
			return nil
		}
	}
	return []string{"GOMAXPROCS=1", workerMaxProcsEnv + "=" + strconv.Itoa(startProcs)}
}

// startProcs is this process's GOMAXPROCS as it started: what a worker
// would have had, also where the process lowered its own since (the
// Python bridge does).
var startProcs = runtime.GOMAXPROCS(0)

// workerMaxProcsEnv is core.WorkerMaxProcsEnv (the node does not import
// the worker runtime; a test checks they match).
const workerMaxProcsEnv = "RAYO_WORKER_MAXPROCS"

func (n *Node) workerExited(j *job, w *worker, err error) {
	exitedAt := time.Now()
	n.mu.Lock()
	registered := w.addr != ""
	w.dead = true
	if !registered {
		j.starting--
	}
	if w.evicted {
		n.evicting--
	}
	delete(n.workers, w.id)
	if w.lease != nil {
		n.releaseLocked(w.lease, true)
	}
	expected := j.dead || n.stopping || w.evicted
	n.scheduleLocked()
	n.mu.Unlock()
	close(w.exited)
	if registered {
		// A killed worker cannot remove its socket file itself.
		rpc.RemoveStaleSocket(w.addr, w.started, exitedAt)
	}
	if !expected {
		n.log.Warn("worker exited", "pid", w.pid, "job", j.spec.JobID, "status", exitStatus(err))
	}
}

func exitStatus(err error) string {
	if err == nil {
		return "exit 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by " + ws.Signal().String()
		}
		return "exit " + strconv.Itoa(ee.ExitCode())
	}
	return err.Error()
}

// pumpOutput copies a worker's output to its log file and to the job's
// driver, tracking the task the worker announced with TaskMarker.
func (n *Node) pumpOutput(j *job, w *worker, r io.Reader, isErr bool, logf *os.File, logMu *sync.Mutex) {
	// bufio's default size: ReadString gathers longer lines itself, and
	// two 64 KiB buffers per worker were 128 KiB of the node's heap for
	// each actor, which mostly prints nothing.
	br := bufio.NewReader(r)
	task := ""
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			if strings.HasPrefix(line, protocol.TaskMarker) {
				task = strings.TrimSpace(strings.TrimPrefix(line, protocol.TaskMarker))
				j.logs.setTask(w.pid, task)
			} else {
				if logf != nil {
					logMu.Lock()
					_, _ = logf.WriteString(line)
					logMu.Unlock()
				}
				j.logs.add(protocol.LogLine{Pid: w.pid, Stderr: isErr, Text: strings.TrimRight(line, "\n")})
			}
		}
		if err != nil {
			return
		}
	}
}

func (n *Node) registerWorker(ctx context.Context, req *protocol.RegisterWorkerRequest) (*protocol.RegisterWorkerReply, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	w := n.workers[req.WorkerID]
	if w == nil || w.dead {
		return nil, rpc.Errorf(rpc.CodeBadRequest, "node: unknown worker %s", req.WorkerID)
	}
	if w.addr != "" {
		return nil, rpc.Errorf(rpc.CodeBadRequest, "node: worker %s registered twice", req.WorkerID)
	}
	w.addr = req.Addr
	if w.pid == 0 {
		w.pid = req.Pid // registered before launch recorded its pid
	}
	j := n.jobs[w.jobID]
	if j != nil {
		j.starting--
		w.idleSince = time.Now()
		j.idle = append(j.idle, w)
	}
	// The worker's connection is its lifeline: when it closes, the worker
	// is gone (or wedged) and must not get more leases.
	if p := rpc.PeerFrom(ctx); p != nil {
		p.OnClose(func() {
			n.mu.Lock()
			w.dead = true
			n.mu.Unlock()
			w.kill()
		})
	}
	n.scheduleLocked()
	return &protocol.RegisterWorkerReply{NodeID: n.cfg.NodeID}, nil
}

// workerBlocked lends a blocked worker's CPUs to the node while it waits,
// and takes them back when it runs again (the node may then be briefly
// oversubscribed, as in Ray).
func (n *Node) workerBlocked(_ context.Context, req *protocol.WorkerBlockedRequest) (*protocol.Empty, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	w := n.workers[req.WorkerID]
	if w == nil || w.lease == nil {
		return &protocol.Empty{}, nil
	}
	l := w.lease
	switch {
	case req.Blocked && !l.lent:
		l.lent, l.lentCPU, l.lentDepth = true, l.resources["CPU"], req.Depth
		n.available.Add(sched.Resources{"CPU": l.lentCPU})
		n.scheduleLocked()
	case !req.Blocked && l.lent:
		l.lent = false
		n.available.Sub(sched.Resources{"CPU": l.lentCPU})
	}
	return &protocol.Empty{}, nil
}

func (n *Node) killWorker(_ context.Context, req *protocol.KillWorkerRequest) (*protocol.Empty, error) {
	n.mu.Lock()
	w := n.workers[req.WorkerID]
	if w != nil {
		w.dead = true
	}
	n.mu.Unlock()
	if w == nil {
		return nil, rpc.Errorf(protocol.CodeWorkerNotFound, "node: no worker %s", req.WorkerID)
	}
	w.kill()
	return &protocol.Empty{}, nil
}

// reapLoop stops idle workers beyond each job's prestarted few.
func (n *Node) reapLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case now := <-t.C:
			n.mu.Lock()
			n.pruneJobsLocked(now)
			victims := n.idleVictimsLocked(now)
			n.mu.Unlock()
			for _, w := range victims {
				w.kill()
			}
		}
	}
}

// idleVictimsLocked takes out of the pools, marked dead, the idle workers
// to stop: those idle longer than IdleWorkerTimeout beyond each entry's
// prestarted few (none for a call environment's entry).
func (n *Node) idleVictimsLocked(now time.Time) []*worker {
	var victims []*worker
	for _, j := range n.jobs {
		keep := j.idle[:0]
		for i, w := range j.idle {
			if w.dead {
				continue
			}
			if len(j.idle)-i > n.prestart(j) && now.Sub(w.idleSince) > n.cfg.IdleWorkerTimeout {
				w.dead = true
				victims = append(victims, w)
				continue
			}
			keep = append(keep, w)
		}
		j.idle = keep
	}
	return victims
}

// pruneJobsLocked forgets ended jobs once their workers are gone and a
// minute has passed (late lease requests for them are still refused
// until then).
func (n *Node) pruneJobsLocked(now time.Time) {
	for id, j := range n.jobs {
		if !j.dead || now.Sub(j.endedAt) < time.Minute {
			continue
		}
		busy := false
		for _, w := range n.workers {
			if w.jobID == id {
				busy = true
				break
			}
		}
		if !busy {
			delete(n.jobs, id)
		}
	}
}

// endJobLocked stops a finished job's workers, in every call environment,
// and fails its requests.
func (n *Node) endJobLocked(id string) []*worker {
	now := time.Now()
	ended := false
	for _, e := range n.jobs {
		if baseKey(e.key) == id && !e.dead {
			e.dead, e.endedAt, e.idle = true, now, nil
			e.logs.close() // shared by the job's entries; closing twice is fine
			ended = true
		}
	}
	if !ended {
		return nil
	}
	for _, r := range n.queue {
		if baseKey(jobKey(r.req)) == id {
			r.finish(nil, rpc.Errorf(protocol.CodeJobDead, "node: job %s has ended", id))
		}
	}
	var ws []*worker
	for _, w := range n.workers {
		if baseKey(w.jobID) == id && !w.detached {
			w.dead = true
			ws = append(ws, w)
		}
	}
	n.log.Info("job ended; stopping its workers", "job", id, "workers", len(ws))
	return ws
}
