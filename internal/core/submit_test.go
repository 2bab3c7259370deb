package core

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/sched"
)

func valueArgs(v string) []TaskArg { return []TaskArg{{Value: []byte(v)}} }

func TestSubmitRunsOnGrantedLease(t *testing.T) {
	fc := newFakeCluster()
	rt := newTestRuntime(t, fc)
	ref := rt.Submit(SubmitOptions{Name: "f"}, valueArgs("hello"))
	v, err := getResult(t, rt, ref)
	if err != nil || string(v) != "hello" {
		t.Fatalf("Get = %q, %v; want hello", v, err)
	}
	if req, _, _ := fc.local.counts(); req != 1 {
		t.Fatalf("lease requests = %d, want 1", req)
	}
	fc.local.mu.Lock()
	got := fc.local.requests[0]
	fc.local.mu.Unlock()
	if got.Job.JobID != "job1" || got.Depth != 1 || got.Name != "f" {
		t.Fatalf("lease request = %+v", got)
	}
}

// One lease serves every task of a shape while tasks wait: the node
// grants once and holds later requests, which are withdrawn once the
// queue is empty.
func TestSubmitReusesLeaseForSameShape(t *testing.T) {
	fc := newFakeCluster()
	fc.local.lease = func(req *protocol.LeaseRequest, n int) (protocol.LeaseReply, error) {
		if n == 1 {
			return fc.local.grant(n), nil
		}
		return protocol.LeaseReply{}, errHold
	}
	rt := newTestRuntime(t, fc)
	const n = 50
	refs := make([]Ref, n)
	for i := range refs {
		refs[i] = rt.Submit(SubmitOptions{Name: "f"}, valueArgs(string(rune('a'+i%26))))
	}
	for i, r := range refs {
		if v, err := getResult(t, rt, r); err != nil || string(v) != string(rune('a'+i%26)) {
			t.Fatalf("task %d: %q, %v", i, v, err)
		}
	}
	fc.mu.Lock()
	workers := len(fc.workers)
	var pushes int
	for _, w := range fc.workers {
		pushes += w.pushes
	}
	fc.mu.Unlock()
	if workers != 1 || pushes != n {
		t.Fatalf("workers = %d, pushes = %d; want 1 worker running all %d", workers, pushes, n)
	}
	// Every request held at the node was withdrawn when nothing waited.
	rt.wg.Wait()
	if held := fc.local.stillHeld(); held != 0 {
		requests, _, cancelled := fc.local.counts()
		t.Fatalf("%d requests still queued at the node (%d made, %d withdrawn)", held, requests, cancelled)
	}
}

func TestSubmitWorkerDeath(t *testing.T) {
	for _, tc := range []struct {
		name       string
		maxRetries int
		deaths     int // pushes that find the worker dead before one succeeds
		wantErr    error
		wantPushes int
	}{
		{"retried", 2, 2, nil, 3},
		{"exhausted", 2, 5, errs.ErrWorkerCrashed, 3},
		{"no retries", 0, 1, errs.ErrWorkerCrashed, 1},
		{"unlimited", -1, 4, nil, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := newFakeCluster()
			var pushes atomic.Int32
			fc.local.push = func(_ context.Context, _ *fakeWorker, spec *protocol.TaskSpec, reply *protocol.PushTaskReply) error {
				if int(pushes.Add(1)) <= tc.deaths {
					return rpc.ErrClosed
				}
				reply.Value = []byte("ok")
				return nil
			}
			rt := newTestRuntime(t, fc)
			ref := rt.Submit(SubmitOptions{Name: "f", MaxRetries: tc.maxRetries}, nil)
			v, err := getResult(t, rt, ref)
			if tc.wantErr == nil && (err != nil || string(v) != "ok") {
				t.Fatalf("Get = %q, %v; want ok", v, err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("Get error = %v; want %v", err, tc.wantErr)
			}
			if got := int(pushes.Load()); got != tc.wantPushes {
				t.Fatalf("pushes = %d, want %d", got, tc.wantPushes)
			}
			// Each dead worker's lease went back, disconnected.
			rt.wg.Wait()
			if _, returned, _ := fc.local.counts(); returned < min(tc.deaths, tc.wantPushes) {
				t.Fatalf("leases returned = %d, want at least %d", returned, min(tc.deaths, tc.wantPushes))
			}
		})
	}
}

