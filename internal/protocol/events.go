package protocol

// Task events: processes report what their tasks do (owners: submitted,
// waiting for arguments, failed before running; executors: running,
// finished, failed), in batches, to the head, which keeps one record per
// task within a memory budget for the state API and the timeline.
const (
	HeadReportTaskEvents = "head.ReportTaskEvents"
	HeadListTasks        = "head.ListTasks"
	HeadTaskSummary      = "head.TaskSummary"
)

// Task types, as Ray names them.
const (
	TaskTypeNormal        = "NORMAL_TASK"
	TaskTypeActor         = "ACTOR_TASK"
	TaskTypeActorCreation = "ACTOR_CREATION_TASK"
)

// Task states, in the order a task goes through them.
const (
	TaskPendingArgs = "PENDING_ARGS_AVAIL"
	TaskPendingNode = "PENDING_NODE_ASSIGNMENT"
	TaskRunning     = "RUNNING"
	TaskFinished    = "FINISHED"
	TaskFailed      = "FAILED"
)

// TaskStateRank orders states: a record only moves forward (for one
// attempt).
func TaskStateRank(state string) int {
	switch state {
	case TaskPendingArgs:
		return 0
	case TaskPendingNode:
		return 1
	case TaskRunning:
		return 2
	case TaskFinished, TaskFailed:
		return 3
	}
	return -1
}

// TaskEvent is one state a task entered, with what the reporter knows.
type TaskEvent struct {
	TaskID  string `msgpack:"id"`
	Attempt int    `msgpack:"att,omitempty"`
	Name    string `msgpack:"name,omitempty"`
	Type    string `msgpack:"type,omitempty"`
	JobID   string `msgpack:"job,omitempty"`
	ActorID string `msgpack:"actor,omitempty"`
	State   string `msgpack:"state"`
	TimeUs  int64  `msgpack:"t"` // when it entered State, Unix microseconds
	// StartUs, on a FINISHED or FAILED event, is when the task started
	// running: a worker reports a short task's run in one event.
	StartUs   int64  `msgpack:"st,omitempty"`
	NodeID    string `msgpack:"node,omitempty"`
	WorkerID  string `msgpack:"worker,omitempty"`
	WorkerPid int    `msgpack:"pid,omitempty"`
	ErrorType string `msgpack:"etype,omitempty"`
	ErrorMsg  string `msgpack:"emsg,omitempty"`
	Stack     string `msgpack:"stack,omitempty"`
}

type TaskEventsRequest struct {
	Events []TaskEvent `msgpack:"events"`
	// Dropped counts events the reporter could not keep (its buffer was
	// full, or the head did not answer).
	Dropped int64 `msgpack:"dropped,omitempty"`
}

// TaskRecord is the head's record of a task's latest attempt.
type TaskRecord struct {
	TaskID    string `msgpack:"id" json:"task_id"`
	Attempt   int    `msgpack:"att" json:"attempt"`
	Name      string `msgpack:"name" json:"name"`
	Type      string `msgpack:"type" json:"type"`
	JobID     string `msgpack:"job" json:"job_id"`
	ActorID   string `msgpack:"actor,omitempty" json:"actor_id"`
	State     string `msgpack:"state" json:"state"`
	NodeID    string `msgpack:"node,omitempty" json:"node_id"`
	WorkerID  string `msgpack:"worker,omitempty" json:"worker_id"`
	WorkerPid int    `msgpack:"pid,omitempty" json:"worker_pid"`
	ErrorType string `msgpack:"etype,omitempty" json:"error_type"`
	ErrorMsg  string `msgpack:"emsg,omitempty" json:"error_message"`
	Stack     string `msgpack:"stack,omitempty" json:"error_stack"`
	CreatedUs int64  `msgpack:"created,omitempty" json:"-"`
	StartUs   int64  `msgpack:"start,omitempty" json:"-"`
	EndUs     int64  `msgpack:"end,omitempty" json:"-"`
}

// ListTasksRequest selects task records; empty fields match anything.
type ListTasksRequest struct {
	TaskID  string `msgpack:"id,omitempty"`
	JobID   string `msgpack:"job,omitempty"`
	ActorID string `msgpack:"actor,omitempty"`
	NodeID  string `msgpack:"node,omitempty"`
	Name    string `msgpack:"name,omitempty"`
	State   string `msgpack:"state,omitempty"`
	// Limit bounds the reply (the most recent records first); 0: all.
	Limit int `msgpack:"limit,omitempty"`
}

type ListTasksReply struct {
	Tasks []TaskRecord `msgpack:"tasks"`
	// Total is how many records matched (Tasks may hold fewer).
	Total int `msgpack:"total"`
	// Dropped counts task events lost: evicted records (the head keeps at
	// most MaxTasks) and events reporters dropped.
	Dropped  int64 `msgpack:"dropped"`
	MaxTasks int   `msgpack:"max"`
}

type TaskSummaryReply struct {
	ByName  map[string]map[string]int `msgpack:"byname"`
	Dropped int64                     `msgpack:"dropped"`
}
