package train

import (
	"cmp"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rayo-dev/rayo/tune"
)

// The run's directory (RunConfig.StoragePath/Name), on the driver's
// machine:
//
//	result.json             one JSON line per completed report round
//	checkpoint_000004/      the checkpoint reported in round 4
//	.tmp-checkpoint_*       a checkpoint being written (removed at start)
//	.lock                   held (flock) by the Fit writing the directory
//	.staging/               shared storage: ranks' files before a round completes
//
// A checkpoint is written into a .tmp- directory, synced, and renamed
// into place, so a crash mid-write leaves the previous checkpoints as
// they were. Names depend only on the round, so the same training makes
// the same layout.

const (
	resultFile = "result.json"
	lockFile   = ".lock" // held by the Fit that writes the directory
)

// checkpointNameRE is what a checkpoint's directory is called; names read
// back from result.json are checked against it before retention removes
// anything.
var checkpointNameRE = regexp.MustCompile(`^checkpoint_[0-9]{6,}$`)

// maxQueuedRounds bounds the completed rounds waiting for the disk: past
// it the driver stops taking reports (Report waits), so checkpoint bytes
// in memory stay bounded when the disk is slower than training.
const maxQueuedRounds = 4

// writeTries bounds the attempts at writing one checkpoint; the waits
// between them double from writeBackoff.
const (
	writeTries   = 5
	writeBackoff = 50 * time.Millisecond
)

// Reported is one report round as the run records it.
type Reported struct {
	Round     int    `json:"round"`
	Attempt   int    `json:"attempt"`
	WorldSize int    `json:"world_size"`
	Metrics   Config `json:"metrics"`
	// Checkpoint is the round's checkpoint directory name, "" if none.
	Checkpoint string    `json:"checkpoint,omitempty"`
	Time       time.Time `json:"time"`
}

// roundJob is a completed round for the storage writer.
type roundJob struct {
	rep    Reported
	parts  [][]byte // each rank's packed files
	staged bool     // files are in the staging directory
}

// storage writes a run's rounds and checkpoints, one at a time, in a
// goroutine of its own so training never waits on the disk.
type storage struct {
	dir  string
	cfg  CheckpointConfig
	log  *slog.Logger
	lock *os.File // flocked while the Fit runs
	// onWrite, if set, is told of each round once it is on disk (Tune);
	// its error stops the run.
	onWrite func(rep Reported, checkpointDir string) error

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []roundJob
	busy    bool
	closed  bool
	err     error         // a write that failed every try
	failed  chan struct{} // closed with err
	kept    []Reported    // checkpoints on disk, oldest first (earlier Fits' too)
	written int           // checkpoints this Fit wrote
	history []Reported
	done    chan struct{}
}

// openStorage makes the run's directory, checks it can be written, and
// removes what a crash left half-written.
func openStorage(dir string, cfg CheckpointConfig, log *slog.Logger) (*storage, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, errorf(ErrStorage, "creating %s: %v", dir, err)
	}
	// One Fit at a time per run directory: two would overwrite and prune
	// each other's checkpoints.
	lock, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, errorf(ErrStorage, "%s cannot be written: %v", dir, err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		return nil, errorf(ErrStorage, "%s is in use by another Fit (give each run its own RunConfig.Name): %v", dir, err)
	}
	ok := false
	defer func() {
		if !ok {
			lock.Close()
		}
	}()
	probe, err := os.CreateTemp(dir, ".probe-")
	if err != nil {
		return nil, errorf(ErrStorage, "%s cannot be written: %v", dir, err)
	}
	probe.Close()
	_ = os.Remove(probe.Name())
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, errorf(ErrStorage, "reading %s: %v", dir, err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") || e.Name() == ".staging" {
			_ = os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
	s := &storage{dir: dir, cfg: cfg, log: log, lock: lock, failed: make(chan struct{}), done: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	if err := s.loadKept(); err != nil {
		return nil, err
	}
	ok = true
	go s.loop()
	return s, nil
}

// loadKept takes in the checkpoints an earlier Fit of the same run left
// (result.json names them), so that retention counts them and a restart
// can resume from them.
func (s *storage) loadKept() error {
	b, err := os.ReadFile(filepath.Join(s.dir, resultFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return errorf(ErrStorage, "reading %s: %v", resultFile, err)
	}
	for line := range strings.Lines(string(b)) {
		var r Reported
		if json.Unmarshal([]byte(line), &r) != nil || !checkpointNameRE.MatchString(r.Checkpoint) {
			continue // a line a crash cut short, or none of ours
		}
		if st, err := os.Stat(filepath.Join(s.dir, r.Checkpoint)); err != nil || !st.IsDir() {
			continue // pruned
		}
		s.kept = slices.DeleteFunc(s.kept, func(k Reported) bool { return k.Checkpoint == r.Checkpoint })
		s.kept = append(s.kept, r)
	}
	return nil
}

// submit queues a completed round, waiting while maxQueuedRounds are
// queued.
func (s *storage) submit(j roundJob) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.queue) >= maxQueuedRounds && s.err == nil {
		s.cond.Wait()
	}
	if s.err != nil {
		return // the run fails with it
	}
	s.queue = append(s.queue, j)
	s.cond.Broadcast()
}

