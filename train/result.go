package train

import "path/filepath"

// Result is what Fit returns (Ray's Result).
type Result struct {
	// Metrics are rank 0's last reported metrics (a Config, for its
	// accessors: numbers arrive as msgpack decodes them).
	Metrics Config
	// MetricsHistory is every report round this Fit completed, in order,
	// restarts included (rounds after the restored checkpoint are
	// reported again). result.json in Path holds those of every Fit that
	// used the directory.
	MetricsHistory []Reported
	// Checkpoint is the latest checkpoint written, nil if none.
	Checkpoint *Checkpoint
	// BestCheckpoints are the checkpoints kept, best first
	// (CheckpointConfig.ScoreAttribute and Order; newest first without).
	BestCheckpoints []CheckpointResult
	// Path is the run's directory (RunConfig.StoragePath/Name).
	Path string
	// Error is why training failed, nil if it finished.
	Error error
	// Failures counts the group's failures: its restarts, plus the last
	// failure when it ended the run (ErrTooManyFailures). WorldSize is
	// the last attempt's number of workers.
	Failures  int
	WorldSize int
}

// CheckpointResult is a kept checkpoint and the metrics reported with it.
type CheckpointResult struct {
	Checkpoint *Checkpoint
	Metrics    Config
}

// fill copies what storage holds into r.
func (r *Result) fill(s *storage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.MetricsHistory = append([]Reported(nil), s.history...)
	if n := len(s.history); n > 0 {
		r.Metrics = s.history[n-1].Metrics
	}
	if n := len(s.kept); n > 0 {
		r.Checkpoint = CheckpointFromDir(filepath.Join(s.dir, s.kept[n-1].Checkpoint))
	}
	r.BestCheckpoints = nil
	for _, k := range s.ranked() {
		r.BestCheckpoints = append(r.BestCheckpoints, CheckpointResult{Checkpoint: CheckpointFromDir(filepath.Join(s.dir, k.Checkpoint)), Metrics: k.Metrics})
	}
}
