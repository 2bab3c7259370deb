package pybridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rayo-dev/rayo/internal/core"
	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/objstore"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// TaskPrefix begins the registered name of every Python task: the rest is
// its function's ID in the job's function table. rayo's reserved prefix
// keeps user registrations from colliding with it.
const TaskPrefix = "rayo.py/"

// IsPythonTask reports whether a task spec's name is a Python function's.
func IsPythonTask(name string) bool { return strings.HasPrefix(name, TaskPrefix) }

// The function table: the cloudpickled function (Ray's function table,
// exported once per job) under <job ID>/fn/<function ID> in the
// job-scoped namespace, which the head cleans when the job ends.
const kvNamespace = protocol.JobScopedNamespace

func functionKey(job, id string) string { return job + "/fn/" + id }

// runtimeOf returns this process's runtime; package rayo sets it at init
// (it owns the runtime, and this package sits below it).
var runtimeOf = func() (*core.Runtime, error) { return nil, errs.ErrNotInitialized }

// SetRuntime tells the package where this process's runtime is.
func SetRuntime(f func() (*core.Runtime, error)) { runtimeOf = f }

// wireRef is a reference as it crosses to Python: object ID, owner address.
type wireRef [2]string

func (w wireRef) core() core.Ref { return core.Ref{ID: w[0], Owner: w[1]} }

func toWire(r core.Ref) wireRef { return wireRef{r.ID, r.Owner} }

func coreRefs(ws []wireRef) []core.Ref {
	if len(ws) == 0 {
		return nil
	}
	out := make([]core.Ref, len(ws))
	for i, w := range ws {
		out[i] = w.core()
	}
	return out
}

