package core

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// Fakes of the submitter's seams (conns.go), in the manner of Ray's
// FakeRayletClient and fake core-worker client: scriptable nodes and
// workers in memory, with what they were asked recorded.

// fakeCluster is submitConns over fake nodes and workers by address.
type fakeCluster struct {
	mu      sync.Mutex
	local   *fakeNode
	nodes   map[string]*fakeNode
	workers map[string]*fakeWorker
}

func newFakeCluster() *fakeCluster {
	fc := &fakeCluster{nodes: map[string]*fakeNode{}, workers: map[string]*fakeWorker{}}
	fc.local = fc.addNode("node-local")
	return fc
}

func (fc *fakeCluster) addNode(addr string) *fakeNode {
	n := &fakeNode{fc: fc, addr: addr, done: make(chan struct{}), waiting: map[string]chan struct{}{}}
	fc.mu.Lock()
	fc.nodes[addr] = n
	fc.mu.Unlock()
	return n
}

func (fc *fakeCluster) localNode() leaseClient { return fc.local }

func (fc *fakeCluster) dialNode(_ context.Context, addr string) (leaseClient, error) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if n := fc.nodes[addr]; n != nil {
		return n, nil
	}
	return nil, fmt.Errorf("fake: no node at %s", addr)
}

func (fc *fakeCluster) dialWorker(_ context.Context, addr string) (workerClient, error) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if w := fc.workers[addr]; w != nil {
		return w, nil
	}
	return nil, fmt.Errorf("fake: no worker at %s", addr)
}

// fakeNode grants leases as its lease func says; by default each request
// gets a fresh worker that runs tasks with push.
type fakeNode struct {
	fc   *fakeCluster
	addr string
	done chan struct{}
	// lease decides a request (nil: grant a new worker). A request it
	// holds (hold) waits until withdrawn (CancelLease) or the runtime
	// closes.
	lease func(req *protocol.LeaseRequest, n int) (protocol.LeaseReply, error)
	// push is the behaviour of the workers this node grants.
	push func(ctx context.Context, w *fakeWorker, spec *protocol.TaskSpec, reply *protocol.PushTaskReply) error

	mu        sync.Mutex
	requests  []protocol.LeaseRequest
	returned  []string // lease IDs, in order
	killed    []string // worker IDs
	cancelled []string // request IDs
	waiting   map[string]chan struct{}
	// held receives the ID of each request the node holds, if set.
	held chan string
}

// errHold is returned by a lease func to keep the request queued at the
// node until it is withdrawn.
var errHold = fmt.Errorf("fake: hold")

func (n *fakeNode) RequestLease(ctx context.Context, req *protocol.LeaseRequest) (protocol.LeaseReply, error) {
	n.mu.Lock()
	n.requests = append(n.requests, *req)
	k := len(n.requests)
	lease := n.lease
	n.mu.Unlock()
	if lease != nil {
		reply, err := lease(req, k)
		if err != errHold {
			return reply, err
		}
		n.mu.Lock()
		if slices.Contains(n.cancelled, req.RequestID) {
			// Withdrawn before it arrived, as a node that saw the
			// cancel first answers.
			n.mu.Unlock()
			return protocol.LeaseReply{}, rpc.Errorf("lease_cancelled", "fake: withdrawn")
		}
		ch := make(chan struct{})
		n.waiting[req.RequestID] = ch
		held := n.held
		n.mu.Unlock()
		if held != nil {
			held <- req.RequestID
		}
		select {
		case <-ch:
			return protocol.LeaseReply{}, rpc.Errorf("lease_cancelled", "fake: withdrawn")
		case <-ctx.Done():
			return protocol.LeaseReply{}, ctx.Err()
		}
	}
	return n.grant(k), nil
}

// grant starts a worker and leases it.
func (n *fakeNode) grant(k int) protocol.LeaseReply {
	w := &fakeWorker{node: n, id: fmt.Sprintf("%s/w%d", n.addr, k), cancels: make(chan protocol.CancelTaskRequest, 16),
		killed: make(chan struct{})}
	n.fc.mu.Lock()
	n.fc.workers[w.id] = w
	n.fc.mu.Unlock()
	return protocol.LeaseReply{LeaseID: "lease-" + w.id, WorkerAddr: w.id, WorkerID: w.id, WorkerPid: k, NodeID: n.addr}
}

func (n *fakeNode) ReturnLease(_ context.Context, leaseID string, _ bool) error {
	n.mu.Lock()
	n.returned = append(n.returned, leaseID)
	n.mu.Unlock()
	return nil
}

func (n *fakeNode) CancelLease(_ context.Context, requestID string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cancelled = append(n.cancelled, requestID)
	if ch := n.waiting[requestID]; ch != nil {
		close(ch)
		delete(n.waiting, requestID)
	}
	return nil
}

func (n *fakeNode) KillWorker(_ context.Context, workerID string) error {
	n.mu.Lock()
	n.killed = append(n.killed, workerID)
	n.mu.Unlock()
	n.fc.mu.Lock()
	w := n.fc.workers[workerID]
	n.fc.mu.Unlock()
	if w != nil {
		w.killOnce.Do(func() { close(w.killed) })
	}
	return nil
}

func (n *fakeNode) Done() <-chan struct{} { return n.done }

func (n *fakeNode) counts() (requests, returned, cancelled int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.requests), len(n.returned), len(n.cancelled)
}

