package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rayo-dev/rayo/internal/pki"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/session"
)

// Namespace is the head key-value namespace of job records (key: the
// submission ID, value: Info as JSON).
const Namespace = "jobs"

// maxEntrypoint bounds the entrypoint's bytes: the record must fit a
// key-value value with room to spare.
const maxEntrypoint = 64 << 10

// Caller calls a method of the head's RPC (the dashboard's connection).
type Caller func(ctx context.Context, method string, req, resp any) error

// Config configures a Manager.
type Config struct {
	// SessionDir is the head's session directory: working directories go
	// in jobs/<id>/working_dir, logs in logs/job-<id>.log.
	SessionDir string
	// HeadAddr and Token are what a job gets as RAYO_ADDRESS and
	// RAYO_TOKEN.
	HeadAddr string
	Token    string
	// Call reaches the head: its key-value store and its cluster status.
	Call Caller
	// StopGrace is how long a stopped job has between SIGTERM and SIGKILL
	// (default 5s, under `rayo stop`'s grace for the head itself).
	StopGrace time.Duration
	// PollInterval paces what has no event to wait on: the liveness of a
	// job a restarted head took over, a followed log (default 100ms).
	PollInterval time.Duration
	Log          *slog.Logger
}

func (c *Config) validate() error {
	if c.SessionDir == "" || c.HeadAddr == "" || c.Token == "" || c.Call == nil {
		return errors.New("jobs: the session directory, head address, token and head caller are required")
	}
	if c.StopGrace <= 0 {
		c.StopGrace = 5 * time.Second
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 100 * time.Millisecond
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return nil
}

// Manager runs and tracks submitted jobs.
type Manager struct {
	cfg Config

	mu     sync.Mutex
	jobs   map[string]*job
	closed bool

	loaded   chan struct{} // closed once the records are loaded
	stopping chan struct{} // closed by Close
	abandon  chan struct{} // closed by Close once it waited enough for the jobs to end
	saveMu   sync.Mutex    // orders writes of records
	wg       sync.WaitGroup
	closeOne sync.Once
}

type job struct {
	info Info
	// done is closed once the job's final state is written to the head.
	done      chan struct{}
	closeDone sync.Once
	// stopWhy says who stopped it, for the final message.
	stopWhy string
}

// New starts a Manager: it loads the records a previous head left (in the
// background, retrying while the head does not answer) and takes over
// the jobs still running.
func New(cfg Config) (*Manager, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, jobs: map[string]*job{}, loaded: make(chan struct{}),
		stopping: make(chan struct{}), abandon: make(chan struct{})}
	m.wg.Add(1)
	go m.loadLoop()
	return m, nil
}

func (m *Manager) loadLoop() {
	defer m.wg.Done()
	for {
		err := m.load()
		if err == nil {
			close(m.loaded)
			return
		}
		m.cfg.Log.Warn("loading job records from the head failed; retrying", "err", err)
		select {
		case <-m.stopping:
			return
		case <-time.After(time.Second):
		}
	}
}

