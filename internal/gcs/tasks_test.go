package gcs

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/rayo-dev/rayo/internal/protocol"
)

func ev(id string, att int, state string, t int64) *protocol.TaskEvent {
	return &protocol.TaskEvent{TaskID: id, Attempt: att, State: state, TimeUs: t, Name: "f", Type: protocol.TaskTypeNormal, JobID: "01"}
}

func TestTaskRecordsMergeEvents(t *testing.T) {
	ts := newTaskStore(10)
	ts.apply(ev("a", 1, protocol.TaskPendingArgs, 10))
	ts.apply(&protocol.TaskEvent{TaskID: "a", Attempt: 1, State: protocol.TaskRunning, TimeUs: 20, NodeID: "n1", WorkerPid: 42})
	// The owner's late pending report does not move the task back.
	ts.apply(ev("a", 1, protocol.TaskPendingNode, 15))
	ts.apply(&protocol.TaskEvent{TaskID: "a", Attempt: 1, State: protocol.TaskFailed, TimeUs: 30, ErrorMsg: "boom", Stack: "at f()", ErrorType: "task_failed"})
	// The owner reports the same failure without the stack: it stays.
	ts.apply(&protocol.TaskEvent{TaskID: "a", Attempt: 1, State: protocol.TaskFailed, TimeUs: 31, ErrorMsg: "boom"})
	r := ts.list(&protocol.ListTasksRequest{TaskID: "a"}).Tasks[0]
	if r.State != protocol.TaskFailed || r.CreatedUs != 10 || r.StartUs != 20 || r.EndUs != 30 || r.Stack != "at f()" ||
		r.NodeID != "n1" || r.WorkerPid != 42 || r.Name != "f" {
		t.Fatalf("merged record: %+v", r)
	}
	// A retry starts the record over (keeping what does not change).
	ts.apply(&protocol.TaskEvent{TaskID: "a", Attempt: 2, State: protocol.TaskRunning, TimeUs: 40, NodeID: "n2"})
	r = ts.list(&protocol.ListTasksRequest{TaskID: "a"}).Tasks[0]
	if r.Attempt != 2 || r.State != protocol.TaskRunning || r.ErrorMsg != "" || r.NodeID != "n2" || r.Name != "f" || r.CreatedUs != 10 {
		t.Fatalf("after a retry: %+v", r)
	}
	// An older attempt's news is ignored.
	ts.apply(&protocol.TaskEvent{TaskID: "a", Attempt: 1, State: protocol.TaskFinished, TimeUs: 41})
	if r := ts.list(&protocol.ListTasksRequest{TaskID: "a"}).Tasks[0]; r.State != protocol.TaskRunning {
		t.Fatalf("an old attempt moved the record: %+v", r)
	}
}

func TestTaskRecordsBoundedNewestFirst(t *testing.T) {
	ts := newTaskStore(3)
	for i := range 5 {
		ts.apply(ev(fmt.Sprint(i), 1, protocol.TaskFinished, int64(i)))
	}
	all := ts.list(&protocol.ListTasksRequest{})
	if all.Total != 3 || all.Dropped != 2 || all.MaxTasks != 3 {
		t.Fatalf("bounded store: total %d dropped %d max %d", all.Total, all.Dropped, all.MaxTasks)
	}
	var ids []string
	for _, r := range all.Tasks {
		ids = append(ids, r.TaskID)
	}
	if fmt.Sprint(ids) != "[4 3 2]" {
		t.Fatalf("order: %v, want newest first [4 3 2]", ids)
	}
	// A late event of an evicted task does not bring it back.
	ts.apply(ev("0", 1, protocol.TaskRunning, 9))
	if got := ts.list(&protocol.ListTasksRequest{}); got.Total != 3 || got.Tasks[2].TaskID != "2" || got.Dropped != 3 {
		t.Fatalf("after a late event of an evicted task: %d records, oldest %s, dropped %d", got.Total, got.Tasks[2].TaskID, got.Dropped)
	}
	if got := ts.list(&protocol.ListTasksRequest{Limit: 2}); len(got.Tasks) != 2 || got.Total != 3 {
		t.Fatalf("limit: %d of %d", len(got.Tasks), got.Total)
	}
	if got := ts.list(&protocol.ListTasksRequest{State: protocol.TaskRunning}); got.Total != 0 {
		t.Fatalf("state filter: %d", got.Total)
	}
}

// The head's memory for 100,000 finished task records (the figure the
// state API's budget is sized by): go test -run TestTaskRecordMemory -v ./internal/gcs
func TestTaskRecordMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("measures memory")
	}
	const n = 100_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ts := newTaskStore(n)
	for i := range n {
		id := fmt.Sprintf("c9dd2048aff6%06x", i)
		ts.apply(&protocol.TaskEvent{TaskID: id, Attempt: 1, State: protocol.TaskPendingNode, TimeUs: 1, Name: "itest.inc",
			Type: protocol.TaskTypeNormal, JobID: "00000001"})
		ts.apply(&protocol.TaskEvent{TaskID: id, Attempt: 1, State: protocol.TaskRunning, TimeUs: 2, NodeID: "46135a7a3783e525",
			WorkerID: "8f05fc97fea7eb81", WorkerPid: 4242})
		ts.apply(&protocol.TaskEvent{TaskID: id, Attempt: 1, State: protocol.TaskFinished, TimeUs: 3})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if len(ts.records) != n {
		t.Fatalf("%d records", len(ts.records))
	}
	used := float64(after.HeapAlloc) - float64(before.HeapAlloc)
	t.Logf("%d finished task records: %.1f MiB of heap (%.0f bytes each)", n, used/(1<<20), used/n)
	runtime.KeepAlive(ts)
}