// stillHeld counts the requests queued at the node and never withdrawn.
func (n *fakeNode) stillHeld() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.waiting)
}

// fakeWorker runs pushed tasks with its node's push func (default: the
// task's first argument is its result).
type fakeWorker struct {
	node     *fakeNode
	id       string
	cancels  chan protocol.CancelTaskRequest
	killed   chan struct{}
	killOnce sync.Once

	mu     sync.Mutex
	pushes int
}

func (w *fakeWorker) PushTask(ctx context.Context, spec *protocol.TaskSpec, reply *protocol.PushTaskReply) error {
	w.mu.Lock()
	w.pushes++
	w.mu.Unlock()
	select {
	case <-w.killed:
		return rpc.ErrClosed
	default:
	}
	if push := w.node.push; push != nil {
		return push(ctx, w, spec, reply)
	}
	if len(spec.Args) > 0 {
		reply.Value = spec.Args[0].V
	}
	return nil
}

func (w *fakeWorker) CancelTask(_ context.Context, req *protocol.CancelTaskRequest) error {
	select {
	case w.cancels <- *req:
	default: // nobody listens: a task that ignores cancellation
	}
	return nil
}

// newTestRuntime is a runtime without a network: no server, no node
// daemon; its submitter uses conns.
func newTestRuntime(t testing.TB, conns submitConns) *Runtime {
	t.Helper()
	cfg := Config{InlineLimit: DefaultInlineLimit, WorkerID: "testworker", Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	rt := &Runtime{cfg: cfg, log: cfg.Log, addr: "owner:1", prefix: "t", store: newMemStore(), refs: newRefTable(), lin: newLineage(),
		objs: &storeClient{pins: map[string]int{}}, actors: map[string]*actorClient{}, running: map[string]context.CancelFunc{},
		closed: make(chan struct{})}
	rt.job.Store(&protocol.JobSpec{JobID: "job1"})
	rt.ctx, rt.stop = context.WithCancel(context.Background())
	rt.sub = newSubmitter(rt)
	rt.sub.conns = conns
	t.Cleanup(func() {
		close(rt.closed)
		rt.stop()
		rt.sub.close()
		rt.wg.Wait()
	})
	return rt
}

// getResult waits for a task's result, bounded so that a bug fails the
// test rather than hanging it.
func getResult(t testing.TB, rt *Runtime, ref Ref) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := rt.Get(ctx, ref)
	if ctx.Err() != nil {
		t.Fatalf("task %s did not finish", ref.ID)
	}
	return v, err
}

// wire is a task failure as a worker reports it.
func wire(cause error, msg string) *errs.WireTaskError {
	return errs.NewTaskError("f", "x", cause, fmt.Errorf("%s", msg), "", false).ToWire()
}

// fakeActorConn is an actor connection in memory: it records the calls
// written, in order, and answers each with reply. A write waits while
// block is set (until it is closed), as a socket write to a stuck peer
// does; writing is closed when the first such write starts. fail makes
// writes fail (the connection broke).
type fakeActorConn struct {
	done    chan struct{}
	block   chan struct{}
	writing chan struct{}
	fail    bool

	mu      sync.Mutex
	written []string // task IDs
	log     []string // "call ID" and "cancel ID", in order
	pending []func([]byte, error)
}

func newFakeActorConn() *fakeActorConn {
	return &fakeActorConn{done: make(chan struct{}), writing: make(chan struct{})}
}

func (f *fakeActorConn) Done() <-chan struct{} { return f.done }

func (f *fakeActorConn) GoSent(_ string, body []byte, done func([]byte, error)) bool {
	if f.block != nil {
		select {
		case <-f.writing:
		default:
			close(f.writing)
		}
		<-f.block
	}
	if f.fail {
		done(nil, rpc.ErrClosed)
		return false
	}
	var req protocol.ActorCallRequest
	if err := rpc.Unmarshal(body, &req); err != nil {
		panic(err)
	}
	f.mu.Lock()
	f.written = append(f.written, req.TaskID)
	f.log = append(f.log, "call "+req.TaskID)
	f.pending = append(f.pending, done)
	f.mu.Unlock()
	return true
}

// Call records a cancel request in the order of the connection's
// traffic (log), after the calls written before it.
func (f *fakeActorConn) Call(_ context.Context, method string, req, _ any) error {
	if cr, ok := req.(*protocol.CancelTaskRequest); ok && method == protocol.WorkerCancelTask {
		f.mu.Lock()
		f.log = append(f.log, "cancel "+cr.TaskID)
		f.mu.Unlock()
	}
	return nil
}

func (f *fakeActorConn) traffic() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

// replyAll answers every call written so far with value v.
func (f *fakeActorConn) replyAll(t testing.TB, v string) {
	t.Helper()
	body, err := rpc.Marshal(&protocol.PushTaskReply{Value: []byte(v)})
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	p := f.pending
	f.pending = nil
	f.mu.Unlock()
	for _, done := range p {
		done(body, nil)
	}
}

func (f *fakeActorConn) writtenIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.written)
}

// connectActor gives rt's client of actor id a live connection.
func connectActor(rt *Runtime, id string, conn actorConn) *actorClient {
	ac := rt.actorClient(id)
	rt.actorsMu.Lock()
	ac.info = &protocol.ActorInfo{ActorID: id, State: protocol.ActorAlive, Incarnation: 1}
	ac.conn = conn
	rt.actorsMu.Unlock()
	return ac
}
