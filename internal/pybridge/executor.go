package pybridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rayo-dev/rayo/internal/core"
	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// Executor runs the Python tasks a worker is given in its Python child,
// started at the first one: `$RAYO_PYTHON -m rayo.worker` (python3 by
// default), with its ends of two socket pairs (conn.go) as descriptors 3
// (read) and 4 (write). The child pulls tasks with py.next, which also
// carries the previous task's result. Should the child die, the worker exits too, so that the node
// and the task's owner see a dead worker and retry as for Go tasks.
type Executor struct {
	log *slog.Logger

	once     sync.Once
	startErr error
	queue    chan *pyTask
	// calls queues actor calls in the order their host hands them over
	// (a serial actor's are pipelined: core.ActorPipeliner); a call
	// cancelled before the Python worker takes it is dropped there.
	calls chan *pyTask
	// cancels tells the Python worker of actor calls cancelled while they
	// run (a py.next answer of kind "cancel").
	cancels chan string

	mu      sync.Mutex
	running map[string]*pyTask // by task ID, until its result arrives
	current string             // the task (Kind "") handed to the Python worker and not yet finished
	child   *os.Process
}

// NewExecutor returns an executor whose child is not started yet.
func NewExecutor(log *slog.Logger) *Executor {
	if log == nil {
		log = slog.Default()
	}
	return &Executor{log: log, queue: make(chan *pyTask), calls: make(chan *pyTask, pipelineDepth), cancels: make(chan string, 64),
		running: map[string]*pyTask{}}
}

// pipelineDepth bounds the actor calls queued for the Python worker and
// not taken yet: with a batch (maxBatch) on its way, the next is ready.
const pipelineDepth = 2 * maxBatch

// PipelinesActorCalls says the Python worker runs a serial actor's calls
// in the order they are queued (core.ActorPipeliner): true for a Python
// class.
func (x *Executor) PipelinesActorCalls(class string) bool {
	_, ok := PythonClass(class)
	return ok
}

type pyTask struct {
	ctx  context.Context // the call's, for its runtime context (py.ctx)
	msg  taskMsg
	done chan *taskResult
	// returnID and owner name the call's result object, which the Python
	// worker may write in place (py.result.create); created says it did.
	returnID, owner string
	created         int64 // the size the Python worker reserved for the result in place (0: none)
	// emit reports a streaming call's items (py.emit); nil otherwise.
	emit func(core.Encoded) error
	// taken: the Python worker has it; dropped: cancelled before that
	// (x.mu).
	taken, dropped bool
}

// taskMsg is a task as the Python worker gets it: a task (Kind ""), an
// actor's construction ("new") or a call of its method ("call").
type taskMsg struct {
	Kind       string   `msgpack:"k,omitempty"`
	ID         string   `msgpack:"id"`
	Function   string   `msgpack:"f"`
	Name       string   `msgpack:"d"`
	Args       [][]byte `msgpack:"a"`
	NumReturns int      `msgpack:"nret,omitempty"`
	Attempt    int      `msgpack:"att,omitempty"`
	// Actor and Method name an actor call's instance and method; a "new"
	// gives the instance its ID and says how many calls may run at once.
	Actor          string `msgpack:"actor,omitempty"`
	Method         string `msgpack:"m,omitempty"`
	MaxConcurrency int    `msgpack:"maxc,omitempty"`
	// Stream: the call is a generator whose items go out with py.emit.
	Stream bool `msgpack:"stream,omitempty"`
	// Class is an actor's class, for handles to itself (current_actor).
	Class string `msgpack:"c,omitempty"`
	// Refs[i], when set, stands for Args[i] (then nil): a large stored
	// argument the Python worker gets itself as a view of the store.
	Refs []*wireRef `msgpack:"refs,omitempty"`
}

// argRefMin is the size from which a stored argument goes to the Python
// worker by reference (it maps the store) rather than over the socket.
const argRefMin = 1 << 20