// Requests and replies. Keys are short: these cross the socket per call.
type (
	putReq struct {
		Value  []byte    `msgpack:"v"`
		Nested []wireRef `msgpack:"n,omitempty"`
	}
	refReply struct {
		Ref wireRef `msgpack:"r"`
	}
	refsReq struct {
		Refs []wireRef `msgpack:"r"`
	}
	getReq struct {
		Refs []wireRef `msgpack:"r"`
		// Timeout in seconds; negative waits without limit.
		Timeout float64 `msgpack:"t"`
		// Map: the caller maps this node's store itself, so a stored
		// object comes back as its location (Locs), not its bytes.
		Map bool `msgpack:"map,omitempty"`
	}
	// getReply holds the values in order up to the first failure, which
	// Err describes (the failed ref is Values' length). With Map, Locs[i]
	// is set instead of Values[i] for a stored object.
	getReply struct {
		Values [][]byte            `msgpack:"v"`
		Locs   []*storeLoc         `msgpack:"l,omitempty"`
		Err    *errs.WireTaskError `msgpack:"e,omitempty"`
	}
	storeLoc struct {
		Path   string `msgpack:"p"`
		Offset int64  `msgpack:"o"`
		Size   int64  `msgpack:"s"`
	}
	taskArg struct {
		Value  []byte    `msgpack:"v,omitempty"`
		Nested []wireRef `msgpack:"n,omitempty"`
		Ref    *wireRef  `msgpack:"r,omitempty"`
	}
	submitOpts struct {
		Resources       map[string]float64 `msgpack:"res,omitempty"`
		MaxRetries      int                `msgpack:"retries"`
		RetryExceptions bool               `msgpack:"rex,omitempty"`
		NumReturns      int                `msgpack:"nret,omitempty"`
		Name            string             `msgpack:"name,omitempty"`
		Env             map[string]string  `msgpack:"env,omitempty"`
		Strategy        *wireStrategy      `msgpack:"strat,omitempty"`
		// Stream makes the task a generator (num_returns="streaming"):
		// Backpressure > 0 pauses it while that many items wait.
		Stream *streamOpts `msgpack:"stream,omitempty"`
	}
	streamOpts struct {
		Backpressure int `msgpack:"bp"`
	}
	submitReq struct {
		// ID is the task's, from a block py.ids reserved for this
		// connection: the driver names the result without waiting.
		ID       string `msgpack:"id"`
		Function string `msgpack:"f"`
		// Go: Function is a Go task's registered name (a call across
		// languages), not a Python function's ID.
		Go      bool       `msgpack:"go,omitempty"`
		Display string     `msgpack:"d"`
		Args    []taskArg  `msgpack:"a"`
		Opts    submitOpts `msgpack:"o"`
		// Parent: the call of the Python worker that submits (its task
		// ID; core.SubmitOptions.Parent).
		Parent string `msgpack:"p,omitempty"`
	}
	batchReq struct {
		Items []batchItem `msgpack:"s"`
	}
	batchItem struct {
		Task *submitReq    `msgpack:"t,omitempty"`
		Call *actorCallReq `msgpack:"a,omitempty"`
	}
	// batchReply lists the items refused, by index (none: all submitted).
	batchReply struct {
		Failed []batchFailure `msgpack:"f,omitempty"`
	}
	batchFailure struct {
		Index   int    `msgpack:"i"`
		Code    string `msgpack:"c"`
		Message string `msgpack:"m"`
	}
	idsReq struct {
		N int `msgpack:"n"`
	}
	idsReply struct {
		Prefix string `msgpack:"p"`
		First  uint64 `msgpack:"f"`
	}
	waitReq struct {
		Refs    []wireRef `msgpack:"r"`
		Num     int       `msgpack:"k"`
		Timeout float64   `msgpack:"t"`
	}
	waitReply struct {
		Ready []int `msgpack:"i"`
	}
	cancelReq struct {
		Ref       wireRef `msgpack:"r"`
		Force     bool    `msgpack:"f"`
		Recursive bool    `msgpack:"rec"`
	}
	fnReq struct {
		ID    string `msgpack:"id"`
		Value []byte `msgpack:"v,omitempty"`
	}
	fnReply struct {
		Value []byte `msgpack:"v"`
	}
	kvReq struct {
		Namespace string `msgpack:"ns"`
		Key       string `msgpack:"k"`
		Value     []byte `msgpack:"v,omitempty"`
		Overwrite bool   `msgpack:"over,omitempty"`
	}
	// kvReply: Found is whether a get found the key, or a put added it.
	kvReply struct {
		Value []byte `msgpack:"v,omitempty"`
		Found bool   `msgpack:"found"`
	}
	infoReply struct {
		JobID     string `msgpack:"job"`
		Namespace string `msgpack:"ns"`
		NodeID    string `msgpack:"node"`
		WorkerID  string `msgpack:"worker"`
		Address   string `msgpack:"addr"`
		Worker    bool   `msgpack:"is_worker"`
	}
	empty struct{}
)

