package tune

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The experiment's directory, StoragePath/Name:
//
//	experiment.json   the experiment's settings, written once
//	journal.bin       every event, appended (journal.go)
//	results.csv       one row per trial, written at the end of Fit
//	results.json      every trial's outcome, written at the end of Fit
//	<trial id>/params.json          the trial's Params
//	<trial id>/result.jsonl         one line per result, appended
//	<trial id>/checkpoint_000010/   the kept checkpoints only
//
// Everything is private to the user (0700 directories, 0600 files).

const metaFile = "experiment.json"

// experimentMeta is experiment.json: what Restore needs besides the
// journal.
type experimentMeta struct {
	Version             int                `json:"version"`
	Name                string             `json:"name"`
	Trainable           string             `json:"trainable"`
	Metric              string             `json:"metric,omitempty"`
	Mode                Mode               `json:"mode,omitempty"`
	NumSamples          int                `json:"num_samples"`
	MaxConcurrentTrials int                `json:"max_concurrent_trials,omitempty"`
	ReuseActors         bool               `json:"reuse_actors,omitempty"`
	TimeBudget          time.Duration      `json:"time_budget_ns,omitempty"`
	Seed                int64              `json:"seed"`
	StopMetrics         map[string]float64 `json:"stop_metrics,omitempty"`
	StopIterations      int                `json:"stop_iterations,omitempty"`
	StopTime            time.Duration      `json:"stop_time_ns,omitempty"`
	SharedStorage       bool               `json:"shared_storage,omitempty"`
	Failure             FailureConfig      `json:"failure"`
	Checkpoint          CheckpointConfig   `json:"checkpoint"`
	Started             time.Time          `json:"started"`
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("%w: %v", ErrStorage, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("%w: %v", ErrStorage, err)
	}
	return nil
}

func writeMeta(dir string, m *experimentMeta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("tune: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, metaFile), b)
}

func readMeta(dir string) (*experimentMeta, error) {
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("%w: %s: %w", ErrStorage, dir, errNoExperiment)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	var m experimentMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrStorage, metaFile, err)
	}
	return &m, nil
}

// ckptDirName names a checkpoint's directory by its iteration.
func ckptDirName(iteration int) string { return fmt.Sprintf("checkpoint_%06d", iteration) }

// resultLine is a line of a trial's result.jsonl.
type resultLine struct {
	Iteration    int       `json:"training_iteration"`
	TimeTotal    float64   `json:"time_total_s"`
	TimeThisIter float64   `json:"time_this_iter_s"`
	Timestamp    time.Time `json:"timestamp"`
	Metrics      Metrics   `json:"metrics"`
	Checkpoint   bool      `json:"checkpoint,omitempty"`
	Done         bool      `json:"done,omitempty"`
}

func appendResultLine(f *os.File, r Result) error {
	b, err := json.Marshal(resultLine{Iteration: r.Iteration, TimeTotal: r.TimeTotal.Seconds(), TimeThisIter: r.TimeThisIter.Seconds(),
		Timestamp: r.Timestamp, Metrics: r.Metrics, Checkpoint: r.Checkpoint, Done: r.Done})
	if err != nil {
		return fmt.Errorf("tune: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("%w: %v", ErrStorage, err)
	}
	return nil
}

// checkWritable fails early, at NewTuner, on a storage path that cannot
// be written.
func checkWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("%w: cannot create %s: %v", ErrStorage, dir, err)
	}
	f, err := os.CreateTemp(dir, ".write-check-")
	if err != nil {
		return fmt.Errorf("%w: cannot write in %s: %v", ErrStorage, dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}
