package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/objstore"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// Executor runs a pushed task in a worker. The rayo package implements it
// over its registry of functions.
type Executor interface {
	// Execute runs a task on its arguments' encoded bytes and returns the
	// result's encoding: a header and data (see codec.RawView) to write
	// in one go.
	Execute(ctx context.Context, spec *protocol.TaskSpec, args [][]byte) (Encoded, *errs.TaskError)
	// NewActor runs an actor's constructor and returns the instance.
	NewActor(ctx context.Context, spec *protocol.ActorSpec, args [][]byte) (any, *errs.TaskError)
	// ExecuteN runs a task whose function returns a slice
	// (spec.NumReturns > 0) and encodes each element on its own.
	ExecuteN(ctx context.Context, spec *protocol.TaskSpec, args [][]byte) ([]Encoded, *errs.TaskError)
	// CallActor runs one method on an instance.
	CallActor(ctx context.Context, instance any, class string, call *protocol.ActorCallRequest, args [][]byte) (Encoded, *errs.TaskError)
}

// Encoded is an encoded value: Header then Data (Header is empty for
// msgpack values; raw values put their 8-byte header there so that Data,
// the slice's own memory, is copied only once, into its destination).
type Encoded struct {
	Header []byte
	Data   []byte
	// Nested are the references the value holds.
	Nested []Ref
	// Stored > 0: the value, of this many bytes, is already written in
	// this node's store under the result's ID (CreateResult, by a process
	// beside this one that maps the store): it is only sealed.
	Stored int64
	// Holds is the Go value encoded, when it holds references: it is kept
	// reachable until those are counted elsewhere (in the object that
	// contains them, or by a borrower), or its ObjectRefs could be
	// collected, and the objects freed, in between.
	Holds any
}

// Config configures a runtime.
type Config struct {
	Token string
	// TLS encrypts the runtime's TCP connections (nil: plain TCP).
	TLS      *rpc.TLS
	NodeAddr string
	// Job is the job this runtime belongs to. A driver fills it in after
	// registering with the head; a worker gets it from its environment.
	Job      protocol.JobSpec
	WorkerID string
	IsWorker bool
	Executor Executor
	// LogSink receives worker output forwarded to a driver; nil drops it.
	LogSink func(*protocol.LogBatch)
	// BeforeRegister runs in a worker just before it registers with its
	// node, after which tasks may arrive at once: the process must be
	// ready to serve them by then.
	BeforeRegister func(*Runtime)
	// InlineLimit: values up to this size travel inline; larger ones go
	// to the node's shared-memory store (default DefaultInlineLimit).
	InlineLimit int64
	// Listen is the address the runtime serves on; "127.0.0.1:0" default.
	Listen string
	// HeadWait bounds how long a call that needs the head waits for it
	// while it is unreachable (restarting); DefaultHeadWait if zero.
	HeadWait time.Duration
	Log      *slog.Logger
}

// Runtime is the core runtime of one driver or worker process.
type Runtime struct {
	cfg    Config
	log    *slog.Logger
	srv    *rpc.Server
	ln     net.Listener
	addr   string // ln's address, formatted once: every reference and call carries it
	prefix string
	seq    atomic.Uint64

	store  *memStore
	refs   *refTable
	lin    *lineage
	sub    *submitter
	objs   *storeClient
	nodeID string

	clients *rpc.Pool
	node    *rpc.Client

	runningMu sync.Mutex
	running   map[string]context.CancelFunc

	host *actorHost // the actor this worker hosts, if any
	// gpusEnv is the CUDA_VISIBLE_DEVICES value last set (gpusSet once set).
	gpusEnv string
	gpusSet bool

	blockMu sync.Mutex
	blocked int // calls now blocked in Get or Wait (worker mode)
	// blockSent is the state the node was last told; blockSending is set
	// while one caller sends (outside blockMu), in order, until the node
	// has the latest state.
	blockSent    bool
	blockSending bool
	// taskDepth is the nesting depth of the task this worker runs (0 in a
	// driver); what it submits is one deeper (see LeaseRequest.Depth).
	taskDepth atomic.Int64

	announceMu sync.Mutex
	announced  string // the task name last written to stdout for the log pump

	actorsMu sync.Mutex
	actors   map[string]*actorClient
	// calls: the unfinished actor calls this process submitted, by task
	// ID (guarded by actorsMu), for Cancel and a recursive Cancel's
	// search without a walk over every actor client.
	calls   map[string]*actorCall
	streams streamTable // the streams this process owns (stream.go)
	headMu  sync.Mutex
	head    *rpc.Client
	// headDialing is the dial to the head in progress (head.go).
	headDialing *headDial

	// job is the runtime's job (cfg.Job until SetJob): the driver sets it
	// after its loops started, which read it without a lock.
	job     atomic.Pointer[protocol.JobSpec]
	events  eventBuffer // task events for the head
	pid     int
	metrics *metricsPusher

	closed  chan struct{}
	closeMu sync.Once
	wg      sync.WaitGroup

	// ctx is cancelled when Close begins (stop), with closed: the base
	// of the runtime's own background work (argument resolution, lease
	// requests, actor lookups), so that Close ends it.
	ctx  context.Context
	stop context.CancelFunc
}

