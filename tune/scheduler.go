package tune

// TrialState is a trial's state, as Ray names them.
type TrialState string

const (
	Pending    TrialState = "PENDING"    // waiting to start
	Running    TrialState = "RUNNING"    // its actor is training
	Paused     TrialState = "PAUSED"     // stopped with a checkpoint, to resume later
	Terminated TrialState = "TERMINATED" // finished or stopped early
	Errored    TrialState = "ERROR"      // failed more often than MaxFailures allows
)

// TrialInfo is what schedulers and stoppers see of a trial. It is a
// copy: changing it changes nothing.
type TrialInfo struct {
	ID     string
	Params Params
	State  TrialState
	// Last is the trial's latest result (nil before its first).
	Last *Result
	// HasCheckpoint: the trial has a checkpoint to restore from.
	HasCheckpoint bool
}

// Action is what a scheduler decides for a trial after a result.
type Action int

const (
	Continue Action = iota // keep training
	Stop                   // stop for good (TERMINATED)
	Pause                  // checkpoint, give the resources back, resume later
	// Exploit (PBT) restarts the trial from another trial's latest
	// checkpoint with new Params.
	Exploit
)

func (a Action) String() string {
	switch a {
	case Continue:
		return "continue"
	case Stop:
		return "stop"
	case Pause:
		return "pause"
	case Exploit:
		return "exploit"
	}
	return "unknown"
}

// Decision is a scheduler's verdict on a trial, with its reason, which
// Tune records in the experiment's journal and the trial's history.
type Decision struct {
	Action Action
	Reason string
	// Exploit: the trial whose latest checkpoint to restore (Source) and
	// the Params to continue with.
	Source string
	Params Params
	// Checkpoint asks for a checkpoint of the trial now (a class
	// trainable's Save; a function trainable's latest reported one), so
	// that others may exploit it.
	Checkpoint bool
}

// A Scheduler decides, as results arrive, which trials continue, stop,
// pause or exploit others, and which waiting trial runs next (Ray's
// TrialScheduler): FIFO, ASHA, HyperBand, the median stopping rule, PBT,
// or a user's own. Tune calls it from one goroutine at a time. On
// Restore the same calls are replayed from the journal in the same order
// (their decisions ignored), so a Scheduler must be deterministic given
// them and its seed.
type Scheduler interface {
	// Setup is called once, before any trial is added. metric and mode
	// are the experiment's (TuneConfig); a scheduler with its own uses
	// those.
	Setup(metric string, mode Mode) error
	// OnTrialAdd: a trial was created (PENDING).
	OnTrialAdd(t TrialInfo)
	// OnTrialResult: a running trial reported r.
	OnTrialResult(t TrialInfo, r Result) Decision
	// OnTrialComplete: a trial's trainable finished by itself (r is its
	// last result, nil if none).
	OnTrialComplete(t TrialInfo, r *Result)
	// OnTrialRemove: a trial was stopped or failed for good.
	OnTrialRemove(t TrialInfo)
	// ChooseTrialToRun picks which of the waiting trials (PENDING, or
	// PAUSED ones) to start next; "" starts none now.
	ChooseTrialToRun(waiting []TrialInfo) string
}