func TestSubmitRetryExceptions(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryExc   bool
		maxRetries int
		failures   int
		cause      error // of the failures
		wantErr    error
		wantPushes int
	}{
		{"retried until success", true, 3, 2, errs.ErrTaskFailed, nil, 3},
		{"retries exhausted", true, 1, 5, errs.ErrTaskFailed, errs.ErrTaskFailed, 2},
		{"not asked", false, 3, 1, errs.ErrTaskFailed, errs.ErrTaskFailed, 1},
		{"not an application error", true, 3, 1, errs.ErrTaskCancelled, errs.ErrTaskCancelled, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := newFakeCluster()
			var pushes atomic.Int32
			fc.local.push = func(_ context.Context, _ *fakeWorker, spec *protocol.TaskSpec, reply *protocol.PushTaskReply) error {
				if int(pushes.Add(1)) <= tc.failures {
					reply.Err = wire(tc.cause, "boom")
					return nil
				}
				reply.Value = []byte("ok")
				return nil
			}
			rt := newTestRuntime(t, fc)
			ref := rt.Submit(SubmitOptions{Name: "f", MaxRetries: tc.maxRetries, RetryExceptions: tc.retryExc}, nil)
			v, err := getResult(t, rt, ref)
			if tc.wantErr == nil && (err != nil || string(v) != "ok") {
				t.Fatalf("Get = %q, %v; want ok", v, err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("Get error = %v; want %v", err, tc.wantErr)
			}
			if got := int(pushes.Load()); got != tc.wantPushes {
				t.Fatalf("pushes = %d, want %d", got, tc.wantPushes)
			}
			// Application errors keep the worker: one lease did it all.
			fc.mu.Lock()
			workers := len(fc.workers)
			fc.mu.Unlock()
			if workers != 1 {
				t.Fatalf("workers = %d, want 1", workers)
			}
		})
	}
}

func TestCancelQueued(t *testing.T) {
	fc := newFakeCluster()
	fc.local.lease = func(*protocol.LeaseRequest, int) (protocol.LeaseReply, error) { return protocol.LeaseReply{}, errHold }
	fc.local.held = make(chan string, 1)
	rt := newTestRuntime(t, fc)
	ref := rt.Submit(SubmitOptions{Name: "f"}, valueArgs("x"))
	reqID := <-fc.local.held // queued at the node, waiting for a worker
	if err := rt.Cancel(ref, false, true); err != nil {
		t.Fatal(err)
	}
	if _, err := getResult(t, rt, ref); !errors.Is(err, errs.ErrTaskCancelled) {
		t.Fatalf("Get error = %v; want ErrTaskCancelled", err)
	}
	// The lease request nothing waits for now was withdrawn.
	rt.wg.Wait()
	fc.local.mu.Lock()
	cancelled := fc.local.cancelled
	fc.local.mu.Unlock()
	if len(cancelled) != 1 || cancelled[0] != reqID || fc.local.stillHeld() != 0 {
		t.Fatalf("withdrawn = %v; want [%s]", cancelled, reqID)
	}
}

func TestCancelRunning(t *testing.T) {
	for _, force := range []bool{false, true} {
		t.Run(map[bool]string{false: "ctx", true: "force"}[force], func(t *testing.T) {
			fc := newFakeCluster()
			started := make(chan *fakeWorker, 1)
			fc.local.push = func(ctx context.Context, w *fakeWorker, spec *protocol.TaskSpec, reply *protocol.PushTaskReply) error {
				started <- w
				select {
				case req := <-w.cancels: // the task sees its ctx cancelled and returns
					if req.TaskID != spec.TaskID || req.Force {
						reply.Err = wire(errs.ErrTaskFailed, "wrong cancel request")
						return nil
					}
					reply.Err = wire(errs.ErrTaskCancelled, "cancelled")
					return nil
				case <-w.killed:
					return rpc.ErrClosed
				}
			}
			rt := newTestRuntime(t, fc)
			ref := rt.Submit(SubmitOptions{Name: "f", MaxRetries: 3}, nil)
			w := <-started
			if err := rt.Cancel(ref, force, false); err != nil {
				t.Fatal(err)
			}
			if _, err := getResult(t, rt, ref); !errors.Is(err, errs.ErrTaskCancelled) {
				t.Fatalf("Get error = %v; want ErrTaskCancelled", err)
			}
			fc.local.mu.Lock()
			killed := fc.local.killed
			fc.local.mu.Unlock()
			if force && (len(killed) != 1 || killed[0] != w.id) {
				t.Fatalf("killed = %v; want %s", killed, w.id)
			}
			if !force && len(killed) != 0 {
				t.Fatalf("killed = %v; want none", killed)
			}
			// A cancelled task is not retried even with retries left.
			if w.pushes != 1 || len(started) != 0 {
				t.Fatalf("pushes = %d; want 1", w.pushes)
			}
		})
	}
}

