package tune

import "time"

// TrialResult is one trial's outcome (Ray's Result).
type TrialResult struct {
	ID     string
	Params Params
	State  TrialState
	// Err is why the trial is in ERROR (nil otherwise): it wraps
	// ErrTrialFailed and, where it came from the trainable, its error.
	Err error
	// History holds every result in order (the trial's result.jsonl);
	// Last is its latest.
	History []Result
	Last    *Result
	// Checkpoint is the latest checkpoint kept, BestCheckpoint the best
	// by CheckpointConfig.ScoreAttribute (the latest without one); nil if
	// none. Each is a directory under the trial's path.
	Checkpoint, BestCheckpoint *Checkpoint
	// Path is the trial's directory under the experiment's.
	Path string
	// Failures counts the trial's restarts after a failure.
	Failures int
	// Decisions are the schedulers' and Tune's decisions on the trial.
	Decisions []DecisionRecord
}

// DecisionRecord is one decision on a trial, with its reason.
type DecisionRecord struct {
	Time      time.Time `json:"time"`
	Iteration int       `json:"iteration"`
	Action    string    `json:"action"`
	Reason    string    `json:"reason"`
	Source    string    `json:"source,omitempty"` // exploit: the trial copied
}

// ResultGrid is an experiment's outcome (Ray's ResultGrid).
type ResultGrid struct {
	// Path is the experiment's directory (StoragePath/Name).
	Path   string
	Metric string
	Mode   Mode
	Trials []*TrialResult
}