// New starts the runtime's server and connects it to its node. A worker
// also registers itself with the node.
func New(cfg Config) (*Runtime, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.WorkerID == "" {
		cfg.WorkerID = NewID()
	}
	if cfg.InlineLimit <= 0 {
		cfg.InlineLimit = DefaultInlineLimit
	}
	if cfg.HeadWait <= 0 {
		cfg.HeadWait = DefaultHeadWait
	}
	_, _ = rpc.RaiseFileLimit() // for this process and the workers it starts
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("core: listen: %w", err)
	}
	rt := &Runtime{cfg: cfg, log: cfg.Log, ln: ln, addr: ln.Addr().String(), srv: rpc.NewServer(cfg.Token, cfg.Log, rpc.WithTLS(cfg.TLS)),
		prefix: cfg.WorkerID[:min(len(cfg.WorkerID), 12)], store: newMemStore(), refs: newRefTable(), lin: newLineage(),
		objs:    &storeClient{mapper: objstore.NewMapper(), direct: true, pins: map[string]int{}},
		clients: rpc.NewPool(cfg.Token, rpc.WithTLS(cfg.TLS)), actors: map[string]*actorClient{}, running: map[string]context.CancelFunc{}, closed: make(chan struct{})}
	rt.job.Store(&cfg.Job)
	rt.ctx, rt.stop = context.WithCancel(context.Background())
	rt.sub = newSubmitter(rt)
	rt.pid = os.Getpid()
	rpc.Register(rt.srv, protocol.OwnerGetObject, rt.serveGetObject)
	rpc.Register(rt.srv, protocol.DriverLogs, rt.serveLogs)
	rpc.Register(rt.srv, protocol.OwnerAddBorrower, rt.serveAddBorrower)
	rpc.Register(rt.srv, protocol.OwnerRemoveBorrower, rt.serveRemoveBorrower)
	rpc.Register(rt.srv, protocol.OwnerListRefs, rt.serveListRefs)
	rpc.Register(rt.srv, protocol.OwnerHoldsObjects, rt.serveHoldsObjects)
	rpc.Register(rt.srv, protocol.OwnerCancelTask, rt.serveOwnerCancel)
	rpc.Register(rt.srv, protocol.OwnerStreamItem, rt.serveStreamItem)
	if cfg.IsWorker {
		rpc.Register(rt.srv, protocol.WorkerPushTask, rt.servePushTask)
		rpc.Register(rt.srv, protocol.WorkerCancelTask, rt.serveCancelTask)
		rpc.Register(rt.srv, protocol.WorkerCreateActor, rt.serveCreateActor)
		rt.srv.HandleOrdered(protocol.WorkerActorCall, rt.serveActorCall)
	}
	rt.wg.Add(3)
	go func() { defer rt.wg.Done(); _ = rt.srv.Serve(ln) }() // a failure: see watchListeners
	rt.srv.ListenUnix(ln.Addr().String())
	go func() { defer rt.wg.Done(); rt.borrowLoop() }()
	go func() { defer rt.wg.Done(); rt.eventLoop() }()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	node, err := rpc.Dial(ctx, cfg.NodeAddr, cfg.Token, rpc.WithTLS(cfg.TLS))
	if err != nil {
		rt.Close()
		return nil, fmt.Errorf("core: connecting to the node daemon: %w", mapErr(err))
	}
	rt.node = node
	var info protocol.NodeInfoReply
	if err := node.Call(ctx, protocol.NodeInfoMethod, &protocol.Empty{}, &info); err != nil {
		rt.Close()
		return nil, fmt.Errorf("core: asking the node daemon who it is: %w", err)
	}
	rt.nodeID = info.NodeID
	if cfg.IsWorker {
		if cfg.BeforeRegister != nil {
			cfg.BeforeRegister(rt)
		}
		req := &protocol.RegisterWorkerRequest{WorkerID: cfg.WorkerID, Addr: rt.Addr(), Pid: os.Getpid()}
		if err := node.Call(ctx, protocol.NodeRegisterWorker, req, &protocol.RegisterWorkerReply{}); err != nil {
			rt.Close()
			return nil, fmt.Errorf("core: registering the worker: %w", err)
		}
	}
	rt.metrics = rt.startMetrics()
	rt.watchListeners()
	return rt, nil
}