func TestCancelFinishedDoesNothing(t *testing.T) {
	fc := newFakeCluster()
	rt := newTestRuntime(t, fc)
	ref := rt.Submit(SubmitOptions{Name: "f"}, valueArgs("done"))
	if _, err := getResult(t, rt, ref); err != nil {
		t.Fatal(err)
	}
	if err := rt.Cancel(ref, true, true); err != nil {
		t.Fatal(err)
	}
	if v, err := getResult(t, rt, ref); err != nil || string(v) != "done" {
		t.Fatalf("Get after Cancel = %q, %v; want done", v, err)
	}
}

func TestSubmitSpillback(t *testing.T) {
	fc := newFakeCluster()
	remote := fc.addNode("node-remote")
	fc.local.lease = func(*protocol.LeaseRequest, int) (protocol.LeaseReply, error) {
		return protocol.LeaseReply{RetryAt: remote.addr, QueueThere: true}, nil
	}
	rt := newTestRuntime(t, fc)
	ref := rt.Submit(SubmitOptions{Name: "f"}, valueArgs("spilled"))
	if v, err := getResult(t, rt, ref); err != nil || string(v) != "spilled" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	remote.mu.Lock()
	defer remote.mu.Unlock()
	if len(remote.requests) != 1 || !remote.requests[0].Spilled || !remote.requests[0].QueueHere {
		t.Fatalf("remote requests = %+v; want one, spilled and queued there", remote.requests)
	}
}

func TestSubmitLeaseRefused(t *testing.T) {
	for _, tc := range []struct {
		code string
		want []error
	}{
		{"binary_mismatch", []error{errs.ErrBinaryMismatch}},
		{"pg_removed", []error{errs.ErrPlacementGroupRemoved, errs.ErrTaskUnschedulable}},
		{protocol.CodeNodeAffinityUnavailable, []error{errs.ErrNodeAffinityUnavailable, errs.ErrTaskUnschedulable}},
		{"job_finished", []error{errs.ErrTaskFailed}},
	} {
		t.Run(tc.code, func(t *testing.T) {
			fc := newFakeCluster()
			fc.local.lease = func(*protocol.LeaseRequest, int) (protocol.LeaseReply, error) {
				return protocol.LeaseReply{}, rpc.Errorf(tc.code, "refused")
			}
			rt := newTestRuntime(t, fc)
			refs := []Ref{rt.Submit(SubmitOptions{Name: "f"}, nil), rt.Submit(SubmitOptions{Name: "g"}, nil)}
			for _, ref := range refs {
				_, err := getResult(t, rt, ref)
				for _, want := range tc.want {
					if !errors.Is(err, want) {
						t.Fatalf("Get error = %v; want %v", err, want)
					}
				}
			}
		})
	}
}

// Tasks of different shapes use different leases.
func TestSubmitShapesLeasedApart(t *testing.T) {
	fc := newFakeCluster()
	rt := newTestRuntime(t, fc)
	a := rt.Submit(SubmitOptions{Name: "f", Resources: sched.Resources{"CPU": 1}}, valueArgs("a"))
	b := rt.Submit(SubmitOptions{Name: "g", Resources: sched.Resources{"CPU": 2}}, valueArgs("b"))
	for _, r := range []Ref{a, b} {
		if _, err := getResult(t, rt, r); err != nil {
			t.Fatal(err)
		}
	}
	fc.local.mu.Lock()
	defer fc.local.mu.Unlock()
	if len(fc.local.requests) != 2 || fc.local.requests[0].Resources.String() == fc.local.requests[1].Resources.String() {
		t.Fatalf("requests = %+v; want one per shape", fc.local.requests)
	}
}

