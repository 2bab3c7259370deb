package jobs

import (
	"errors"
	"fmt"
	"regexp"
)

// Status is a job's state, as Ray names them.
type Status string

const (
	Pending   Status = "PENDING"   // accepted; its working directory is being unpacked
	Running   Status = "RUNNING"   // its process runs
	Stopped   Status = "STOPPED"   // stopped by a user (or by the head stopping)
	Succeeded Status = "SUCCEEDED" // its process exited with status 0
	Failed    Status = "FAILED"    // it could not start, exited non-zero, or was lost
)

// Terminal reports whether s is a final state.
func (s Status) Terminal() bool { return s == Stopped || s == Succeeded || s == Failed }

// next lists the moves each state allows: PENDING -> RUNNING when the
// process starts, or straight to an end (it could not start, or it was
// stopped first); RUNNING -> an end. Final states are final.
var next = map[Status][]Status{
	Pending: {Running, Stopped, Failed},
	Running: {Stopped, Succeeded, Failed},
}

// CanMove reports whether a job in state from may move to state to.
func CanMove(from, to Status) bool {
	for _, s := range next[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Info is a job's record: what the API answers, and what the head's
// key-value store keeps (JSON) so that a restarted head knows its jobs.
type Info struct {
	SubmissionID string   `json:"submission_id"`
	Status       Status   `json:"status"`
	Message      string   `json:"message,omitempty"`
	Entrypoint   []string `json:"entrypoint"`
	// EnvKeys names the variables the submitter set (their values may be
	// secrets: they are not kept).
	EnvKeys []string `json:"env_keys,omitempty"`
	// Times are Unix milliseconds; zero is unknown (not started, not ended).
	SubmitTime int64 `json:"submit_time_ms"`
	StartTime  int64 `json:"start_time_ms,omitempty"`
	EndTime    int64 `json:"end_time_ms,omitempty"`
	// ExitCode is the process's exit status, when it exited (not killed by
	// a signal) and the head that started it saw it exit.
	ExitCode *int `json:"exit_code,omitempty"`
	// DriverJobID is the cluster job of the rayo driver the entrypoint ran
	// (its pid is the process's or in its process group), once known.
	DriverJobID string `json:"driver_job_id,omitempty"`
	// Pid is the process's pid, also its process group; ProcStart its
	// start time in clock ticks since boot (/proc/<pid>/stat), which tells
	// a restarted head whether that pid is still the job.
	Pid        int    `json:"pid,omitempty"`
	ProcStart  uint64 `json:"proc_start,omitempty"`
	WorkingDir string `json:"working_dir"`
	LogPath    string `json:"log_path"`
	// StopRequested: a stop was asked for; an exit after it is STOPPED.
	StopRequested bool `json:"stop_requested,omitempty"`
}

// clone copies what a caller may change.
func (i *Info) clone() Info {
	c := *i
	c.Entrypoint = append([]string(nil), i.Entrypoint...)
	c.EnvKeys = append([]string(nil), i.EnvKeys...)
	if i.ExitCode != nil {
		code := *i.ExitCode
		c.ExitCode = &code
	}
	return c
}

var (
	// ErrNotFound: no job has that submission ID.
	ErrNotFound = errors.New("jobs: no such job")
	// ErrDuplicate: a job with that submission ID exists.
	ErrDuplicate = errors.New("jobs: a job with this submission ID exists")
	// ErrInvalid: the submission is malformed (no entrypoint, a bad ID or
	// environment variable).
	ErrInvalid = errors.New("jobs: invalid submission")
	// ErrClosed: the manager is stopping (the head is going down).
	ErrClosed = errors.New("jobs: the job manager is stopping")
)

// StateError is a transition the state machine refuses.
type StateError struct {
	ID       string
	From, To Status
}

func (e *StateError) Error() string {
	return fmt.Sprintf("jobs: job %s cannot go from %s to %s", e.ID, e.From, e.To)
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// ValidID reports whether id may name a submission: it becomes a
// directory and a file name.
func ValidID(id string) bool { return idPattern.MatchString(id) }

var envKeyPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Submission is what a submitter asks for.
type Submission struct {
	// ID is the submission ID; empty: the manager makes one.
	ID         string
	Entrypoint []string
	Env        map[string]string
}

func (s *Submission) validate() error {
	if len(s.Entrypoint) == 0 || s.Entrypoint[0] == "" {
		return fmt.Errorf("%w: the entrypoint is empty", ErrInvalid)
	}
	if s.ID != "" && !ValidID(s.ID) {
		return fmt.Errorf("%w: submission ID %q: use 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit", ErrInvalid, s.ID)
	}
	for k := range s.Env {
		if !envKeyPattern.MatchString(k) {
			return fmt.Errorf("%w: environment variable name %q", ErrInvalid, k)
		}
		if k == "RAYO_ADDRESS" || k == "RAYO_TOKEN" {
			return fmt.Errorf("%w: %s is set by the head", ErrInvalid, k)
		}
	}
	return nil
}
