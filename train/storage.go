package train

import (
	"cmp"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
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
//	.staging/               shared storage: ranks' files before a round completes
//
// A checkpoint is written into a .tmp- directory, synced, and renamed
// into place, so a crash mid-write leaves the previous checkpoints as
// they were. Names depend only on the round, so the same training makes
// the same layout.

const resultFile = "result.json"

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
	dir string
	cfg CheckpointConfig
	log *slog.Logger
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
	kept    []Reported    // checkpoints on disk, oldest first
	history []Reported
	done    chan struct{}
}

// openStorage makes the run's directory, checks it can be written, and
// removes what a crash left half-written.
func openStorage(dir string, cfg CheckpointConfig, log *slog.Logger) (*storage, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, errorf(ErrStorage, "creating %s: %v", dir, err)
	}
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
	s := &storage{dir: dir, cfg: cfg, log: log, failed: make(chan struct{}), done: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	if err := s.loadKept(); err != nil {
		return nil, err
	}
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
		if json.Unmarshal([]byte(line), &r) != nil || r.Checkpoint == "" {
			continue // a line a crash cut short
		}
		if st, err := os.Stat(filepath.Join(s.dir, r.Checkpoint)); err != nil || !st.IsDir() {
			continue // pruned
		}
		s.kept = slices.DeleteFunc(s.kept, func(k Reported) bool { return k.Checkpoint == r.Checkpoint })
		s.kept = append(s.kept, r)
	}
	return nil
}

// submit queues a completed round.
func (s *storage) submit(j roundJob) {
	s.mu.Lock()
	s.queue = append(s.queue, j)
	s.cond.Broadcast()
	s.mu.Unlock()
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
	return err
}

func (s *storage) loop() {
	defer close(s.done)
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && !s.closed {
			s.cond.Wait()
		}
		if len(s.queue) == 0 || s.err != nil {
			s.mu.Unlock()
			if s.closed {
				return
			}
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
			if err = s.writeCheckpoint(j); err == nil {
				break
			}
			s.log.Warn("train: writing a checkpoint failed; retrying", "checkpoint", j.rep.Checkpoint, "try", try+1, "err", err)
			time.Sleep(writeBackoff << try)
		}
		if err != nil {
			return errorf(ErrStorage, "writing %s under %s failed %d times: %v", j.rep.Checkpoint, s.dir, writeTries, err)
		}
	}
	line, err := json.Marshal(j.rep)
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

func (s *storage) writeCheckpoint(j *roundJob) error {
	final := filepath.Join(s.dir, j.rep.Checkpoint)
	tmp, err := os.MkdirTemp(s.dir, ".tmp-"+j.rep.Checkpoint+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // after a successful rename it holds the old copy, if any
	if j.staged {
		staged := stagingDir(s.dir, j.rep.Attempt, j.rep.Round)
		if err := copyDir(tmp, staged); err != nil {
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
	// A checkpoint of the same round from an earlier attempt is swapped
	// out in one step, so the name never points at nothing.
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, final, unix.RENAME_EXCHANGE); err != nil {
		if !errors.Is(err, unix.ENOENT) {
			return err
		}
		if err := os.Rename(tmp, final); err != nil {
			return err
		}
	}
	if j.staged {
		_ = os.RemoveAll(stagingDir(s.dir, j.rep.Attempt, j.rep.Round))
	}
	return syncDir(s.dir)
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
	slices.SortStableFunc(out, func(a, b Reported) int {
		fa, oka := tune.MetricsOf(a.Metrics)[s.cfg.ScoreAttribute]
		fb, okb := tune.MetricsOf(b.Metrics)[s.cfg.ScoreAttribute]
		switch {
		case !oka || !okb:
			return cmp.Compare(boolInt(okb), boolInt(oka))
		case s.cfg.Order == Min:
			return cmp.Compare(fa, fb)
		default:
			return cmp.Compare(fb, fa)
		}
	})
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// latest is the newest checkpoint on disk, if any.
func (s *storage) latest() (Reported, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.kept) == 0 {
		return Reported{}, false
	}
	return s.kept[len(s.kept)-1], true
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