// Addr is the address other processes reach this runtime on.
func (rt *Runtime) Addr() string { return rt.addr }

// NodeDone is closed when the connection to the node daemon is gone. A
// worker exits then: its node is dead or has disowned it.
func (rt *Runtime) NodeDone() <-chan struct{} { return rt.node.Done() }

// SetJob records the job after the driver registered it.
func (rt *Runtime) SetJob(j protocol.JobSpec) {
	rt.job.Store(&j)
	rt.metrics.setTarget(j)
}

// Job is the runtime's job.
func (rt *Runtime) Job() protocol.JobSpec { return *rt.job.Load() }

// Close stops the runtime: pending calls fail, connections close.
func (rt *Runtime) Close() {
	rt.closeMu.Do(func() {
		rt.flushEvents(time.Second)
		if rt.node != nil {
			rt.freeOwnedStored()
		}
		rt.metrics.stop()
		// Under actorsMu: a connection lost at the same time starts its
		// resolve goroutine (rt.wg.Add under actorsMu) before this, or
		// sees closed and does not (resolveLocked).
		rt.actorsMu.Lock()
		close(rt.closed)
		rt.actorsMu.Unlock()
		rt.stop()
		rt.sub.close()
		rt.srv.Close()
		rt.clients.Close()
		if rt.node != nil {
			_ = rt.node.Close()
		}
		rt.headMu.Lock()
		if rt.head != nil {
			_ = rt.head.Close()
		}
		rt.headMu.Unlock()
		rt.wg.Wait()
		_ = rt.objs.mapper.Close()
	})
}

// NewID returns a random process-unique prefix.
func NewID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (rt *Runtime) nextID() string {
	return rt.prefix + strconv.FormatUint(rt.seq.Add(1), 36)
}

// ReserveIDs sets n IDs aside for a caller that names its tasks itself
// (SubmitOptions.ID): prefix followed by first, first+1, ... first+n-1,
// each in base 36. A Python driver names its results before the submit
// reaches the core, so that .remote() need not wait for it.
func (rt *Runtime) ReserveIDs(n int) (prefix string, first uint64) {
	last := rt.seq.Add(uint64(n))
	return rt.prefix, last - uint64(n) + 1
}

// client returns a shared connection to addr, dialing when needed.
func (rt *Runtime) client(ctx context.Context, addr string) (*rpc.Client, error) {
	c, err := rt.clients.Get(ctx, addr)
	if err == rpc.ErrClosed { // the pool closes only with the runtime
		return nil, errs.ErrShutdown
	}
	return c, err
}

// mapErr turns transport errors into rayo's typed errors.
func mapErr(err error) error {
	if errors.Is(err, rpc.ErrUnauthenticated) {
		return fmt.Errorf("%w (%v)", errs.ErrUnauthenticated, err)
	}
	return err
}

// Ref names an object: its ID and its owner's address.
type Ref struct {
	ID    string
	Owner string
}

// blockedDelay is how long a worker's Get may wait before the worker
// tells its node it is blocked: short waits cost no messages.
const blockedDelay = 2 * time.Millisecond

// blockedWhile, in a worker, reports the worker blocked to its node if the
// call it brackets waits for more than blockedDelay; the returned func
// ends the bracket (and reports it running again).
func (rt *Runtime) blockedWhile() func() {
	if !rt.cfg.IsWorker {
		return func() {}
	}
	var mu sync.Mutex
	sent, done := false, false
	t := time.AfterFunc(blockedDelay, func() {
		mu.Lock()
		if done {
			mu.Unlock()
			return
		}
		sent = true
		rt.countBlocked(1)
		mu.Unlock()
		rt.sendBlocked()
	})
	return func() {
		t.Stop()
		mu.Lock()
		done = true
		was := sent
		if was {
			rt.countBlocked(-1)
		}
		mu.Unlock()
		if was {
			rt.sendBlocked()
		}
	}
}

// countBlocked counts this worker's blocked calls up or down.
func (rt *Runtime) countBlocked(d int) {
	rt.blockMu.Lock()
	rt.blocked += d
	rt.blockMu.Unlock()
}