// registerOps serves the calls a Python process makes of the core, on rt
// once ready returns it (a driver's bridge starts serving before Init has
// finished); readyNow answers at once, for handlers that must not block.
func registerOps(s *rpc.Server, ready func(context.Context) (*core.Runtime, error), readyNow func() (*core.Runtime, error)) {
	rpc.Register(s, "py.info", func(ctx context.Context, _ *empty) (*infoReply, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		j := rt.Job()
		return &infoReply{JobID: j.JobID, Namespace: j.Namespace, NodeID: rt.NodeID(), WorkerID: rt.WorkerID(), Address: rt.Addr(),
			Worker: rt.WorkerID() != ""}, nil
	})
	rpc.Register(s, "py.put", func(ctx context.Context, req *putReq) (*refReply, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		ref, err := rt.PutBytes(ctx, core.Encoded{Data: req.Value, Nested: coreRefs(req.Nested)})
		if err != nil {
			return nil, wireError(err)
		}
		rt.AddLocal(ref)
		return &refReply{Ref: toWire(ref)}, nil
	})
	registerPutInPlace(s, ready)
	rpc.Register(s, "py.get", func(ctx context.Context, req *getReq) (*getReply, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		return get(ctx, rt, req), nil
	})
	ids := &idBlocks{}
	rpc.Register(s, "py.ids", func(ctx context.Context, req *idsReq) (*idsReply, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		if req.N < 1 || req.N > maxIDBlock {
			return nil, wireError(fmt.Errorf("%w: a block of %d IDs (1 to %d)", errs.ErrInvalidOption, req.N, maxIDBlock))
		}
		prefix, first := rt.ReserveIDs(req.N)
		ids.add(prefix, first, req.N)
		return &idsReply{Prefix: prefix, First: first}, nil
	})
	// Submits are handled in order, before the next call on the
	// connection is read: a get of a result that follows its submit
	// finds the task there. Submitting only queues, so it never blocks.
	s.HandleOrdered("py.submit", func(ctx context.Context, body []byte, reply func(any, error)) func() {
		req := new(submitReq)
		if err := rpc.Unmarshal(body, req); err != nil {
			reply(nil, fmt.Errorf("%w: py.submit: %v", rpc.ErrBadRequest, err))
			return nil
		}
		rt, err := readyNow()
		if err == nil {
			err = submit(rt, ids, req)
		}
		if err != nil {
			reply(nil, wireError(err))
		} else {
			reply(&empty{}, nil)
		}
		return nil
	})
	// py.submits is a batch of submits and actor calls, handled in order
	// like py.submit: a Python process sends the ones it made while its
	// previous batch was on its way in one frame (Nagle's algorithm).
	s.HandleOrdered("py.submits", func(ctx context.Context, body []byte, reply func(any, error)) func() {
		req := new(batchReq)
		if err := rpc.Unmarshal(body, req); err != nil {
			reply(nil, fmt.Errorf("%w: py.submits: %v", rpc.ErrBadRequest, err))
			return nil
		}
		rt, err := readyNow()
		if err != nil {
			reply(nil, wireError(err))
			return nil
		}
		out := &batchReply{}
		for i, item := range req.Items {
			var err error
			switch {
			case item.Task != nil && item.Call == nil:
				err = submit(rt, ids, item.Task)
			case item.Call != nil && item.Task == nil:
				err = callActor(rt, ids, item.Call)
			default:
				err = fmt.Errorf("%w: a batch item must be one task or one actor call", errs.ErrBadCall)
			}
			if err != nil {
				we := wireError(err).(*rpc.Error)
				out.Failed = append(out.Failed, batchFailure{Index: i, Code: we.Code, Message: we.Message})
			}
		}
		if len(out.Failed) > 0 {
			reply(out, nil)
		} else {
			// Python reads the acknowledgement with its next reply (the
			// batch's send is lazy there too): one wake-up, not two.
			reply(rpc.Lazy{Reply: out}, nil)
		}
		return nil
	})
	registerActorOps(s, ids, ready, readyNow)
	registerClusterOps(s, ready)
	registerStreamOps(s, ready)
	rpc.Register(s, "py.wait", func(ctx context.Context, req *waitReq) (*waitReply, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		if req.Num < 1 || req.Num > len(req.Refs) {
			return nil, wireError(fmt.Errorf("%w: num_returns %d of %d refs", errs.ErrInvalidOption, req.Num, len(req.Refs)))
		}
		ready, err := rt.Wait(ctx, coreRefs(req.Refs), req.Num, seconds(req.Timeout))
		if err != nil {
			return nil, wireError(err)
		}
		return &waitReply{Ready: ready}, nil
	})
	rpc.Register(s, "py.cancel", func(ctx context.Context, req *cancelReq) (*empty, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		if err := rt.Cancel(req.Ref.core(), req.Force, req.Recursive); err != nil {
			return nil, wireError(err)
		}
		return &empty{}, nil
	})
	// py.add counts references Python found inside a value it decoded
	// (and so now holds); py.release drops those its collected ObjectRefs
	// held.
	rpc.Register(s, "py.add", func(ctx context.Context, req *refsReq) (*empty, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		for _, r := range req.Refs {
			rt.AddLocal(r.core())
		}
		rt.FlushBorrows(ctx)
		return &empty{}, nil
	})
	rpc.Register(s, "py.release", func(ctx context.Context, req *refsReq) (*empty, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		for _, r := range req.Refs {
			rt.RemoveLocal(r.core())
		}
		return &empty{}, nil
	})
	rpc.Register(s, "py.fn.put", func(ctx context.Context, req *fnReq) (*empty, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		// Create-only: the ID is the pickle's hash, so a second export of
		// the same function finds it there.
		if _, err := rt.KVPut(ctx, kvNamespace, functionKey(rt.Job().JobID, req.ID), req.Value, false); err != nil {
			return nil, wireError(err)
		}
		return &empty{}, nil
	})
	// The head's key-value store, for packages of files (working_dir,
	// py_modules) the workers fetch.
	rpc.Register(s, "py.kv.put", func(ctx context.Context, req *kvReq) (*kvReply, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		added, err := rt.KVPut(ctx, req.Namespace, req.Key, req.Value, req.Overwrite)
		if err != nil {
			return nil, wireError(err)
		}
		return &kvReply{Found: added}, nil
	})
	rpc.Register(s, "py.kv.get", func(ctx context.Context, req *kvReq) (*kvReply, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		v, found, err := rt.KVGet(ctx, req.Namespace, req.Key)
		if err != nil {
			return nil, wireError(err)
		}
		return &kvReply{Value: v, Found: found}, nil
	})
	rpc.Register(s, "py.fn.get", func(ctx context.Context, req *fnReq) (*fnReply, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		v, found, err := rt.KVGet(ctx, kvNamespace, functionKey(rt.Job().JobID, req.ID))
		if err != nil {
			return nil, wireError(err)
		}
		if !found {
			return nil, wireError(errs.NotRegistered("no Python function %s in job %s's function table", req.ID, rt.Job().JobID))
		}
		return &fnReply{Value: v}, nil
	})
}

