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

// job is what the node knows of one job: how to start its workers and its
// pool of idle ones.
type job struct {
	spec     protocol.JobSpec
	key      string // the job's ID, or ID + "/detached"
	binPath  string // resolved executable; "" while fetching
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
	jobID     string
	pid       int
	addr      string // "" until registered
	cmd       *exec.Cmd
	lease     *lease
	idleSince time.Time
	dead      bool
	dedicated bool // serves one lease (an actor); never back in the pool
	detached  bool // a detached actor's: it outlives its job
	exited    chan struct{}
	killOnce  sync.Once
	started   time.Time
}

func (w *worker) kill() {
	w.killOnce.Do(func() {
		if w.cmd != nil && w.cmd.Process != nil {
			_ = w.cmd.Process.Kill()
		}
	})
}

// jobLocked returns the node's entry for a job, creating it (and starting
// its binary fetch and prestarted workers) on first sight.
func (n *Node) jobLocked(spec *protocol.JobSpec, key string) (*job, error) {
	if j := n.jobs[key]; j != nil {
		if j.dead {
			return nil, rpc.Errorf(protocol.CodeJobDead, "node: job %s has ended", spec.JobID)
		}
		return j, nil
	}
	j := &job{spec: *spec, key: key}
	if spec.Binary.GOOS != "" && (spec.Binary.GOOS != runtime.GOOS || spec.Binary.GOARCH != runtime.GOARCH) {
		j.err = rpc.Errorf(protocol.CodeBinaryMismatch, "node: job %s's binary is built for %s/%s; this node runs %s/%s",
			spec.JobID, spec.Binary.GOOS, spec.Binary.GOARCH, runtime.GOOS, runtime.GOARCH)
	}
	j.logs = newLogForwarder(n, spec)
	n.jobs[key] = j
	if j.err == nil {
		n.resolveBinaryLocked(j)
		for i := 0; i < n.cfg.PrestartWorkers; i++ {
			n.maybeStartWorkerLocked(j)
		}
	}
	return j, nil
}

// resolveBinaryLocked finds the job's executable: in place when the driver
// shares this file system, else in the node's cache, else fetched from the
// head in the background.
func (n *Node) resolveBinaryLocked(j *job) {
	b := j.spec.Binary
	if b.Path != "" {
		if st, err := os.Stat(b.Path); err == nil && st.Size() == b.Size {
			j.binPath = b.Path
			return
		}
	}
	if p, err := cachedBinary(n.cfg.BinariesDir, b.Hash); err == nil {
		j.binPath = p
		return
	}
	j.fetching = true
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		ctx, cancel := n.stopContext(5 * time.Minute)
		defer cancel()
		p, err := fetchBinary(ctx, n.cfg.HeadAddr, n.cfg.Token, n.cfg.BinariesDir, b, rpc.WithTLS(n.cfg.TLS))
		n.mu.Lock()
		j.fetching = false
		if err != nil {
			n.log.Error("fetching job binary failed", "job", j.spec.JobID, "err", err)
			j.err = rpc.Errorf(protocol.CodeBinaryUnavailable, "node: cannot fetch job %s's binary: %v", j.spec.JobID, err)
		} else {
			j.binPath = p
			for j.starting < n.cfg.PrestartWorkers && n.maybeStartWorkerLocked(j) {
			}
		}
		n.scheduleLocked()
		n.mu.Unlock()
	}()
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
	return n.startWorkerIfUsefulLocked(j, false)
}

// startWorkerIfUsefulLocked starts a worker unless the job cannot use
// one; dedicated (actor) workers are exempt from the pool's cap.
func (n *Node) startWorkerIfUsefulLocked(j *job, dedicated bool) bool {
	if j.binPath == "" || j.err != nil || j.dead || n.stopping {
		return false
	}
	if j.starting >= n.cfg.PrestartWorkers && j.starting+len(j.idle) >= n.grantableLocked(j.key) {
		return false
	}
	if !dedicated && !n.poolRoomLocked(j) {
		return false
	}
	if err := n.startWorkerLocked(j); err != nil {
		n.log.Error("starting worker failed", "job", j.spec.JobID, "err", err)
		j.err = rpc.Errorf(protocol.CodeWorkerStartFailed, "node: cannot start a worker for job %s: %v", j.spec.JobID, err)
		return false
	}
	return true
}

func (n *Node) startWorkerLocked(j *job) error {
	w := &worker{id: newID(8), jobID: j.key, exited: make(chan struct{}), started: time.Now()}
	specJSON, err := json.Marshal(j.spec)
	if err != nil {
		return err
	}
	cmd := exec.Command(j.binPath)
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
	cmd.Env = env
	cmd.Dir = os.TempDir()
	// The worker dies with its node daemon even when the daemon is killed
	// with SIGKILL; a worker also exits when its connection to the node
	// closes (see the core runtime).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	w.cmd, w.pid = cmd, cmd.Process.Pid
	n.workers[w.id] = w
	j.starting++
	logf, err := os.OpenFile(n.workerLogPath(j.spec.JobID, w.pid), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		n.log.Warn("cannot open worker log file", "err", err)
	}
	var pipes sync.WaitGroup
	var logMu sync.Mutex
	pipes.Add(2)
	go func() { defer pipes.Done(); n.pumpOutput(j, w, stdout, false, logf, &logMu) }()
	go func() { defer pipes.Done(); n.pumpOutput(j, w, stderr, true, logf, &logMu) }()
	n.log.Debug("worker started", "worker", w.id, "pid", w.pid, "job", j.spec.JobID)

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
			n.log.Warn("worker did not register in time; killing it", "pid", w.pid, "timeout", timeout)
			w.kill()
		}
	})
	return nil
}

func (n *Node) workerExited(j *job, w *worker, err error) {
	exitedAt := time.Now()
	n.mu.Lock()
	registered := w.addr != ""
	w.dead = true
	if !registered {
		j.starting--
	}
	delete(n.workers, w.id)
	if w.lease != nil {
		n.releaseLocked(w.lease, true)
	}
	expected := j.dead || n.stopping
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
	br := bufio.NewReaderSize(r, 64<<10)
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
			var victims []*worker
			n.mu.Lock()
			n.pruneJobsLocked(now)
			for _, j := range n.jobs {
				keep := j.idle[:0]
				for i, w := range j.idle {
					if w.dead {
						continue
					}
					if len(j.idle)-i > n.cfg.PrestartWorkers && now.Sub(w.idleSince) > n.cfg.IdleWorkerTimeout {
						w.dead = true
						victims = append(victims, w)
						continue
					}
					keep = append(keep, w)
				}
				j.idle = keep
			}
			n.mu.Unlock()
			for _, w := range victims {
				w.kill()
			}
		}
	}
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

// endJobLocked stops a finished job's workers and fails its requests.
func (n *Node) endJobLocked(id string) []*worker {
	j := n.jobs[id]
	if j == nil || j.dead {
		return nil
	}
	j.dead = true
	j.endedAt = time.Now()
	j.idle = nil
	for _, r := range n.queue {
		if jobKey(r.req) == id {
			r.finish(nil, rpc.Errorf(protocol.CodeJobDead, "node: job %s has ended", id))
		}
	}
	var ws []*worker
	for _, w := range n.workers {
		if w.jobID == id && !w.detached {
			w.dead = true
			ws = append(ws, w)
		}
	}
	j.logs.close()
	n.log.Info("job ended; stopping its workers", "job", id, "workers", len(ws))
	return ws
}