// sendBlocked tells the node whether this worker is blocked (any call
// blocked) when that changed since it was last told. The call is made
// outside blockMu by one caller at a time, which goes on until the node
// has the latest state: the states reach the node in order, and a caller
// that finds a send under way leaves its change to it.
func (rt *Runtime) sendBlocked() {
	rt.blockMu.Lock()
	if rt.blockSending {
		rt.blockMu.Unlock()
		return
	}
	rt.blockSending = true
	for rt.blockSent != (rt.blocked > 0) {
		b := rt.blocked > 0
		rt.blockMu.Unlock()
		ctx, cancel := context.WithTimeout(rt.ctx, 5*time.Second)
		_ = rt.node.Call(ctx, protocol.NodeWorkerBlocked, &protocol.WorkerBlockedRequest{WorkerID: rt.cfg.WorkerID, Blocked: b,
			Depth: int(rt.taskDepth.Load())}, nil)
		cancel()
		rt.blockMu.Lock()
		rt.blockSent = b
	}
	rt.blockSending = false
	rt.blockMu.Unlock()
}

// submitDepth is the nesting depth of the tasks this process submits now.
func (rt *Runtime) submitDepth() int { return int(rt.taskDepth.Load()) + 1 }

// NodeID is the ID of the node this runtime is attached to.
func (rt *Runtime) NodeID() string { return rt.nodeID }

// Get returns an object's encoded value, waiting for it; a failed task's
// object returns its error. A stored object's bytes are mapped from the
// node's shared memory, not copied.
func (rt *Runtime) Get(ctx context.Context, ref Ref) ([]byte, error) {
	defer rt.blockedWhile()()
	a, err := rt.lookup(ctx, ref)
	if err != nil {
		return nil, err
	}
	if a.Loc == nil {
		return a.V, nil
	}
	return rt.getStored(ctx, ref, a)
}

// lookupRemoteLost tells a borrowed object's owner that its stored copy
// is gone; the owner rebuilds it (or says it cannot) and answers with
// its new form.
func (rt *Runtime) lookupRemoteLost(ctx context.Context, ref Ref) (protocol.Arg, error) {
	c, err := rt.client(ctx, ref.Owner)
	if err != nil {
		return protocol.Arg{}, fmt.Errorf("%w: owner of %s at %s is unreachable: %v", errs.ErrOwnerDied, ref.ID, ref.Owner, err)
	}
	var reply protocol.GetObjectReply
	if err := c.Call(ctx, protocol.OwnerGetObject, &protocol.GetObjectRequest{ObjectID: ref.ID, Lost: true}, &reply); err != nil {
		if ctx.Err() != nil {
			return protocol.Arg{}, ctxErr(ctx)
		}
		return protocol.Arg{}, err
	}
	if reply.Err != nil {
		return protocol.Arg{}, reply.Err.Err()
	}
	if reply.Loc != nil {
		return protocol.Arg{ID: ref.ID, Loc: reply.Loc}, nil
	}
	return protocol.Arg{V: reply.Value}, nil
}

func ctxErr(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", errs.ErrGetTimeout, ctx.Err())
	}
	return ctx.Err()
}

// lookupRemote asks the owner of a borrowed reference for its value or
// location.
func (rt *Runtime) lookupRemote(ctx context.Context, ref Ref, noValue bool) (protocol.Arg, error) {
	c, err := rt.client(ctx, ref.Owner)
	if err != nil {
		if ctx.Err() != nil {
			return protocol.Arg{}, ctxErr(ctx)
		}
		return protocol.Arg{}, fmt.Errorf("%w: owner of %s at %s is unreachable: %v", errs.ErrOwnerDied, ref.ID, ref.Owner, err)
	}
	var reply protocol.GetObjectReply
	err = c.Call(ctx, protocol.OwnerGetObject, &protocol.GetObjectRequest{ObjectID: ref.ID, NoValue: noValue}, &reply)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return protocol.Arg{}, ctxErr(ctx)
	case errors.Is(err, rpc.ErrClosed), rpc.CodeOf(err) == protocol.CodeOwnerExiting:
		return protocol.Arg{}, fmt.Errorf("%w: owner of %s at %s: %v", errs.ErrOwnerDied, ref.ID, ref.Owner, err)
	case rpc.CodeOf(err) == protocol.CodeObjectLost:
		return protocol.Arg{}, fmt.Errorf("%w: %s", errs.ErrObjectLost, err.Error())
	default:
		return protocol.Arg{}, err
	}
	if reply.Err != nil {
		return protocol.Arg{}, reply.Err.Err()
	}
	if reply.Loc != nil {
		return protocol.Arg{ID: ref.ID, Loc: reply.Loc}, nil
	}
	return protocol.Arg{V: reply.Value}, nil
}

