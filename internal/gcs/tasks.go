package gcs

import (
	"context"
	"strings"
	"sync"

	"github.com/rayo-dev/rayo/internal/protocol"
)

// The head keeps one record per task (its latest attempt), merged from
// the events its owner and its executor report, for the state API and
// the timeline. Memory is bounded: at most MaxTaskRecords records; when
// full, the oldest record goes (finished or not) and counts as dropped,
// which the API reports. Records are not persisted: a restarted head
// starts with none.

// DefaultMaxTaskRecords bounds the task records the head keeps.
const DefaultMaxTaskRecords = 100_000

type taskStore struct {
	mu      sync.Mutex
	max     int
	records map[string]*protocol.TaskRecord
	// order is a ring of task IDs in the order their records were made;
	// head is the oldest.
	order   []string
	head    int
	dropped int64
	// evicted remembers the last max evicted IDs, so that a late event
	// of an evicted task (its worker reports after its owner) does not
	// bring it back in place of a newer one.
	evicted     map[string]struct{}
	evictedRing []string
	evictedHead int
}

func newTaskStore(max int) *taskStore {
	return &taskStore{max: max, records: map[string]*protocol.TaskRecord{}, evicted: map[string]struct{}{}}
}

// apply merges one event into its task's record.
func (ts *taskStore) apply(ev *protocol.TaskEvent) {
	r := ts.records[ev.TaskID]
	if r == nil {
		if _, gone := ts.evicted[ev.TaskID]; gone {
			ts.dropped++
			return
		}
		if len(ts.records) >= ts.max {
			ts.evictOldest()
		}
		r = &protocol.TaskRecord{TaskID: ev.TaskID, Attempt: ev.Attempt}
		ts.records[ev.TaskID] = r
		if len(ts.order) < ts.max {
			ts.order = append(ts.order, ev.TaskID)
		} else {
			ts.order[ts.head] = ev.TaskID
			ts.head = (ts.head + 1) % ts.max
		}
	}
	switch {
	case ev.Attempt < r.Attempt:
		return // an older attempt's news
	case ev.Attempt > r.Attempt:
		// A retry: the record follows the new attempt.
		*r = protocol.TaskRecord{TaskID: r.TaskID, Attempt: ev.Attempt, Name: r.Name, Type: r.Type, JobID: r.JobID,
			ActorID: r.ActorID, CreatedUs: r.CreatedUs}
	}
	// Names and states reach /metrics as label values, which must be
	// valid UTF-8.
	ev.Name, ev.State = strings.ToValidUTF8(ev.Name, "\uFFFD"), strings.ToValidUTF8(ev.State, "\uFFFD")
	fill(&r.Name, ev.Name)
	fill(&r.Type, ev.Type)
	fill(&r.JobID, ev.JobID)
	fill(&r.ActorID, ev.ActorID)
	fill(&r.NodeID, ev.NodeID)
	fill(&r.WorkerID, ev.WorkerID)
	if ev.WorkerPid != 0 {
		r.WorkerPid = ev.WorkerPid
	}
	if protocol.TaskStateRank(ev.State) >= protocol.TaskStateRank(r.State) {
		// The executor's failure carries the stack; an owner's later
		// report of the same failure must not erase it.
		if ev.State != r.State || ev.ErrorMsg != "" {
			r.State = ev.State
		}
	}
	switch ev.State {
	case protocol.TaskPendingArgs, protocol.TaskPendingNode:
		if r.CreatedUs == 0 || ev.TimeUs < r.CreatedUs {
			r.CreatedUs = ev.TimeUs
		}
	case protocol.TaskRunning:
		r.StartUs = ev.TimeUs
	case protocol.TaskFinished, protocol.TaskFailed:
		if r.EndUs == 0 {
			r.EndUs = ev.TimeUs
		}
		if ev.StartUs != 0 {
			r.StartUs = ev.StartUs
		}
		fill(&r.ErrorType, ev.ErrorType)
		fill(&r.ErrorMsg, ev.ErrorMsg)
		fill(&r.Stack, ev.Stack)
	}
}

func fill(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

// evictOldest drops the oldest record to make room.
func (ts *taskStore) evictOldest() {
	if len(ts.order) == 0 {
		return
	}
	id := ts.order[ts.head]
	if _, ok := ts.records[id]; !ok {
		return
	}
	delete(ts.records, id)
	ts.dropped++
	if len(ts.evictedRing) < ts.max {
		ts.evictedRing = append(ts.evictedRing, id)
	} else {
		delete(ts.evicted, ts.evictedRing[ts.evictedHead])
		ts.evictedRing[ts.evictedHead] = id
		ts.evictedHead = (ts.evictedHead + 1) % ts.max
	}
	ts.evicted[id] = struct{}{}
}

func (ts *taskStore) matches(r *protocol.TaskRecord, q *protocol.ListTasksRequest) bool {
	return (q.TaskID == "" || r.TaskID == q.TaskID) && (q.JobID == "" || r.JobID == q.JobID) &&
		(q.ActorID == "" || r.ActorID == q.ActorID) && (q.NodeID == "" || r.NodeID == q.NodeID) &&
		(q.Name == "" || r.Name == q.Name) && (q.State == "" || r.State == q.State)
}

// list returns the matching records, most recent first.
func (ts *taskStore) list(q *protocol.ListTasksRequest) *protocol.ListTasksReply {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	reply := &protocol.ListTasksReply{Dropped: ts.dropped, MaxTasks: ts.max}
	if q.TaskID != "" {
		if r := ts.records[q.TaskID]; r != nil && ts.matches(r, q) {
			reply.Tasks, reply.Total = []protocol.TaskRecord{*r}, 1
		}
		return reply
	}
	n := len(ts.order)
	for i := n - 1; i >= 0; i-- {
		id := ts.order[(ts.head+i)%n]
		r := ts.records[id]
		if r == nil || !ts.matches(r, q) {
			continue
		}
		reply.Total++
		if q.Limit <= 0 || len(reply.Tasks) < q.Limit {
			reply.Tasks = append(reply.Tasks, *r)
		}
	}
	return reply
}

func (s *Server) reportTaskEvents(_ context.Context, req *protocol.TaskEventsRequest) (*protocol.Empty, error) {
	ts := s.tasks
	ts.mu.Lock()
	for i := range req.Events {
		if req.Events[i].TaskID != "" {
			ts.apply(&req.Events[i])
		}
	}
	ts.dropped += req.Dropped
	ts.mu.Unlock()
	return &protocol.Empty{}, nil
}

func (s *Server) listTasks(_ context.Context, req *protocol.ListTasksRequest) (*protocol.ListTasksReply, error) {
	return s.tasks.list(req), nil
}

func (s *Server) taskSummary(context.Context, *protocol.Empty) (*protocol.TaskSummaryReply, error) {
	ts := s.tasks
	ts.mu.Lock()
	defer ts.mu.Unlock()
	reply := &protocol.TaskSummaryReply{ByName: map[string]map[string]int{}, Dropped: ts.dropped}
	for _, r := range ts.records {
		m := reply.ByName[r.Name]
		if m == nil {
			m = map[string]int{}
			reply.ByName[r.Name] = m
		}
		m[r.State]++
	}
	return reply, nil
}