// byRef replaces the large stored arguments of a call with references
// (Args[i] nil, Refs[i] set), and returns msg.
func byRef(msg taskMsg, specArgs []protocol.Arg) taskMsg {
	for i, a := range specArgs {
		if i >= len(msg.Args) || a.Loc == nil || a.ID == "" || a.Loc.Owner == "" || len(msg.Args[i]) < argRefMin {
			continue
		}
		if msg.Refs == nil {
			msg.Refs = make([]*wireRef, len(msg.Args))
			msg.Args = append([][]byte(nil), msg.Args...)
		}
		msg.Refs[i] = &wireRef{a.ID, a.Loc.Owner}
		msg.Args[i] = nil
	}
	return msg
}

// taskResult is what the Python worker sends back: a value per return
// (one unless the task has num_returns), the references each holds, or
// the failure.
type taskResult struct {
	ID string `msgpack:"id"`
	// Stored > 0: the one value, of this many bytes, is written in place.
	Stored int64       `msgpack:"stored,omitempty"`
	Values [][]byte    `msgpack:"v,omitempty"`
	Nested [][]wireRef `msgpack:"n,omitempty"`
	Err    *pyError    `msgpack:"e,omitempty"`
	// holds keeps the references of Nested counted (finish).
	holds []any
}

// pyError is a Python task's failure.
type pyError struct {
	// Code is a rayo cause (protocol's codes: bad_call when the function
	// could not be loaded, cancelled), "" for the function's own exception.
	Code    string `msgpack:"c,omitempty"`
	Message string `msgpack:"m"`
	Trace   string `msgpack:"s,omitempty"`
	// Pickled is the exception itself, for a Python caller.
	Pickled []byte `msgpack:"p,omitempty"`
	// NoRetry: the exception is not among the call's retry_exceptions.
	NoRetry bool `msgpack:"nr,omitempty"`
}

// nextReq carries the results of the work the Python worker ran since
// its last py.next; nextReply the work waiting now (at least one), up to
// maxBatch: a worker behind on an actor's calls takes several per round
// trip. A call cancelled before the Python worker starts it does not
// run (dropped here, or by the worker when a poll brings the cancel);
// one running sees is_canceled().
type nextReq struct {
	Done []*taskResult `msgpack:"done,omitempty"`
	// Poll: answer at once, with what waits now (maybe nothing): the
	// Python worker, between two calls of a batch, takes the cancels of
	// the calls it has not started.
	Poll bool `msgpack:"poll,omitempty"`
}

type nextReply struct {
	Work []*taskMsg `msgpack:"w"`
}

// maxBatch bounds the work one py.next hands over.
const maxBatch = 32

// A cancelled task (Kind "") gets SIGINT, Python's KeyboardInterrupt, as
// in Ray; a cancelled actor call is not interrupted: see doWith.

// Execute runs a Python task with one result.
func (x *Executor) Execute(ctx context.Context, spec *protocol.TaskSpec, args [][]byte) (core.Encoded, *errs.TaskError) {
	vals, terr := x.run(ctx, spec, args)
	if terr != nil {
		return core.Encoded{}, terr
	}
	return vals[0], nil
}

// ExecuteN runs a Python task with spec.NumReturns results.
func (x *Executor) ExecuteN(ctx context.Context, spec *protocol.TaskSpec, args [][]byte) ([]core.Encoded, *errs.TaskError) {
	return x.run(ctx, spec, args)
}

func (x *Executor) run(ctx context.Context, spec *protocol.TaskSpec, args [][]byte) ([]core.Encoded, *errs.TaskError) {
	return x.doWith(ctx, byRef(taskMsg{ID: spec.TaskID, Function: strings.TrimPrefix(spec.Name, TaskPrefix), Name: spec.DisplayName(),
		Args: args, NumReturns: spec.NumReturns, Attempt: spec.Attempt}, spec.Args), max(spec.NumReturns, 1), nil, result{spec.ReturnID, spec.OwnerAddr})
}

// pythonActor is the instance NewActor returns: the Python worker keeps
// the object itself, by the actor's ID.
type pythonActor struct{ id string }