func (rt *Runtime) serveGetObject(ctx context.Context, req *protocol.GetObjectRequest) (*protocol.GetObjectReply, error) {
	if req.Lost {
		a, err := rt.reconstruct(ctx, req.ObjectID, 0)
		if err != nil {
			var te *errs.TaskError
			var de *errs.ActorDiedError
			switch {
			case errors.As(err, &te):
				return &protocol.GetObjectReply{Err: te.ToWire()}, nil
			case errors.As(err, &de):
				return &protocol.GetObjectReply{Err: de.ToWire()}, nil
			}
			return nil, rpc.Errorf(protocol.CodeObjectLost, "%v", err)
		}
		return &protocol.GetObjectReply{Value: a.V, Loc: a.Loc}, nil
	}
	o := rt.store.get(req.ObjectID)
	if o == nil {
		return nil, rpc.Errorf(protocol.CodeObjectLost, "rayo: object %s is not held by its owner", req.ObjectID)
	}
	select {
	case <-o.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-rt.closed:
		return nil, rpc.Errorf(protocol.CodeOwnerExiting, "rayo: the owner is shutting down")
	}
	if req.NoValue {
		return &protocol.GetObjectReply{Err: o.err}, nil
	}
	return &protocol.GetObjectReply{Value: o.value, Loc: o.loc, Err: o.err}, nil
}

// Ready reports, for each ref, a channel closed when it is ready (its
// value or its error is known).
func (rt *Runtime) readyChan(ctx context.Context, ref Ref) <-chan struct{} {
	if ref.Owner == rt.Addr() {
		if o := rt.store.get(ref.ID); o != nil {
			return o.done
		}
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	ch := make(chan struct{})
	go func() {
		// Errors count as ready: Get then reports them.
		_, _ = rt.lookupRemote(ctx, ref, true)
		if ctx.Err() == nil {
			close(ch)
		}
	}()
	return ch
}

// Wait returns once numReady of refs are ready or timeout passes (a
// negative timeout waits without limit). It returns the indexes of the
// ready refs, in the order of refs.
func (rt *Runtime) Wait(ctx context.Context, refs []Ref, numReady int, timeout time.Duration) ([]int, error) {
	if numReady > len(refs) {
		numReady = len(refs)
	}
	defer rt.blockedWhile()()
	var timer <-chan time.Time
	if timeout >= 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Borrowed refs are watched by a goroutine each (asking their owner);
	// this process's own objects are re-checked whenever one of its
	// objects completes, without a goroutine per ref.
	ready := make([]bool, len(refs))
	remote := make(chan int, len(refs))
	watching := false
	for {
		changed := rt.store.changedChan()
	drain:
		for {
			select {
			case j := <-remote:
				ready[j] = true
			default:
				break drain
			}
		}
		n := 0
		for i, r := range refs {
			if !ready[i] && r.Owner == rt.Addr() {
				if o := rt.store.get(r.ID); o == nil || o.ready() {
					ready[i] = true
				}
			}
			if ready[i] {
				if n++; n >= numReady {
					break // enough: the caller takes at most numReady
				}
			}
		}
		if n >= numReady {
			break
		}
		if !watching {
			watching = true
			for i, r := range refs {
				if r.Owner == rt.Addr() {
					continue
				}
				ch := rt.readyChan(wctx, r)
				go func() {
					select {
					case <-ch:
						remote <- i
					case <-wctx.Done():
					}
				}()
			}
		}
		select {
		case <-changed:
		case j := <-remote:
			ready[j] = true
		case <-timer:
			numReady = 0 // return what is ready
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if numReady == 0 {
			break
		}
	}
	var idx []int
	for i, r := range ready {
		if r {
			idx = append(idx, i)
		}
	}
	return idx, nil
}

func (rt *Runtime) serveLogs(_ context.Context, b *protocol.LogBatch) (*protocol.Empty, error) {
	if rt.cfg.LogSink != nil {
		rt.cfg.LogSink(b)
		return &protocol.Empty{}, nil
	}
	// Output is not printed here, but the cluster's warnings (Pid 0) still
	// belong in the driver's log.
	for _, l := range b.Lines {
		if l.Pid == 0 {
			rt.log.Warn("cluster warning", "node", b.NodeID, "message", l.Text)
		}
	}
	return &protocol.Empty{}, nil
}
