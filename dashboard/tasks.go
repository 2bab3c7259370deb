package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/rayo-dev/rayo/internal/protocol"
)

// Tasks (from the head's task records), workers and objects (from each
// node daemon), and the timeline.

func (s *Server) taskRoutes() {
	s.mux.HandleFunc("GET /api/v0/tasks", s.serveTasks)
	s.mux.HandleFunc("GET /api/v0/tasks/{id}", s.serveTask)
	s.mux.HandleFunc("GET /api/v0/summary/tasks", s.serveTaskSummary)
	s.mux.HandleFunc("GET /api/v0/timeline", s.serveTimeline)
	s.mux.HandleFunc("GET /api/v0/workers", s.serveList("node_id", s.workerRows))
	s.mux.HandleFunc("GET /api/v0/objects", s.serveList("object_id", s.objectRows))
}

func taskRow(t *protocol.TaskRecord) Row {
	return Row{"task_id": t.TaskID, "attempt": max(t.Attempt-1, 0), "name": t.Name, "type": t.Type, "state": t.State,
		"job_id": t.JobID, "actor_id": t.ActorID, "node_id": t.NodeID, "worker_id": t.WorkerID, "worker_pid": t.WorkerPid,
		"error_type": t.ErrorType, "error_message": t.ErrorMsg, "error_stack": t.Stack,
		"creation_time_ms": t.CreatedUs / 1000, "start_time_ms": t.StartUs / 1000, "end_time_ms": t.EndUs / 1000}
}

// pushDown moves equality filters the head can apply into its request;
// it returns the filters left for the dashboard.
func pushDown(fs []Filter, req *protocol.ListTasksRequest) []Filter {
	var rest []Filter
	for _, f := range fs {
		var dst *string
		if !f.Negate {
			switch f.Key {
			case "task_id":
				dst = &req.TaskID
			case "job_id":
				dst = &req.JobID
			case "actor_id":
				dst = &req.ActorID
			case "node_id":
				dst = &req.NodeID
			case "name":
				dst = &req.Name
			case "state":
				dst = &req.State
			}
		}
		if dst == nil || (*dst != "" && *dst != f.Value) {
			rest = append(rest, f)
			continue
		}
		*dst = f.Value
	}
	return rest
}

func droppedWarning(r *protocol.ListTasksReply) []string {
	if r.Dropped == 0 {
		return nil
	}
	return []string{fmt.Sprintf("%d task events were dropped: the head keeps the last %d tasks, and processes drop events they cannot deliver",
		r.Dropped, r.MaxTasks)}
}

func (s *Server) serveTasks(w http.ResponseWriter, r *http.Request) {
	q, err := parseListQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	req := &protocol.ListTasksRequest{}
	// State values are upper case at the head; filters compare without
	// case, so the pushed-down state is normalised.
	q.filters = pushDown(q.filters, req)
	req.State = strings.ToUpper(req.State)
	if len(q.filters) == 0 {
		req.Limit = q.limit
	}
	var reply protocol.ListTasksReply
	if err := s.call(r.Context(), protocol.HeadListTasks, req, &reply); err != nil {
		writeCallError(w, err)
		return
	}
	rows := make([]Row, len(reply.Tasks))
	for i := range reply.Tasks {
		rows[i] = taskRow(&reply.Tasks[i])
	}
	out := q.apply(rows, "")
	if len(q.filters) == 0 {
		out.Total, out.Truncated = reply.Total, reply.Total > len(out.Result)
	}
	out.Warnings = droppedWarning(&reply)
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) serveTask(w http.ResponseWriter, r *http.Request) {
	var reply protocol.ListTasksReply
	if err := s.call(r.Context(), protocol.HeadListTasks, &protocol.ListTasksRequest{TaskID: r.PathValue("id")}, &reply); err != nil {
		writeCallError(w, err)
		return
	}
	if len(reply.Tasks) == 0 {
		writeError(w, http.StatusNotFound, "no task "+r.PathValue("id")+" (or its record was dropped)")
		return
	}
	writeJSON(w, http.StatusOK, taskRow(&reply.Tasks[0]))
}

func (s *Server) serveTaskSummary(w http.ResponseWriter, r *http.Request) {
	var reply protocol.TaskSummaryReply
	if err := s.call(r.Context(), protocol.HeadTaskSummary, &protocol.Empty{}, &reply); err != nil {
		writeCallError(w, err)
		return
	}
	sum := Summary{ByName: reply.ByName, ByState: map[string]int{}}
	for _, states := range reply.ByName {
		for st, n := range states {
			sum.ByState[st] += n
			sum.Total += n
		}
	}
	writeJSON(w, http.StatusOK, sum)
}