// drain waits until every queued round is written (or failed).
func (s *storage) drain() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for (len(s.queue) > 0 || s.busy) && s.err == nil {
		s.cond.Wait()
	}
	return s.err
}

// close drains and stops the writer.
func (s *storage) close() error {
	err := s.drain()
	s.mu.Lock()
	s.closed = true
	s.cond.Broadcast()
	s.mu.Unlock()
	<-s.done
	s.lock.Close()
	return err
}

func (s *storage) loop() {
	defer close(s.done)
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && !s.closed {
			s.cond.Wait()
		}
		if s.err != nil {
			s.queue = nil // the run fails: drop the rest, wait for close
		}
		if len(s.queue) == 0 {
			s.mu.Unlock()
			if s.closed {
				return
			}
			s.mu.Lock()
			for len(s.queue) == 0 && !s.closed {
				s.cond.Wait()
			}
			s.mu.Unlock()
			continue
		}
		j := s.queue[0]
		s.queue = s.queue[1:]
		s.busy = true
		s.mu.Unlock()

		err := s.write(&j)
		s.mu.Lock()
		s.busy = false
		if err != nil && s.err == nil {
			s.err = err
			s.queue = nil
			close(s.failed)
		}
		s.cond.Broadcast()
		s.mu.Unlock()
	}
}

// write puts a round's checkpoint in place (retrying), then its line in
// result.json, then prunes old checkpoints.
func (s *storage) write(j *roundJob) error {
	if len(j.parts) > 0 || j.staged {
		j.rep.Checkpoint = checkpointName(j.rep.Round)
		var err error
		for try := range writeTries {
			if err = s.writeCheckpoint(j); err == nil || try == writeTries-1 {
				break
			}
			s.log.Warn("train: writing a checkpoint failed; retrying", "checkpoint", j.rep.Checkpoint, "try", try+1, "err", err)
			time.Sleep(writeBackoff << try)
		}
		if err != nil {
			return errorf(ErrStorage, "writing %s under %s failed %d times: %v", j.rep.Checkpoint, s.dir, writeTries, err)
		}
	}
	line, err := json.Marshal(jsonSafe(j.rep))
	if err != nil {
		return errorf(ErrStorage, "encoding round %d's metrics: %v", j.rep.Round, err)
	}
	if err := appendLine(filepath.Join(s.dir, resultFile), line); err != nil {
		return errorf(ErrStorage, "writing %s: %v", resultFile, err)
	}
	s.mu.Lock()
	s.history = append(s.history, j.rep)
	if j.rep.Checkpoint != "" {
		s.kept = slices.DeleteFunc(s.kept, func(r Reported) bool { return r.Checkpoint == j.rep.Checkpoint })
		s.kept = append(s.kept, j.rep)
		s.written++
	}
	drop := s.pruneLocked()
	s.mu.Unlock()
	for _, name := range drop {
		if err := os.RemoveAll(filepath.Join(s.dir, name)); err != nil {
			s.log.Warn("train: removing an old checkpoint failed", "checkpoint", name, "err", err)
		}
	}
	if s.onWrite != nil {
		dir := ""
		if j.rep.Checkpoint != "" {
			dir = filepath.Join(s.dir, j.rep.Checkpoint)
		}
		return s.onWrite(j.rep, dir)
	}
	return nil
}