// NewActor constructs a Python actor in the Python worker.
func (x *Executor) NewActor(ctx context.Context, spec *protocol.ActorSpec, args [][]byte) (any, *errs.TaskError) {
	fid, _ := PythonClass(spec.Class)
	_, terr := x.doWith(ctx, byRef(taskMsg{Kind: "new", ID: spec.ActorID + ".new", Function: fid, Name: className(spec.Class) + ".__init__",
		Args: args, Actor: spec.ActorID, MaxConcurrency: spec.MaxConcurrency, Class: spec.Class}, spec.Args), 0, nil, result{})
	if terr != nil {
		return nil, terr
	}
	return &pythonActor{id: spec.ActorID}, nil
}

// CallActor runs a method of a Python actor.
func (x *Executor) CallActor(ctx context.Context, instance any, class string, call *protocol.ActorCallRequest, args [][]byte) (core.Encoded, *errs.TaskError) {
	name := call.Name
	if name == "" {
		name = className(class) + "." + call.Method
	}
	a, ok := instance.(*pythonActor)
	if !ok {
		return core.Encoded{}, errs.NewTaskError(name, call.TaskID, errs.ErrBadCall, fmt.Errorf("a %T is not a Python actor", instance), "", false)
	}
	vals, terr := x.doWith(ctx, byRef(taskMsg{Kind: "call", ID: call.TaskID, Name: name, Args: args, Actor: a.id, Method: call.Method, Class: class}, call.Args), 1, nil,
		result{call.TaskID, call.OwnerAddr})
	if terr != nil {
		return core.Encoded{}, terr
	}
	return vals[0], nil
}

// ExecuteStream runs a Python generator task, reporting each item it
// yields with emit.
func (x *Executor) ExecuteStream(ctx context.Context, spec *protocol.TaskSpec, args [][]byte, emit func(core.Encoded) error) *errs.TaskError {
	_, terr := x.doWith(ctx, byRef(taskMsg{ID: spec.TaskID, Function: strings.TrimPrefix(spec.Name, TaskPrefix), Name: spec.DisplayName(),
		Args: args, Attempt: spec.Attempt, Stream: true}, spec.Args), 0, emit, result{})
	return terr
}

// CallActorStream runs a Python actor's generator method.
func (x *Executor) CallActorStream(ctx context.Context, instance any, class string, call *protocol.ActorCallRequest, args [][]byte, emit func(core.Encoded) error) *errs.TaskError {
	name := call.Name
	if name == "" {
		name = className(class) + "." + call.Method
	}
	a, ok := instance.(*pythonActor)
	if !ok {
		return errs.NewTaskError(name, call.TaskID, errs.ErrBadCall, fmt.Errorf("a %T is not a Python actor", instance), "", false)
	}
	_, terr := x.doWith(ctx, byRef(taskMsg{Kind: "call", ID: call.TaskID, Name: name, Args: args, Actor: a.id, Method: call.Method, Class: class, Stream: true}, call.Args), 0, emit, result{})
	return terr
}

// emitReq is one item of a streaming call.
type emitReq struct {
	ID     string    `msgpack:"id"`
	Value  []byte    `msgpack:"v"`
	Nested []wireRef `msgpack:"n,omitempty"`
}

// emitReply says whether the generator is to go on: Stopped once the
// consumer closed the stream (the generator stops without failing).
type emitReply struct {
	Stopped bool `msgpack:"stopped,omitempty"`
}

func (x *Executor) emitItem(_ context.Context, req *emitReq) (*emitReply, error) {
	x.mu.Lock()
	t := x.running[req.ID]
	x.mu.Unlock()
	if t == nil || t.emit == nil {
		return nil, wireError(fmt.Errorf("%w: no streaming call %q runs in this worker", errs.ErrBadCall, req.ID))
	}
	e := core.Encoded{Data: req.Value}
	if len(req.Nested) > 0 {
		e.Nested = coreRefs(req.Nested)
		e.Holds = holdRefs(e.Nested)
	}
	if err := t.emit(e); err != nil {
		if errors.Is(err, core.ErrStreamStopped) {
			return &emitReply{Stopped: true}, nil
		}
		return nil, wireError(err)
	}
	return &emitReply{}, nil
}

type createResultReq struct {
	ID   string `msgpack:"id"`
	Size int64  `msgpack:"s"`
}