// TraceEvent is one event of the Chrome trace format (loadable in
// Perfetto and chrome://tracing).
type TraceEvent struct {
	Name string         `json:"name"`
	Cat  string         `json:"cat,omitempty"`
	Ph   string         `json:"ph"`
	Ts   int64          `json:"ts"` // microseconds
	Dur  int64          `json:"dur,omitempty"`
	Pid  int            `json:"pid"`
	Tid  int            `json:"tid"`
	Args map[string]any `json:"args,omitempty"`
}

// serveTimeline answers the Chrome trace of the tasks that ran: one
// process per node, one thread per worker, one slice per execution.
func (s *Server) serveTimeline(w http.ResponseWriter, r *http.Request) {
	req := &protocol.ListTasksRequest{JobID: r.URL.Query().Get("job_id")}
	var reply protocol.ListTasksReply
	if err := s.call(r.Context(), protocol.HeadListTasks, req, &reply); err != nil {
		writeCallError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, Timeline(reply.Tasks, time.Now()))
}

// Timeline builds the trace of task records; a task still running ends
// at now.
func Timeline(tasks []protocol.TaskRecord, now time.Time) []TraceEvent {
	nodes := map[string]int{}
	threads := map[[2]int]bool{}
	var out []TraceEvent
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].StartUs < tasks[j].StartUs })
	for i := range tasks {
		t := &tasks[i]
		if t.StartUs == 0 {
			continue // never ran
		}
		pid, ok := nodes[t.NodeID]
		if !ok {
			pid = len(nodes) + 1
			nodes[t.NodeID] = pid
			out = append(out, TraceEvent{Name: "process_name", Ph: "M", Pid: pid, Args: map[string]any{"name": "node " + t.NodeID}})
		}
		if !threads[[2]int{pid, t.WorkerPid}] {
			threads[[2]int{pid, t.WorkerPid}] = true
			out = append(out, TraceEvent{Name: "thread_name", Ph: "M", Pid: pid, Tid: t.WorkerPid,
				Args: map[string]any{"name": fmt.Sprintf("worker pid=%d", t.WorkerPid)}})
		}
		end := t.EndUs
		if end == 0 {
			end = now.UnixMicro()
		}
		out = append(out, TraceEvent{Name: t.Name, Cat: t.Type, Ph: "X", Ts: t.StartUs, Dur: max(end-t.StartUs, 1),
			Pid: pid, Tid: t.WorkerPid, Args: map[string]any{"task_id": t.TaskID, "state": t.State, "attempt": max(t.Attempt-1, 0)}})
	}
	if out == nil {
		out = []TraceEvent{}
	}
	return out
}

// nodeRows gathers rows from every alive node (fn asks one), within
// nodeTimeout; a node that does not answer becomes a warning.
func (s *Server) nodeRows(r *http.Request, fn func(ctx context.Context, n nodeRef) ([]Row, error)) ([]Row, []string, error) {
	ctx, cancel := context.WithTimeout(r.Context(), nodeTimeout)
	defer cancel()
	nodes, err := s.liveNodes(ctx, "")
	if err != nil {
		return nil, nil, err
	}
	rows, warnings := s.eachNode(ctx, nodes, "did not answer", fn)
	return rows, warnings, nil
}

// nodeTimeout bounds the answers of the nodes to a list request.
const nodeTimeout = 5 * time.Second

func (s *Server) workerRows(r *http.Request) ([]Row, []string, error) {
	return s.nodeRows(r, func(ctx context.Context, n nodeRef) ([]Row, error) {
		var reply protocol.ListWorkersReply
		if err := s.nodeCall(ctx, n, protocol.NodeListWorkers, &protocol.Empty{}, &reply); err != nil {
			return nil, err
		}
		rows := make([]Row, 0, len(reply.Workers))
		for _, w := range reply.Workers {
			rows = append(rows, Row{"worker_id": w.WorkerID, "node_id": reply.NodeID, "pid": w.Pid, "job_id": w.JobID,
				"state": w.State, "address": w.Address, "start_time_ms": w.StartedMs})
		}
		return rows, nil
	})
}

func (s *Server) objectRows(r *http.Request) ([]Row, []string, error) {
	return s.nodeRows(r, func(ctx context.Context, n nodeRef) ([]Row, error) {
		var reply protocol.ListObjectsReply
		if err := s.nodeCall(ctx, n, protocol.NodeListObjects, &protocol.Empty{}, &reply); err != nil {
			return nil, err
		}
		rows := make([]Row, 0, len(reply.Objects))
		for _, o := range reply.Objects {
			ref := "SECONDARY_COPY"
			if o.Primary {
				ref = "PRIMARY_COPY"
			}
			rows = append(rows, Row{"object_id": o.ObjectID, "size_bytes": o.Size, "node_id": reply.NodeID,
				"owner_address": o.Owner, "reference_type": ref, "spilled": o.Spilled, "pins": o.Pins, "sealed": o.Sealed})
		}
		return rows, nil
	})
}