func (s *storage) writeCheckpoint(j *roundJob) (err error) {
	final := filepath.Join(s.dir, j.rep.Checkpoint)
	tmp, err := os.MkdirTemp(s.dir, ".tmp-"+j.rep.Checkpoint+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // after a successful swap it holds the old copy, if any
	if j.staged {
		// Shared storage: the ranks' files are on this filesystem already;
		// move them, and back if this try fails, for the next.
		staged := stagingDir(s.dir, j.rep.Attempt, j.rep.Round)
		if err := os.Remove(tmp); err != nil {
			return err
		}
		if err := os.Rename(staged, tmp); err != nil {
			return err
		}
		defer func() {
			if err != nil {
				_ = os.Rename(tmp, staged)
			}
		}()
		if err := syncTree(tmp); err != nil {
			return err
		}
	}
	for _, p := range j.parts {
		if err := unpackInto(tmp, p); err != nil {
			return err
		}
	}
	if err := syncDir(tmp); err != nil {
		return err
	}
	if err := swapIn(tmp, final); err != nil {
		return err
	}
	return syncDir(s.dir)
}

// swapIn puts dir in place of final. A checkpoint of the same round from
// an earlier attempt is exchanged in one step (RENAME_EXCHANGE), so the
// name never points at nothing; where the filesystem cannot (NFS), the
// old one is renamed aside first. dir then holds the old copy.
func swapIn(dir, final string) error {
	err := unix.Renameat2(unix.AT_FDCWD, dir, unix.AT_FDCWD, final, unix.RENAME_EXCHANGE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOENT):
		return os.Rename(dir, final)
	case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS):
		aside := dir + ".old"
		if err := os.Rename(final, aside); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err := os.Rename(dir, final); err != nil {
			_ = os.Rename(aside, final)
			return err
		}
		return os.Rename(aside, dir)
	}
	return err
}

// syncTree syncs every file under dir (files ranks wrote on shared
// storage), then the directories.
func syncTree(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Sync()
	})
}

// pruneLocked picks the checkpoints past NumToKeep, worst first by score
// (or oldest), never the latest.
func (s *storage) pruneLocked() []string {
	if s.cfg.NumToKeep == 0 || len(s.kept) <= s.cfg.NumToKeep {
		return nil
	}
	latest := s.kept[len(s.kept)-1]
	ranked := s.ranked()
	var drop []string
	for _, r := range ranked[s.cfg.NumToKeep:] {
		if r.Checkpoint != latest.Checkpoint {
			drop = append(drop, r.Checkpoint)
		}
	}
	s.kept = slices.DeleteFunc(s.kept, func(r Reported) bool { return slices.Contains(drop, r.Checkpoint) })
	return drop
}

// ranked returns the kept checkpoints best first: by ScoreAttribute in
// Order (a checkpoint without the score last), else newest first.
func (s *storage) ranked() []Reported {
	out := slices.Clone(s.kept)
	slices.Reverse(out) // newest first, which also breaks ties
	if s.cfg.ScoreAttribute == "" {
		return out
	}
	// Each checkpoint's score, read once: ok is false without one or for
	// NaN, which rank last.
	type scored struct {
		r     Reported
		score float64
		ok    bool
	}
	ss := make([]scored, len(out))
	for i, r := range out {
		f, ok := tune.MetricsOf(r.Metrics)[s.cfg.ScoreAttribute]
		ss[i] = scored{r, f, ok && !math.IsNaN(f)}
	}
	slices.SortStableFunc(ss, func(a, b scored) int {
		switch {
		case !a.ok || !b.ok:
			return cmp.Compare(boolInt(b.ok), boolInt(a.ok))
		case s.cfg.Order == Min:
			return cmp.Compare(a.score, b.score)
		default:
			return cmp.Compare(b.score, a.score)
		}
	})
	for i := range ss {
		out[i] = ss[i].r
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// latest is the newest checkpoint this Fit wrote, if any: a restart
// never moves onto an earlier Fit's state.
func (s *storage) latest() (Reported, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.written == 0 || len(s.kept) == 0 {
		return Reported{}, false
	}
	return s.kept[len(s.kept)-1], true
}

// jsonSafe replaces the non-finite numbers JSON cannot hold (a loss that
// diverged) with the strings "NaN", "Infinity" and "-Infinity".
func jsonSafe(r Reported) Reported {
	var fix func(v any) any
	fix = func(v any) any {
		switch x := v.(type) {
		case float64:
			return finite(x)
		case float32:
			return finite(float64(x))
		case map[string]any:
			out := make(map[string]any, len(x))
			for k, e := range x {
				out[k] = fix(e)
			}
			return out
		case Config:
			return fix(map[string]any(x))
		case []any:
			out := make([]any, len(x))
			for i, e := range x {
				out[i] = fix(e)
			}
			return out
		}
		return v
	}
	r.Metrics, _ = fix(map[string]any(r.Metrics)).(map[string]any)
	return r
}

func finite(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return f
}

func appendLine(path string, line []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// waitFailed returns a channel closed when a write has failed for good.
func (s *storage) waitFailed() <-chan struct{} { return s.failed }