// createResult reserves a running call's result in the store for the
// Python worker to write in place (a large value: one copy, not a trip
// over the socket and another into the store).
func (x *Executor) createResult(ctx context.Context, req *createResultReq) (*storeLoc, error) {
	rt, err := runtimeOf()
	if err != nil {
		return nil, wireError(err)
	}
	if req.Size <= 0 {
		return nil, wireError(fmt.Errorf("%w: a result of %d bytes", errs.ErrBadCall, req.Size))
	}
	x.mu.Lock()
	t := x.running[req.ID]
	ok := t != nil && t.returnID != "" && t.created == 0
	if ok {
		t.created = req.Size
	}
	x.mu.Unlock()
	if !ok {
		return nil, wireError(fmt.Errorf("%w: call %q has no result to write in place (not running, several returns, a stream, or done already)", errs.ErrBadCall, req.ID))
	}
	loc, err := rt.CreateResult(ctx, t.returnID, t.owner, req.Size)
	if err != nil {
		x.mu.Lock()
		t.created = 0
		x.mu.Unlock()
		return nil, wireError(err)
	}
	return &storeLoc{Path: loc.Path, Offset: loc.Offset, Size: loc.Size}, nil
}

// className is a Python class's name without its function ID.
func className(class string) string {
	rest := strings.TrimPrefix(class, TaskPrefix)
	if _, name, ok := strings.Cut(rest, "/"); ok {
		return name
	}
	return rest
}

// result names a call's result object, which the Python worker may write
// in place ("": it may not).
type result struct{ id, owner string }

// doWith hands msg to the Python worker and waits for its want values:
// for a streaming call, whose items go to emit, too, and for a call whose
// single result (res) the Python worker may write in place.
func (x *Executor) doWith(ctx context.Context, msg taskMsg, want int, emit func(core.Encoded) error, res result) ([]core.Encoded, *errs.TaskError) {
	name := msg.Name
	fail := func(cause, err error) *errs.TaskError { return errs.NewTaskError(name, msg.ID, cause, err, "", false) }
	x.once.Do(func() { x.startErr = x.start() })
	if x.startErr != nil {
		return nil, fail(errs.ErrTaskFailed, x.startErr)
	}
	t := &pyTask{ctx: ctx, done: make(chan *taskResult, 1), msg: msg, emit: emit}
	if want == 1 && msg.NumReturns == 0 && emit == nil {
		t.returnID, t.owner = res.id, res.owner
	}
	x.mu.Lock()
	x.running[msg.ID] = t
	x.mu.Unlock()
	defer func() {
		x.mu.Lock()
		delete(x.running, msg.ID)
		x.mu.Unlock()
	}()
	queue := x.queue
	if msg.Kind == "call" {
		queue = x.calls
	}
	select {
	case queue <- t:
		core.HandedOver(ctx) // a pipelined actor's next call may start; else nothing
	case <-ctx.Done():
		return nil, fail(errs.ErrTaskCancelled, ctx.Err())
	}
	var r *taskResult
	select {
	case r = <-t.done:
	case <-ctx.Done():
		x.mu.Lock()
		dropped := !t.taken
		t.dropped = dropped
		x.mu.Unlock()
		if dropped { // still queued: it never runs
			return nil, fail(errs.ErrTaskCancelled, ctx.Err())
		}
		if msg.Kind == "" {
			// Ray's cancel of a running task: KeyboardInterrupt in it.
			x.interrupt(msg.ID)
		} else {
			// Ray's of a running actor call: not interrupted (actors have
			// state); an async actor's coroutine is cancelled, and any
			// call sees is_canceled().
			select {
			case x.cancels <- msg.ID:
			default: // the Python worker is behind on notices: it sees is_canceled()
			}
		}
		r = <-t.done
	}
	x.mu.Lock()
	created := t.created
	x.mu.Unlock()
	if r.Stored > 0 && (r.Stored != created || want != 1) {
		r = &taskResult{ID: msg.ID, Err: &pyError{Code: protocol.CodeBadCall,
			Message: fmt.Sprintf("the Python worker said it wrote a result of %d bytes in place; it reserved %d", r.Stored, created)}}
	}
	if r.Err != nil && created > 0 {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		rt, err := runtimeOf()
		if err == nil {
			rt.AbortResult(actx, t.returnID)
		}
		cancel()
	}
	if e := r.Err; e != nil {
		cause := errs.ErrTaskFailed
		if e.Code != "" {
			cause = errs.SentinelOf(e.Code)
		}
		te := errs.NewTaskError(name, msg.ID, cause, errors.New(e.Message), e.Trace, false)
		te.Data, te.NoRetry = e.Pickled, e.NoRetry
		return nil, te
	}
	if r.Stored > 0 {
		e := core.Encoded{Stored: r.Stored}
		if len(r.Nested) > 0 && len(r.Nested[0]) > 0 {
			e.Nested, e.Holds = coreRefs(r.Nested[0]), r.holds[0]
		}
		return []core.Encoded{e}, nil
	}
	if len(r.Values) != want {
		return nil, fail(errs.ErrBadCall, fmt.Errorf("the Python worker returned %d values for %d returns", len(r.Values), want))
	}
	out := make([]core.Encoded, want)
	for i, v := range r.Values {
		out[i] = core.Encoded{Data: v}
		if i < len(r.Nested) && len(r.Nested[i]) > 0 {
			out[i].Nested, out[i].Holds = coreRefs(r.Nested[i]), r.holds[i]
		}
	}
	return out, nil
}