// seconds converts a timeout from Python (negative: none) to Wait's.
func seconds(t float64) time.Duration {
	if t < 0 {
		return -1
	}
	return time.Duration(t * float64(time.Second))
}

func get(ctx context.Context, rt *core.Runtime, req *getReq) *getReply {
	out := &getReply{Values: make([][]byte, 0, len(req.Refs))}
	if req.Timeout >= 0 && len(req.Refs) > 0 {
		// The timeout bounds the wait for the objects to be ready, not
		// their fetching: a ready object is returned even with timeout 0
		// (Ray's get), which a deadline on the whole get would not do.
		refs := coreRefs(req.Refs)
		ready, err := rt.Wait(ctx, refs, len(refs), seconds(req.Timeout))
		if err != nil {
			out.Err = failure(err)
			return out
		}
		if len(ready) < len(refs) {
			out.Err = failure(fmt.Errorf("%w: %d of %d objects not ready within %gs", errs.ErrGetTimeout, len(refs)-len(ready), len(refs), req.Timeout))
			return out
		}
	}
	for _, r := range req.Refs {
		var b []byte
		var loc *objstore.Location
		var err error
		if req.Map {
			b, loc, err = rt.GetLocated(ctx, r.core())
		} else {
			b, err = rt.Get(ctx, r.core())
		}
		if err != nil {
			out.Err = failure(err)
			return out
		}
		out.Values = append(out.Values, b)
		if loc != nil {
			if out.Locs == nil {
				out.Locs = make([]*storeLoc, len(req.Refs))
			}
			out.Locs[len(out.Values)-1] = &storeLoc{Path: loc.Path, Offset: loc.Offset, Size: loc.Size}
		}
	}
	return out
}

// maxIDBlock bounds one py.ids reservation.
const maxIDBlock = 1 << 16

// idBlocks are the task IDs reserved for a connection and not yet used:
// a submit may take each once, and no other.
type idBlocks struct {
	mu     sync.Mutex
	blocks []*idBlock
}

type idBlock struct {
	prefix string
	first  uint64
	used   []bool
	left   int
}

func (b *idBlocks) add(prefix string, first uint64, n int) {
	b.mu.Lock()
	b.blocks = append(b.blocks, &idBlock{prefix: prefix, first: first, used: make([]bool, n), left: n})
	b.mu.Unlock()
}