// load reads every record and settles those that were not final.
func (m *Manager) load() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var keys protocol.KVKeysReply
	if err := m.cfg.Call(ctx, protocol.HeadKVKeys, &protocol.KVKeysRequest{Namespace: Namespace}, &keys); err != nil {
		return err
	}
	var infos []Info
	for _, k := range keys.Keys {
		var v protocol.KVGetReply
		if err := m.cfg.Call(ctx, protocol.HeadKVGet, &protocol.KVKeyRequest{Namespace: Namespace, Key: k}, &v); err != nil {
			return err
		}
		if !v.Found {
			continue
		}
		var info Info
		if err := json.Unmarshal(v.Value, &info); err != nil || info.SubmissionID != k || !ValidID(k) {
			m.cfg.Log.Error("skipping a damaged job record", "key", k, "err", err)
			continue
		}
		infos = append(infos, info)
	}
	var changed []string
	m.mu.Lock()
	for _, info := range infos {
		k := info.SubmissionID
		j := &job{info: info, done: make(chan struct{})}
		m.jobs[k] = j
		switch {
		case info.Status.Terminal():
			j.closeDone.Do(func() { close(j.done) })
		case info.Status == Running && info.Pid > 0 && sameProcess(info.Pid, info.ProcStart):
			m.wg.Add(1)
			go m.poll(j)
			m.cfg.Log.Info("took over a job that still runs", "submission_id", k, "pid", info.Pid)
			if m.closed { // the head is already stopping: so does the job
				m.stopLocked(j, "stopped: the head stopped")
				changed = append(changed, k)
			}
		case info.Status == Pending:
			m.finishLocked(j, Failed, "the head stopped before the job started", nil)
			changed = append(changed, k)
		default:
			to, msg := Failed, "the job's process was gone when the head restarted; its exit status is unknown"
			if info.StopRequested {
				to, msg = Stopped, "stopped (its process was gone when the head restarted)"
			}
			m.finishLocked(j, to, msg, nil)
			changed = append(changed, k)
		}
	}
	m.mu.Unlock()
	for _, id := range changed {
		m.save(id)
	}
	return nil
}

// ready waits until the records are loaded.
func (m *Manager) ready(ctx context.Context) error {
	select {
	case <-m.loaded:
		return nil
	case <-m.stopping:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("jobs: the job records are not loaded yet (is the head up?): %w", ctx.Err())
	}
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "rayojob_" + hex.EncodeToString(b)
}

// JobDir is where job id keeps its working directory.
func (m *Manager) JobDir(id string) string { return filepath.Join(m.cfg.SessionDir, "jobs", id) }

// LogPath is job id's log file: its stdout and stderr.
func (m *Manager) LogPath(id string) string {
	return filepath.Join(m.cfg.SessionDir, "logs", "job-"+id+".log")
}

// Submit accepts a job, unpacks its working directory from pkg (nil: an
// empty one) and starts its entrypoint there. A job whose process cannot
// start is accepted and FAILED; a malformed submission or package is
// refused (ErrInvalid, ErrBadPackage, ErrUnsafePath, ErrPackageTooLarge)
// and leaves nothing behind.
func (m *Manager) Submit(ctx context.Context, sub Submission, pkg io.Reader) (Info, error) {
	if err := sub.validate(); err != nil {
		return Info{}, err
	}
	if n := len(strings.Join(sub.Entrypoint, " ")); n > maxEntrypoint {
		return Info{}, fmt.Errorf("%w: the entrypoint is %d bytes, more than %d", ErrInvalid, n, maxEntrypoint)
	}
	if err := m.ready(ctx); err != nil {
		return Info{}, err
	}
	id := sub.ID
	if id == "" {
		id = newID()
	}
	keys := make([]string, 0, len(sub.Env))
	for k := range sub.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	wd := filepath.Join(m.JobDir(id), "working_dir")
	j := &job{done: make(chan struct{}), info: Info{SubmissionID: id, Status: Pending, Entrypoint: sub.Entrypoint,
		EnvKeys: keys, SubmitTime: time.Now().UnixMilli(), WorkingDir: wd, LogPath: m.LogPath(id)}}

	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return Info{}, ErrClosed
	}
	if _, ok := m.jobs[id]; ok {
		m.mu.Unlock()
		return Info{}, fmt.Errorf("%w: %s", ErrDuplicate, id)
	}
	m.jobs[id] = j
	m.mu.Unlock()
	m.save(id)

	if err := m.prepare(wd, pkg); err != nil {
		m.forget(id)
		return Info{}, err
	}

	m.mu.Lock()
	if j.info.Status != Pending { // stopped while it was unpacked
		info := j.info.clone()
		m.mu.Unlock()
		return info, nil
	}
	if m.closed {
		m.finishLocked(j, Stopped, "stopped: the head stopped before the job started", nil)
	} else if err := m.startLocked(j, sub.Env); err != nil {
		m.finishLocked(j, Failed, "the entrypoint could not start: "+err.Error(), nil)
	}
	info := j.info.clone()
	m.mu.Unlock()
	m.save(id)
	return info, nil
}