type heldRefs struct{ refs []core.Ref }

// holdRefs counts refs as held here until the returned value is
// collected: the Python worker may release its own counts as soon as it
// has sent the result, before the result's object counts them.
func holdRefs(refs []core.Ref) any {
	rt, err := runtimeOf()
	if err != nil {
		return nil
	}
	for _, r := range refs {
		rt.AddLocal(r)
	}
	// Not a tiny allocation (a lone byte would be one): the cleanup of an
	// object in a tiny block may never run.
	h := &heldRefs{refs: refs}
	runtime.AddCleanup(h, func(refs []core.Ref) {
		for _, r := range refs {
			rt.RemoveLocal(r)
		}
	}, refs)
	return h
}

// next hands the Python worker its next task, after taking the result of
// the one before.
func (x *Executor) next(ctx context.Context, req *nextReq) (*nextReply, error) {
	for _, r := range req.Done {
		if r != nil {
			x.finish(r)
		}
	}
	out := &nextReply{Work: []*taskMsg{}}
	for len(out.Work) == 0 && !req.Poll {
		select {
		case t := <-x.queue:
			x.take(out, t)
		case t := <-x.calls:
			x.take(out, t)
		case id := <-x.cancels:
			out.Work = append(out.Work, &taskMsg{Kind: "cancel", ID: id})
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	for len(out.Work) < maxBatch {
		select {
		case t := <-x.queue:
			x.take(out, t)
			continue
		case t := <-x.calls:
			x.take(out, t)
			continue
		case id := <-x.cancels:
			out.Work = append(out.Work, &taskMsg{Kind: "cancel", ID: id})
			continue
		default:
		}
		break
	}
	return out, nil
}

// take adds t to the work handed to the Python worker, unless it was
// cancelled while queued.
func (x *Executor) take(out *nextReply, t *pyTask) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if t.dropped {
		return
	}
	t.taken = true
	if t.msg.Kind == "" {
		x.current = t.msg.ID
	}
	out.Work = append(out.Work, &t.msg)
}

// finish delivers a result to the call waiting for it.
func (x *Executor) finish(r *taskResult) {
	x.mu.Lock()
	t := x.running[r.ID]
	if t != nil && x.current == r.ID {
		x.current = ""
	}
	x.mu.Unlock()
	// The references the result holds are counted here, before the
	// Python worker's call is answered: it may release its own counts
	// as soon as it has the answer.
	r.holds = make([]any, len(r.Nested))
	for i, n := range r.Nested {
		if len(n) > 0 {
			r.holds[i] = holdRefs(coreRefs(n))
		}
	}
	if t != nil {
		select {
		case t.done <- r:
		default: // a second result for one task: the first stands
		}
	}
}

// interrupt sends SIGINT to the Python worker if task id is the one it
// runs: a task whose result is on its way is left alone, and so is the
// worker between tasks (its handler raises only inside a task's code).
func (x *Executor) interrupt(id string) {
	x.mu.Lock()
	p := x.child
	running := x.current == id
	x.mu.Unlock()
	if p != nil && running {
		_ = p.Signal(syscall.SIGINT)
	}
}

// start runs the Python child and serves it.
func (x *Executor) start() error {
	nc, theirs, err := bridgePair()
	if err != nil {
		return err
	}
	token := newToken()
	python := os.Getenv("RAYO_PYTHON")
	if python == "" {
		python = "python3"
	}
	cmd := exec.Command(python, "-m", "rayo.worker")
	cmd.Env = append(childEnv(os.Environ()), "RAYO_BRIDGE_FD=3,4", "RAYO_BRIDGE_TOKEN="+token,
		"PYTHONUNBUFFERED=1", // its prints reach the driver as they happen
		"PYTHONSAFEPATH=1")
	cmd.ExtraFiles = theirs[:] // descriptors 3 (its reading end) and 4
	// Not this worker's directory (the temp dir, which anyone may write):
	// with PYTHONSAFEPATH neither it nor the script's is on sys.path, and
	// "/" holds nothing another user can plant. A job's working_dir, if
	// any, is where the child goes next (rayo/_packages.py).
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// The child goes with this worker, however it ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	_ = theirs[0].Close()
	_ = theirs[1].Close()
	if err != nil {
		_ = nc.Close()
		return fmt.Errorf("rayo: starting the Python worker (%s -m rayo.worker; set RAYO_PYTHON to choose the interpreter): %w", python, err)
	}
	x.mu.Lock()
	x.child = cmd.Process
	x.mu.Unlock()
	s := rpc.NewServer(token, x.log)
	registerOps(s, func(context.Context) (*core.Runtime, error) { return runtimeOf() }, runtimeOf)
	rpc.Register(s, "py.next", x.next)
	rpc.Register(s, "py.emit", x.emitItem)
	rpc.Register(s, "py.result.create", x.createResult)
	// py.ctx answers get_runtime_context() for a running call.
	rpc.Register(s, "py.ctx", func(_ context.Context, req *ctxReq) (*ctxReply, error) {
		x.mu.Lock()
		t := x.running[req.ID]
		x.mu.Unlock()
		var tc *core.TaskContext
		if t != nil {
			tc = core.TaskContextFrom(t.ctx)
		}
		if tc == nil {
			return nil, wireError(fmt.Errorf("%w: no running call %q in this worker", errs.ErrBadCall, req.ID))
		}
		return &ctxReply{Resources: tc.Resources.ToFloat(), GPUIDs: tc.GPUIDs, PG: tc.PlacementGroupID, BundleIndex: tc.BundleIndex,
			Cancelled: t.ctx.Err() != nil}, nil
	})
	// py.actor.exit is exit_actor() in a running actor call.
	rpc.Register(s, "py.actor.exit", func(_ context.Context, req *ctxReq) (*empty, error) {
		rt, err := runtimeOf()
		if err != nil {
			return nil, wireError(err)
		}
		x.mu.Lock()
		t := x.running[req.ID]
		x.mu.Unlock()
		if t == nil || t.msg.Actor == "" {
			return nil, wireError(fmt.Errorf("%w: exit_actor called outside an actor's method", errs.ErrInvalidOption))
		}
		if err := rt.ExitActor(t.ctx); err != nil {
			return nil, wireError(err)
		}
		return &empty{}, nil
	})
	// py.done carries the result of a call the Python worker ran on
	// another thread (threaded and async actors).
	rpc.Register(s, "py.done", func(_ context.Context, r *taskResult) (*empty, error) {
		x.finish(r)
		return &empty{}, nil
	})
	go func() { _ = s.Serve(listenOn(nc)) }()
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(os.Stderr, "rayo worker: its Python worker (pid %d) exited (%v); the worker exits too\n", cmd.Process.Pid, err)
		os.Exit(1)
	}()
	return nil
}

// childEnv is this worker's environment less the cluster's secrets: the
// Python child reaches the cluster only through this process.
func childEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if k == "RAYO_TOKEN" || strings.HasPrefix(k, "RAYO_TLS_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}