// take marks id used; false if it was not reserved here or was used.
func (b *idBlocks) take(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, blk := range b.blocks {
		rest, ok := strings.CutPrefix(id, blk.prefix)
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(rest, 36, 64)
		if err != nil || n < blk.first || n-blk.first >= uint64(len(blk.used)) || blk.used[n-blk.first] {
			continue
		}
		blk.used[n-blk.first] = true
		if blk.left--; blk.left == 0 {
			b.blocks = append(b.blocks[:i], b.blocks[i+1:]...)
		}
		return true
	}
	return false
}

func submit(rt *core.Runtime, ids *idBlocks, req *submitReq) error {
	// The ID is spent first, whatever follows: a refused submit must not
	// leave its block open for good.
	if !ids.take(req.ID) {
		return fmt.Errorf("%w: task ID %q was not reserved by py.ids for this connection, or is used", errs.ErrBadCall, req.ID)
	}
	if req.Function == "" {
		return fmt.Errorf("%w: a submit names no function", errs.ErrBadCall)
	}
	res, strat, err := placement(req.Opts.Resources, req.Opts.Strategy)
	if err != nil {
		return err
	}
	if req.Opts.NumReturns < 0 {
		return fmt.Errorf("%w: num_returns %d", errs.ErrInvalidOption, req.Opts.NumReturns)
	}
	env, err := protocol.EnvList(req.Opts.Env)
	if err != nil {
		return fmt.Errorf("%w: %v", errs.ErrInvalidOption, err)
	}
	args := coreArgs(req.Args)
	display := req.Opts.Name
	if display == "" {
		display = req.Display
	}
	name := TaskPrefix + req.Function
	if req.Go {
		if IsPythonTask(req.Function) {
			return fmt.Errorf("%w: %q is not a Go task's name", errs.ErrBadCall, req.Function)
		}
		name = req.Function
	}
	opts := core.SubmitOptions{ID: req.ID, Name: name, Display: display, Resources: res, Strategy: strat,
		MaxRetries: req.Opts.MaxRetries, RetryExceptions: req.Opts.RetryExceptions, NumReturns: req.Opts.NumReturns,
		Env: env, Counted: true, Parent: req.Parent}
	if so := req.Opts.Stream; so != nil {
		if so.Backpressure < 0 || opts.NumReturns > 0 {
			return fmt.Errorf("%w: a streaming task with backpressure %d and num_returns %d", errs.ErrInvalidOption, so.Backpressure, opts.NumReturns)
		}
		rt.SubmitStream(opts, core.StreamOptions{Backpressure: so.Backpressure}, args)
		return nil
	}
	rt.SubmitN(opts, args)
	return nil
}

// failure is err's wire form for Python's exceptions.from_wire: a task's
// own failure as the task error, anything else by its sentinel's code.
func failure(err error) *errs.WireTaskError {
	var died *errs.ActorDiedError
	if errors.As(err, &died) {
		return died.ToWire()
	}
	var te *errs.TaskError
	if errors.As(err, &te) {
		return te.ToWire()
	}
	return &errs.WireTaskError{Code: codeOf(err), Message: err.Error()}
}

// codeOf is the wire code of the first sentinel err matches.
func codeOf(err error) string {
	if errors.Is(err, errs.ErrGetTimeout) || errors.Is(err, context.DeadlineExceeded) {
		return protocol.CodeGetTimeout
	}
	for _, e := range protocol.Codes() {
		if errors.Is(err, e.Sentinel) {
			return e.Code
		}
	}
	return protocol.CodeTaskFailed
}

// wireError is a handler's error for Python: its code names the sentinel.
// It is always an *rpc.Error.
func wireError(err error) error {
	return &rpc.Error{Code: codeOf(err), Message: err.Error()}
}

type (
	streamReq struct {
		ID      string  `msgpack:"id"`
		Timeout float64 `msgpack:"t"`
	}
	// streamReply is the next item, the end (End), or the failure that
	// ended the stream after the items before it.
	streamReply struct {
		Ref *wireRef            `msgpack:"r,omitempty"`
		End bool                `msgpack:"end,omitempty"`
		Err *errs.WireTaskError `msgpack:"e,omitempty"`
	}
)