// A failed dependency fails the task with the dependency's error, and
// the task is never pushed.
func TestSubmitFailedDependency(t *testing.T) {
	fc := newFakeCluster()
	var pushes atomic.Int32
	fc.local.push = func(_ context.Context, _ *fakeWorker, spec *protocol.TaskSpec, reply *protocol.PushTaskReply) error {
		if pushes.Add(1) == 1 {
			reply.Err = wire(errs.ErrTaskFailed, "dep failed")
		}
		return nil
	}
	rt := newTestRuntime(t, fc)
	dep := rt.Submit(SubmitOptions{Name: "dep"}, nil)
	ref := rt.Submit(SubmitOptions{Name: "f"}, []TaskArg{{Ref: &dep}})
	_, err := getResult(t, rt, ref)
	var te *errs.TaskError
	if !errors.Is(err, errs.ErrTaskFailed) || !errors.As(err, &te) || !bytes.Contains([]byte(err.Error()), []byte("dep failed")) {
		t.Fatalf("Get error = %v; want the dependency's", err)
	}
	if pushes.Load() != 1 {
		t.Fatalf("pushes = %d; want only the dependency", pushes.Load())
	}
}

// TestCancelRacesCompletion races Cancel against a push finishing, many
// times: the task is finished exactly once (no double close, no second
// release of its arguments), and the argument's submitted count ends at
// zero while the caller's own reference keeps the object.
func TestCancelRacesCompletion(t *testing.T) {
	fc := newFakeCluster()
	var block atomic.Bool
	release := make(chan struct{})
	fc.local.push = func(ctx context.Context, w *fakeWorker, spec *protocol.TaskSpec, reply *protocol.PushTaskReply) error {
		if spec.Name == "holder" {
			<-release
			return nil
		}
		if block.Load() {
			// Some iterations wait for the cancel request: Cancel finds
			// them running.
			select {
			case <-w.cancels:
			case <-w.killed:
				return rpc.ErrClosed
			}
		}
		runtime.Gosched()
		reply.Value = []byte("v")
		return nil
	}
	rt := newTestRuntime(t, fc)
	var releaseOnce sync.Once
	releaseHolder := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseHolder) // before the runtime's cleanup waits for it
	arg, err := rt.PutBytes(context.Background(), Encoded{Data: []byte("arg")})
	if err != nil {
		t.Fatal(err)
	}
	rt.AddLocal(arg)
	// A task that holds the argument throughout: a second release by a
	// racing task would take its count instead.
	holder := rt.Submit(SubmitOptions{Name: "holder", Resources: sched.Resources{"CPU": 2}}, []TaskArg{{Ref: &arg}})
	rt.AddLocal(holder)
	iters := 10000
	if testing.Short() {
		iters = 500
	}
	for i := range iters {
		block.Store(i%7 == 3)
		force := i%5 == 0
		ref := rt.Submit(SubmitOptions{Name: "f", MaxRetries: -1}, []TaskArg{{Ref: &arg}, {Value: []byte("x")}})
		rt.AddLocal(ref)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range i % 3 {
				runtime.Gosched()
			}
			_ = rt.Cancel(ref, force, false)
		}()
		v, err := getResult(t, rt, ref)
		if err == nil && string(v) != "v" || err != nil && !errors.Is(err, errs.ErrTaskCancelled) {
			t.Fatalf("iteration %d: Get = %q, %v", i, v, err)
		}
		wg.Wait()
		rt.RemoveLocal(ref)
	}
	// A task's finisher completes its result (Get returns) and then
	// releases its arguments (settle: finishObjects, then forget), so the
	// last task's release may still be on its way: wait for counts above
	// the holder's to go, but fail at once on a second release (below 1).
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, submitted, _, _, _ := rt.RefCounts(arg.ID)
		if submitted == 1 {
			break
		}
		if submitted < 1 || time.Now().After(deadline) {
			t.Fatalf("argument submitted count = %d with the holder pending; want 1", submitted)
		}
		time.Sleep(time.Millisecond) // polling the table: the release has no event to wait on
	}
	releaseHolder()
	if _, err := getResult(t, rt, holder); err != nil {
		t.Fatal(err)
	}
	rt.RemoveLocal(holder)
	rt.wg.Wait()
	local, submitted, _, _, ok := rt.RefCounts(arg.ID)
	if !ok || local != 1 || submitted != 0 {
		t.Fatalf("argument counts: local %d submitted %d (ok %v); want 1 and 0", local, submitted, ok)
	}
	if rt.store.get(arg.ID) == nil {
		t.Fatal("the argument was freed while referred to")
	}
	rt.sub.mu.Lock()
	left := len(rt.sub.tasks)
	rt.sub.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d tasks still tracked", left)
	}
	// The results went once their refs did.
	if n := rt.store.len(); n != 1 {
		t.Fatalf("store holds %d objects; want only the argument", n)
	}
}