// prepare makes the working directory and unpacks the package into it.
func (m *Manager) prepare(wd string, pkg io.Reader) error {
	// A directory left by a submission the head lost (it crashed before
	// the record was written) is stale: start afresh.
	if err := os.RemoveAll(wd); err != nil {
		return err
	}
	// jobs/, jobs/<id>/ and the working directory: the job's files
	// (code, data, secrets it was given) are the cluster user's alone.
	for _, d := range []string{filepath.Dir(filepath.Dir(wd)), filepath.Dir(wd), wd} {
		if err := mkdirPrivate(d); err != nil {
			return err
		}
	}
	if pkg == nil {
		return nil
	}
	return Unpack(pkg, wd)
}

// Modes of what the manager writes, set with Chmod so that no umask
// (0 included) makes them readable by other local users.
const (
	privateDir  = 0o700
	privateFile = 0o600
)

// mkdirPrivate makes dir (and its parents) if needed and sets its mode to
// 0700.
func mkdirPrivate(dir string) error {
	if err := os.MkdirAll(dir, privateDir); err != nil {
		return err
	}
	return os.Chmod(dir, privateDir)
}

// forget removes a submission that was refused.
func (m *Manager) forget(id string) {
	m.mu.Lock()
	delete(m.jobs, id)
	m.mu.Unlock()
	_ = os.RemoveAll(m.JobDir(id))
	m.saveMu.Lock()
	defer m.saveMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.cfg.Call(ctx, protocol.HeadKVDelete, &protocol.KVKeyRequest{Namespace: Namespace, Key: id}, nil); err != nil {
		m.cfg.Log.Warn("could not delete a refused job's record", "submission_id", id, "err", err)
	}
}