func registerStreamOps(s *rpc.Server, ready func(context.Context) (*core.Runtime, error)) {
	rpc.Register(s, "py.stream.next", func(ctx context.Context, req *streamReq) (*streamReply, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		if req.Timeout >= 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, seconds(req.Timeout))
			defer cancel()
		}
		// The item comes counted by the stream: that count is Python's now.
		r, err := rt.StreamNext(ctx, req.ID)
		switch {
		case err == nil:
			w := toWire(r)
			return &streamReply{Ref: &w}, nil
		case errors.Is(err, io.EOF):
			return &streamReply{End: true}, nil
		default:
			return &streamReply{Err: failure(err)}, nil
		}
	})
	rpc.Register(s, "py.stream.close", func(ctx context.Context, req *streamReq) (*empty, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		rt.CloseStream(req.ID)
		return &empty{}, nil
	})
}

type (
	createReq struct {
		Size int64 `msgpack:"s"`
	}
	createReply struct {
		ID  string   `msgpack:"id"`
		Loc storeLoc `msgpack:"l"`
	}
	sealReq struct {
		ID     string    `msgpack:"id"`
		Size   int64     `msgpack:"s"`
		Nested []wireRef `msgpack:"n,omitempty"`
	}
)

// registerPutInPlace serves puts of large values that Python writes into
// the store itself: py.put.create reserves the space, Python maps it and
// writes, py.put.seal makes it the object (py.put.abort gives it back).
// Space reserved and never sealed goes back when the connection ends.
func registerPutInPlace(s *rpc.Server, ready func(context.Context) (*core.Runtime, error)) {
	var mu sync.Mutex
	open := map[string]int64{}      // reserved and not yet sealed: the size
	watched := map[*rpc.Peer]bool{} // connections whose end aborts what they left open
	abortLeft := func(rt *core.Runtime) {
		mu.Lock()
		left := open
		open = map[string]int64{}
		mu.Unlock()
		for id := range left {
			actx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			rt.AbortStored(actx, id)
			cancel()
		}
	}
	rpc.Register(s, "py.put.create", func(ctx context.Context, req *createReq) (*createReply, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		id, loc, err := rt.CreateStored(ctx, req.Size)
		if err != nil {
			return nil, wireError(err)
		}
		mu.Lock()
		open[id] = req.Size
		p := rpc.PeerFrom(ctx)
		watch := p != nil && !watched[p]
		if watch {
			watched[p] = true
		}
		mu.Unlock()
		if watch {
			p.OnClose(func() { abortLeft(rt) })
		}
		return &createReply{ID: id, Loc: storeLoc{Path: loc.Path, Offset: loc.Offset, Size: loc.Size}}, nil
	})
	// take ends a reservation, returning its size (false: none).
	take := func(id string) (int64, bool) {
		mu.Lock()
		defer mu.Unlock()
		size, ok := open[id]
		delete(open, id)
		return size, ok
	}
	rpc.Register(s, "py.put.seal", func(ctx context.Context, req *sealReq) (*refReply, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		size, ok := take(req.ID)
		if !ok {
			return nil, wireError(fmt.Errorf("%w: object %q was not reserved with py.put.create, or is sealed", errs.ErrBadCall, req.ID))
		}
		if req.Size != size {
			rt.AbortStored(ctx, req.ID)
			return nil, wireError(fmt.Errorf("%w: object %q was reserved with %d bytes, sealed with %d", errs.ErrBadCall, req.ID, size, req.Size))
		}
		ref, err := rt.SealStored(ctx, req.ID, size, coreRefs(req.Nested))
		if err != nil {
			rt.AbortStored(ctx, req.ID)
			return nil, wireError(err)
		}
		return &refReply{Ref: toWire(ref)}, nil
	})
	rpc.Register(s, "py.put.abort", func(ctx context.Context, req *sealReq) (*empty, error) {
		rt, err := ready(ctx)
		if err != nil {
			return nil, wireError(err)
		}
		if _, ok := take(req.ID); ok {
			rt.AbortStored(ctx, req.ID)
		}
		return &empty{}, nil
	})
}