// BenchmarkSubmitGet is the owner's side of the submit/push hot path
// (lease reuse, push, completion, release) against in-memory fakes.
func BenchmarkSubmitGet(b *testing.B) {
	fc := newFakeCluster()
	rt := newTestRuntime(b, fc)
	args := valueArgs("x")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		ref := rt.Submit(SubmitOptions{Name: "f"}, args)
		rt.AddLocal(ref) // as the rayo package's ObjectRef does
		if _, err := rt.Get(ctx, ref); err != nil {
			b.Fatal(err)
		}
		rt.RemoveLocal(ref)
	}
}

// A result that holds references has a table entry as soon as it
// completes; without the caller's count taken at submission (Counted)
// it was freed when it completed before the caller counted its ref: the
// caller's Get then found it gone (ErrObjectLost). Here every task
// completes before the caller counts.
func TestCountedResultSurvivesInstantCompletion(t *testing.T) {
	fc := newFakeCluster()
	fc.local.push = func(_ context.Context, _ *fakeWorker, spec *protocol.TaskSpec, reply *protocol.PushTaskReply) error {
		reply.Value = []byte("v")
		reply.Nested = []protocol.NestedRef{{ID: "nested-" + spec.TaskID, Owner: "127.0.0.1:1"}}
		return nil
	}
	rt := newTestRuntime(t, fc)
	for _, counted := range []bool{true, false} {
		ref := rt.Submit(SubmitOptions{Name: "f", Counted: counted}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := rt.Wait(ctx, []Ref{ref}, 1, -1) // completed, not yet counted by a caller
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		_, err = getResult(t, rt, ref)
		if counted && err != nil {
			t.Fatalf("a counted result that completed at once: %v", err)
		}
		// Uncounted, the result is freed once its task's completion is
		// processed, which may be just after Wait saw it complete: poll.
		for deadline := time.Now().Add(10 * time.Second); !counted && !errors.Is(err, errs.ErrObjectLost); _, err = getResult(t, rt, ref) {
			if time.Now().After(deadline) {
				t.Fatalf("an uncounted result that completed at once: %v; want it freed (ErrObjectLost), the race Counted closes", err)
			}
			time.Sleep(time.Millisecond) // polling the table: its free has no event to wait on
		}
		if counted {
			rt.RemoveLocal(ref)
		}
	}
}

// Scheduling keys nothing uses any more are forgotten: a job that runs
// tasks of many shapes or environments does not keep a key for each.
func TestUnusedSchedulingKeysDropped(t *testing.T) {
	fc := newFakeCluster()
	rt := newTestRuntime(t, fc)
	for i := range 5 {
		ref := rt.Submit(SubmitOptions{Name: "f", Resources: sched.Resources{"CPU": int64(i + 1)}}, valueArgs("v"))
		if _, err := getResult(t, rt, ref); err != nil {
			t.Fatal(err)
		}
	}
	keys := func() int {
		rt.sub.mu.Lock()
		defer rt.sub.mu.Unlock()
		return len(rt.sub.keys)
	}
	deadline := time.Now().Add(10 * time.Second)
	for keys() != 0 { // each idle lease lingers leaseLinger, then goes back
		if time.Now().After(deadline) {
			t.Fatalf("%d scheduling keys left after every task finished and its lease went back; want 0", keys())
		}
		time.Sleep(leaseLinger)
	}
	// The next task of a shape makes its key again.
	if _, err := getResult(t, rt, rt.Submit(SubmitOptions{Name: "f", Resources: sched.Resources{"CPU": 1}}, valueArgs("again"))); err != nil {
		t.Fatal(err)
	}
}