// startLocked starts j's process: in its own process group (so that a
// stop reaches what it started, and a head killed with its group leaves
// it running), output appended to its log file.
func (m *Manager) startLocked(j *job, env map[string]string) error {
	if err := mkdirPrivate(filepath.Dir(j.info.LogPath)); err != nil {
		return err
	}
	logf, err := os.OpenFile(j.info.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, privateFile)
	if err != nil {
		return err
	}
	defer logf.Close() // the child holds its own copy
	if err := logf.Chmod(privateFile); err != nil {
		return err
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devnull.Close()
	argv := j.info.Entrypoint
	cmd := exec.Command(argv[0], argv[1:]...)
	if strings.Contains(argv[0], "/") && !filepath.IsAbs(argv[0]) {
		// Relative to the working directory, not to the head's.
		cmd = exec.Command(filepath.Join(j.info.WorkingDir, argv[0]), argv[1:]...)
		cmd.Args[0] = argv[0]
	}
	cmd.Dir = j.info.WorkingDir
	cmd.Env = append(os.Environ(), "RAYO_ADDRESS="+m.cfg.HeadAddr, "RAYO_TOKEN="+m.cfg.Token,
		"RAYO_JOB_SUBMISSION_ID="+j.info.SubmissionID)
	if fp := m.caFingerprint(); fp != "" {
		cmd.Env = append(cmd.Env, rpc.EnvCAFingerprint+"="+fp)
	}
	for _, k := range j.info.EnvKeys {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now().UnixMilli()
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(logf, "rayo: the entrypoint could not start: %v\n", err)
		return err
	}
	pid := cmd.Process.Pid
	st, _ := readStat(pid)
	j.info.Status, j.info.StartTime, j.info.Pid, j.info.ProcStart = Running, start, pid, st.start
	m.wg.Add(1)
	go m.wait(j, cmd)
	m.cfg.Log.Info("job started", "submission_id", j.info.SubmissionID, "pid", pid, "entrypoint", strings.Join(argv, " "))
	return nil
}

// caFingerprint is the fingerprint of the cluster CA the head wrote into
// its session ("" for a cluster without TLS, or with the operator's TLS
// files). A job's driver joins the cluster with it (rpc.JoinTLS): left
// to itself, it looks for the CA in the latest session of the default
// temp dir, which is not the head's when the head runs with --temp-dir
// or a newer session is latest there, and it then runs without TLS,
// refused by the nodes of other machines. Read at each start: the head
// writes the file before it serves jobs.
func (m *Manager) caFingerprint() string {
	fp, err := pki.FileFingerprint(filepath.Join(m.cfg.SessionDir, session.CAFileName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		m.cfg.Log.Warn("the cluster CA is unreadable: jobs start without its fingerprint, and their drivers without TLS", "err", err)
	}
	return fp
}

// wait follows a job the head started, to its exit.
func (m *Manager) wait(j *job, cmd *exec.Cmd) {
	defer m.wg.Done()
	err := cmd.Wait()
	// What the job left in its process group goes with it.
	_ = signalGroup(cmd.Process.Pid, syscall.SIGKILL)
	to, msg, code := exitStatus(cmd.ProcessState, err)
	m.end(j, to, msg, code)
}

// exitStatus turns a process's end into a job's: the status, a message,
// the exit code (none when a signal killed it).
func exitStatus(ps *os.ProcessState, err error) (Status, string, *int) {
	if ps == nil {
		return Failed, fmt.Sprintf("waiting for the job's process failed: %v", err), nil
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return Failed, "the job's process was killed by signal " + ws.Signal().String(), nil
	}
	c := ps.ExitCode()
	if c != 0 {
		return Failed, fmt.Sprintf("the job's process exited with status %d", c), &c
	}
	return Succeeded, "the job's process exited with status 0", &c
}

// poll follows a job a restarted head took over, to its exit.
func (m *Manager) poll(j *job) {
	defer m.wg.Done()
	m.mu.Lock()
	pid, start := j.info.Pid, j.info.ProcStart
	m.mu.Unlock()
	t := time.NewTicker(m.cfg.PollInterval)
	defer t.Stop()
	for sameProcess(pid, start) {
		select {
		case <-m.abandon:
			return
		case <-t.C:
		}
	}
	// As for a child (wait): what it left in its group goes with it. The
	// group's ID cannot have been reused while a member lives.
	_ = signalGroup(pid, syscall.SIGKILL)
	m.end(j, Failed, "the job's process exited while the head was not its parent (the head restarted); its exit status is unknown", nil)
}

// end records a job's exit: STOPPED if a stop was asked for, else to.
func (m *Manager) end(j *job, to Status, msg string, code *int) {
	m.mu.Lock()
	info := j.info.clone()
	m.mu.Unlock()
	info.EndTime = time.Now().UnixMilli()
	driver := info.DriverJobID
	if driver == "" {
		driver = m.driverJob(info)
	}
	m.mu.Lock()
	if j.info.StopRequested {
		why := j.stopWhy
		if why == "" {
			why = "stopped by request"
		}
		to, msg = Stopped, why+" ("+msg+")"
	}
	if j.info.DriverJobID == "" {
		j.info.DriverJobID = driver
	}
	m.finishLocked(j, to, msg, code)
	id := j.info.SubmissionID
	m.mu.Unlock()
	m.save(id)
	m.cfg.Log.Info("job ended", "submission_id", id, "status", to, "message", msg)
}

// finishLocked moves j to a final state.
func (m *Manager) finishLocked(j *job, to Status, msg string, code *int) {
	if !CanMove(j.info.Status, to) {
		m.cfg.Log.Error("refused a job state change", "err", &StateError{ID: j.info.SubmissionID, From: j.info.Status, To: to})
		return
	}
	j.info.Status, j.info.Message, j.info.ExitCode = to, msg, code
	if j.info.EndTime == 0 {
		j.info.EndTime = time.Now().UnixMilli()
	}
}

// save writes job id's current record to the head. Writes are serialized
// and each writes the record as it is then, so the last write is the
// latest state whatever order callers come in. A final record written
// (or its write failed) closes the job's done channel: who waits for a
// job's end finds its record in the head.
func (m *Manager) save(id string) {
	m.saveMu.Lock()
	defer m.saveMu.Unlock()
	m.mu.Lock()
	j, ok := m.jobs[id]
	var b []byte
	var err error
	var final bool
	if ok {
		b, err = json.Marshal(&j.info)
		final = j.info.Status.Terminal()
	}
	m.mu.Unlock()
	if !ok {
		return
	}
	if final {
		defer j.closeDone.Do(func() { close(j.done) })
	}
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = m.cfg.Call(ctx, protocol.HeadKVPut, &protocol.KVPutRequest{Namespace: Namespace, Key: id, Value: b, Overwrite: true}, nil)
		cancel()
	}
	if err != nil {
		m.cfg.Log.Error("writing a job record to the head failed; a restarted head will not see this change",
			"submission_id", id, "err", err)
	}
}

// driverJob finds the cluster job of the rayo driver that job info ran:
// a job registered after it started whose driver is its process, or in
// its process group.
func (m *Manager) driverJob(info Info) string {
	if info.Pid == 0 {
		return ""
	}
	return matchDriver(m.clusterJobs(), info, pgidOf)
}

// clusterJobs are the cluster's (driver) jobs as the head lists them; none
// when it does not answer (the driver is looked for again later).
func (m *Manager) clusterJobs() []protocol.JobState {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var st protocol.ClusterStatusReply
	if err := m.cfg.Call(ctx, protocol.HeadClusterStatus, &protocol.ClusterStatusRequest{}, &st); err != nil {
		return nil
	}
	return st.Jobs
}

func pgidOf(pid int) (int, bool) {
	s, ok := readStat(pid)
	return s.pgid, ok
}

// matchDriver picks the earliest cluster job whose driver is info's
// process or, while it lives, a process of its group.
func matchDriver(jobs []protocol.JobState, info Info, pgidOf func(pid int) (int, bool)) string {
	best, bestAt := "", int64(0)
	for _, cj := range jobs {
		if cj.StartedAt < info.StartTime || (info.EndTime > 0 && cj.StartedAt > info.EndTime) {
			continue
		}
		ours := cj.DriverPid == info.Pid
		if !ours && cj.Alive {
			pg, ok := pgidOf(cj.DriverPid)
			ours = ok && pg == info.Pid
		}
		if ours && (best == "" || cj.StartedAt < bestAt) {
			best, bestAt = cj.JobID, cj.StartedAt
		}
	}
	return best
}

// Get returns job id's record.
func (m *Manager) Get(ctx context.Context, id string) (Info, error) {
	if err := m.ready(ctx); err != nil {
		return Info{}, err
	}
	m.mu.Lock()
	j, ok := m.jobs[id]
	var info Info
	if ok {
		info = j.info.clone()
	}
	m.mu.Unlock()
	if !ok {
		return Info{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if info.Status == Running && info.DriverJobID == "" && info.Pid != 0 {
		info.DriverJobID = m.learnDriver(matchDriver(m.clusterJobs(), info, pgidOf), id)
	}
	return info, nil
}

// learnDriver keeps the driver found for a running job.
func (m *Manager) learnDriver(driver, id string) string {
	if driver == "" {
		return ""
	}
	m.mu.Lock()
	j := m.jobs[id]
	if j != nil && j.info.DriverJobID == "" {
		j.info.DriverJobID = driver
	}
	m.mu.Unlock()
	m.save(id)
	return driver
}

// List returns every job's record, by submission time.
func (m *Manager) List(ctx context.Context) ([]Info, error) {
	if err := m.ready(ctx); err != nil {
		return nil, err
	}
	m.mu.Lock()
	out := make([]Info, 0, len(m.jobs))
	for _, j := range m.jobs {
		out = append(out, j.info.clone())
	}
	m.mu.Unlock()
	var cluster []protocol.JobState
	asked := false
	for i := range out {
		if out[i].Status != Running || out[i].DriverJobID != "" || out[i].Pid == 0 {
			continue
		}
		if !asked { // one look at the head for all of them
			cluster, asked = m.clusterJobs(), true
		}
		out[i].DriverJobID = m.learnDriver(matchDriver(cluster, out[i], pgidOf), out[i].SubmissionID)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].SubmitTime != out[b].SubmitTime {
			return out[a].SubmitTime < out[b].SubmitTime
		}
		return out[a].SubmissionID < out[b].SubmissionID
	})
	return out, nil
}

// Stop asks job id to stop: SIGTERM to its process group, SIGKILL after
// the grace period. It returns at once, reporting whether the job was
// still running (a job already over is left as it is); the job reaches
// STOPPED when its process is gone.
func (m *Manager) Stop(ctx context.Context, id string) (bool, error) {
	if err := m.ready(ctx); err != nil {
		return false, err
	}
	m.mu.Lock()
	j, ok := m.jobs[id]
	if !ok {
		m.mu.Unlock()
		return false, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	stopped := m.stopLocked(j, "stopped by request")
	m.mu.Unlock()
	if stopped {
		m.save(id)
	}
	return stopped, nil
}

// stopLocked stops j if it has not ended.
func (m *Manager) stopLocked(j *job, why string) bool {
	switch j.info.Status {
	case Pending:
		m.finishLocked(j, Stopped, why+", before the job started", nil)
		return true
	case Running:
	default:
		return false
	}
	if j.info.StopRequested {
		return true
	}
	j.info.StopRequested, j.stopWhy = true, why
	pid, start := j.info.Pid, j.info.ProcStart
	m.kill(pid, start, syscall.SIGTERM)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		select {
		case <-j.done:
		case <-time.After(m.cfg.StopGrace):
			m.cfg.Log.Warn("a job outlived its stop grace; killing it", "submission_id", j.info.SubmissionID, "pid", pid)
			m.kill(pid, start, syscall.SIGKILL)
		}
	}()
	return true
}

// kill signals a job's process group, if its leader is still the job's
// process (a pid reused after the job is someone else's).
func (m *Manager) kill(pid int, start uint64, sig syscall.Signal) {
	if !sameProcess(pid, start) {
		return
	}
	if err := signalGroup(pid, sig); err != nil {
		m.cfg.Log.Warn("could not signal a job", "pid", pid, "signal", sig.String(), "err", err)
	}
}

// Done returns a channel closed when job id has ended (nil if unknown).
func (m *Manager) Done(id string) <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if j, ok := m.jobs[id]; ok {
		return j.done
	}
	return nil
}

// Close stops every running job (SIGTERM, SIGKILL after the grace),
// waits for them to end, and returns. The head calls it when it stops
// on purpose: no job outlives it then.
func (m *Manager) Close() {
	m.closeOne.Do(func() {
		m.mu.Lock()
		m.closed = true
		var ids []string
		var dones []chan struct{}
		for id, j := range m.jobs {
			if m.stopLocked(j, "stopped: the head stopped") {
				ids = append(ids, id)
				dones = append(dones, j.done)
			}
		}
		m.mu.Unlock()
		for _, id := range ids {
			m.save(id)
		}
		close(m.stopping)
		deadline := time.After(m.cfg.StopGrace + 5*time.Second)
	wait:
		for _, d := range dones {
			select {
			case <-d:
			case <-deadline:
				m.cfg.Log.Error("jobs still running after SIGKILL; giving up on them")
				break wait
			}
		}
		close(m.abandon)
		m.wg.Wait()
	})
}
