package protocol

import (
	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/sched"
	"strconv"
)

// Core runtime methods, served by every driver and worker.
const (
	WorkerPushTask   = "core.PushTask"
	WorkerCancelTask = "core.CancelTask"
	OwnerGetObject   = "core.GetObject"
	OwnerWaitObject  = "core.WaitObject"
	DriverLogs       = "core.Logs"
)

// Arg is one resolved argument: its encoded value inline, or where the
// object lives in a node's store (large values).
type Arg struct {
	V   []byte          `msgpack:"v,omitempty"`
	ID  string          `msgpack:"id,omitempty"`
	Loc *ObjectLocation `msgpack:"loc,omitempty"`
}

// TaskSpec is a task as pushed to a leased worker. Top-level ObjectRef
// arguments have been resolved by the owner: every Arg carries a value or
// a store location.
type TaskSpec struct {
	TaskID    string          `msgpack:"id"`
	JobID     string          `msgpack:"job"`
	Name      string          `msgpack:"name"`
	Display   string          `msgpack:"disp,omitempty"`
	Args      []Arg           `msgpack:"args"`
	ReturnID  string          `msgpack:"ret"`
	OwnerAddr string          `msgpack:"owner"`
	Resources sched.Resources `msgpack:"res,omitempty"`
	Attempt   int             `msgpack:"att,omitempty"`
	// GPUIDs are the GPUs of the lease the task runs on.
	GPUIDs []int `msgpack:"gpus,omitempty"`
	// NumReturns > 0: the function returns a slice of exactly this many
	// elements, each its own object (ReturnID(TaskID, i)), as Ray's
	// num_returns. 0: one object, the whole result.
	NumReturns int `msgpack:"nret,omitempty"`
	// Depth is the task's nesting depth: 1 for a driver's tasks, one more
	// for each task that submits (see LeaseRequest.Depth).
	Depth int `msgpack:"depth,omitempty"`
	// Stream is set for a streaming task (stream.go).
	Stream *StreamSpec `msgpack:"stream,omitempty"`
}

// DisplayName is the name logs, errors and the state API show for the
// task: its Options name if it has one, else its registered name.
func (t *TaskSpec) DisplayName() string {
	if t.Display != "" {
		return t.Display
	}
	return t.Name
}

// ReturnID names a task's i-th return object; the first is the task's
// own ID.
func ReturnID(taskID string, i int) string {
	if i == 0 {
		return taskID
	}
	return taskID + "." + strconv.Itoa(i)
}

// ReturnValue is one of a task's several results: inline, or stored.
type ReturnValue struct {
	Value  []byte          `msgpack:"v,omitempty"`
	Loc    *ObjectLocation `msgpack:"loc,omitempty"`
	Nested []NestedRef     `msgpack:"nested,omitempty"`
}

type PushTaskReply struct {
	Value []byte `msgpack:"v,omitempty"`
	// Loc is set instead of Value when the result is large: the worker put
	// it in its node's store as the primary copy.
	Loc *ObjectLocation     `msgpack:"loc,omitempty"`
	Err *errs.WireTaskError `msgpack:"e,omitempty"`
	// Nested are the references the result holds; the worker registered
	// the caller as their borrower.
	Nested []NestedRef `msgpack:"nested,omitempty"`
	// Returns are the results of a task with NumReturns > 0, in order.
	Returns []ReturnValue `msgpack:"rets,omitempty"`
}

type CancelTaskRequest struct {
	TaskID string `msgpack:"id"`
	Force  bool   `msgpack:"force,omitempty"`
	// Recursive also cancels the tasks the task submitted (Ray's default).
	Recursive bool `msgpack:"rec,omitempty"`
}

type GetObjectRequest struct {
	ObjectID string `msgpack:"id"`
	// NoValue asks only whether the object is ready (Wait).
	NoValue bool `msgpack:"nov,omitempty"`
	// Lost says the stored copy the owner pointed to is gone: rebuild it.
	Lost bool `msgpack:"lost,omitempty"`
}

type GetObjectReply struct {
	Value []byte              `msgpack:"v,omitempty"`
	Loc   *ObjectLocation     `msgpack:"loc,omitempty"`
	Err   *errs.WireTaskError `msgpack:"e,omitempty"`
}

// LogBatch carries worker output lines to the job's driver.
type LogBatch struct {
	NodeID string    `msgpack:"node"`
	Lines  []LogLine `msgpack:"lines"`
}

type LogLine struct {
	Pid    int    `msgpack:"pid"`
	Task   string `msgpack:"task,omitempty"`
	Stderr bool   `msgpack:"err,omitempty"`
	Text   string `msgpack:"t"`
}

// TaskMarker is written by a worker on its stdout before it runs a task,
// so that the node can prefix the lines that follow with the task's name
// (Ray's log monitor does the same). The node strips it.
const TaskMarker = "\x1erayo-task:"

// Owner methods of reference counting.
const (
	OwnerAddBorrower    = "core.AddBorrower"
	OwnerRemoveBorrower = "core.RemoveBorrower"
)

// BorrowRequest adds or removes a borrower of objects the callee owns.
// OnBehalf is set when a worker registers the caller of a task whose
// result holds the references.
type BorrowRequest struct {
	ObjectIDs []string `msgpack:"ids"`
	Borrower  string   `msgpack:"b"`
	OnBehalf  bool     `msgpack:"behalf,omitempty"`
}

// NestedRef is a reference nested in a value.
type NestedRef struct {
	ID    string `msgpack:"id"`
	Owner string `msgpack:"owner"`
}

// OwnerListRefs lists a process's references, for rayo memory.
const OwnerListRefs = "core.ListRefs"

// RefInfo is one reference a process holds, with the counts that keep it.
type RefInfo struct {
	ObjectID  string          `msgpack:"id" json:"object_id"`
	Owner     string          `msgpack:"owner" json:"owner"`
	IsOwner   bool            `msgpack:"isowner" json:"is_owner"`
	Local     int             `msgpack:"local" json:"local_refs"`
	Submitted int             `msgpack:"sub" json:"submitted_task_refs"`
	Contained int             `msgpack:"cont" json:"contained_in_objects"`
	Borrowers int             `msgpack:"borrowers" json:"borrowers"`
	Size      int64           `msgpack:"size" json:"size"`
	Inline    bool            `msgpack:"inline" json:"inline"`
	Pending   bool            `msgpack:"pending" json:"pending"`
	Stored    *ObjectLocation `msgpack:"stored,omitempty" json:"stored,omitempty"`
}

type ListRefsReply struct {
	Addr   string    `msgpack:"addr" json:"address"`
	Pid    int       `msgpack:"pid" json:"pid"`
	NodeID string    `msgpack:"node" json:"node_id"`
	Refs   []RefInfo `msgpack:"refs" json:"refs"`
}
