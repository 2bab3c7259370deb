package rayo

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/rayo-dev/rayo/internal/codec"
	"github.com/rayo-dev/rayo/internal/core"
	"github.com/rayo-dev/rayo/internal/errs"
)

// ObjectRef refers to an object of type T in the cluster: a task's result
// or a Put value. It is a small value; copy it freely, store it inside
// other values, and pass it to tasks (a top-level argument is resolved to
// its value; a nested one arrives as a reference).
type ObjectRef[T any] struct {
	ref core.Ref
	err error     // the submission failed; Get returns it
	tok *refToken // shared by copies; when collected, this process's count drops
}

// refToken ties an ObjectRef (and its copies) to the runtime's reference
// count: the garbage collector tells the runtime when the last copy goes.
// It holds pointers so that it is never a "tiny" allocation, which can
// share a block with other objects and then outlive its last reference.
// Its size (64 bytes with Release's fields) helps too: the runtime keeps
// a span's cleanups in a list that each new one is inserted into by a
// walk, and fewer tokens per span make a million queued tasks' walks
// shorter. Release stops the cleanup and counts the reference out at
// once; the flag makes a second Release, or a use after it, visible.
type refToken struct {
	ref      core.Ref
	cleanup  runtime.Cleanup
	released atomic.Bool
}

// newRef makes an ObjectRef counted by this process.
func newRef[T any](rt *core.Runtime, r core.Ref) ObjectRef[T] {
	rt.AddLocal(r)
	return takeRef[T](rt, r)
}

// takeRef makes an ObjectRef of a reference the runtime already counted
// for the caller (a submission's result, SubmitOptions.Counted).
func takeRef[T any](rt *core.Runtime, r core.Ref) ObjectRef[T] {
	tok := &refToken{ref: r}
	tok.cleanup = runtime.AddCleanup(tok, func(r core.Ref) { rt.RemoveLocal(r) }, r)
	rt.NoteRef() // in a worker: collect when the call returns (see core's taskrefs.go)
	return ObjectRef[T]{ref: r, tok: tok}
}

// Ref is any ObjectRef, whatever its type: for Cancel and mixed Waits.
type Ref interface {
	// ID is the object's ID.
	ID() string
	coreRef() (core.Ref, error)
}

func failedRef[T any](err error) ObjectRef[T] { return ObjectRef[T]{err: err} }

// ID is the object's ID, "" for a reference whose submission failed.
func (r ObjectRef[T]) ID() string { return r.ref.ID }

// String prints the reference for logs.
func (r ObjectRef[T]) String() string {
	if r.err != nil {
		return "ObjectRef(failed: " + r.err.Error() + ")"
	}
	return "ObjectRef(" + r.ref.ID + ")"
}

func (r ObjectRef[T]) coreRef() (core.Ref, error) {
	if r.err != nil {
		return core.Ref{}, r.err
	}
	if r.ref.ID == "" {
		return core.Ref{}, fmt.Errorf("%w: the zero ObjectRef refers to nothing", errs.ErrBadCall)
	}
	if r.tok != nil && r.tok.released.Load() {
		return core.Ref{}, fmt.Errorf("%w: %s", errs.ErrReleased, r.ref.ID)
	}
	return r.ref, nil
}

// Release gives up this process's hold on the object now, instead of
// when the garbage collector finds the reference (and every copy of it)
// unreachable: with no other holder, the object is freed at once. It is
// Python's `del ref` for a program that must bound its memory, such as a
// pipeline streaming more data than the object store holds. Copies of r
// share its hold, so Release releases them too: using r or a copy
// afterwards (Get, passing it to a task, putting it inside a value)
// fails with ErrReleased. A second Release does nothing. References
// that travelled elsewhere (into a task's arguments, to another process)
// keep the object alive as before.
func (r ObjectRef[T]) Release() {
	if r.tok == nil || !r.tok.released.CompareAndSwap(false, true) {
		return
	}
	r.tok.cleanup.Stop()
	if rt, err := runtimeOrErr(); err == nil {
		rt.RemoveLocal(r.tok.ref)
	}
}

func (r ObjectRef[T]) elemType() reflect.Type { return reflect.TypeFor[T]() }

// Get waits for the object and returns its value. A failed task returns
// its *TaskError; a passed deadline returns an error matching both
// ErrGetTimeout and context.DeadlineExceeded.
func (r ObjectRef[T]) Get(ctx context.Context) (T, error) {
	var zero T
	cr, err := r.coreRef()
	if err != nil {
		return zero, err
	}
	rt, err := runtimeOrErr()
	if err != nil {
		return zero, err
	}
	b, err := rt.Get(ctx, cr)
	if err != nil {
		return zero, err
	}
	var v T
	if err := codec.Unmarshal(b, &v); err != nil {
		return zero, fmt.Errorf("rayo: object %s: %w", cr.ID, err)
	}
	// References inside the value are now held here: tell their owners
	// before the value's own object may go.
	rt.FlushBorrows(ctx)
	runtime.KeepAlive(r.tok)
	return v, nil
}

// EncodeMsgpack encodes the reference as msgpack extension RefExtID.
func (r ObjectRef[T]) EncodeMsgpack(enc *msgpack.Encoder) error {
	if r.err != nil {
		return fmt.Errorf("rayo: cannot pass a failed ObjectRef: %w", r.err)
	}
	if r.ref.ID == "" {
		return enc.EncodeNil() // the zero ObjectRef, in an unset field
	}
	if r.tok != nil && r.tok.released.Load() {
		return fmt.Errorf("%w: %s", errs.ErrReleased, r.ref.ID)
	}
	payload, err := msgpack.Marshal([]string{r.ref.ID, r.ref.Owner})
	if err != nil {
		return err
	}
	codec.Note(enc, r.ref)
	if err := enc.EncodeExtHeader(codec.RefExtID, len(payload)); err != nil {
		return err
	}
	_, err = enc.Writer().Write(payload)
	return err
}

// DecodeMsgpack decodes a reference encoded by EncodeMsgpack.
func (r *ObjectRef[T]) DecodeMsgpack(dec *msgpack.Decoder) error {
	if c, err := dec.PeekCode(); err == nil && c == msgpcode.Nil {
		*r = ObjectRef[T]{}
		return dec.DecodeNil()
	}
	id, n, err := dec.DecodeExtHeader()
	if err != nil {
		return err
	}
	if id != codec.RefExtID {
		return fmt.Errorf("rayo: msgpack extension %d is not an object reference", id)
	}
	payload := make([]byte, n)
	if err := dec.ReadFull(payload); err != nil {
		return err
	}
	var parts []string
	if err := msgpack.Unmarshal(payload, &parts); err != nil || len(parts) != 2 || parts[0] == "" {
		return errors.New("rayo: malformed object reference")
	}
	cr := core.Ref{ID: parts[0], Owner: parts[1]}
	rt, err := runtimeOrErr()
	if err != nil {
		*r = ObjectRef[T]{ref: cr}
		return nil
	}
	*r = newRef[T](rt, cr)
	return nil
}

// Put stores v in the cluster and returns a reference to it. The calling
// process owns the object.
func Put[T any](ctx context.Context, v T) (ObjectRef[T], error) {
	rt, err := runtimeOrErr()
	if err != nil {
		return ObjectRef[T]{}, err
	}
	if err := ctx.Err(); err != nil {
		return ObjectRef[T]{}, err
	}
	e, err := encodeValue(v)
	if err != nil {
		return ObjectRef[T]{}, fmt.Errorf("rayo: Put: %w", err)
	}
	ref, err := rt.PutBytes(ctx, e)
	if err != nil {
		return ObjectRef[T]{}, fmt.Errorf("rayo: Put: %w", err)
	}
	return newRef[T](rt, ref), nil
}

// Get waits for ref's value; see ObjectRef.Get.
func Get[T any](ctx context.Context, ref ObjectRef[T]) (T, error) { return ref.Get(ctx) }

// GetAll waits for every ref and returns their values in order. It
// returns the first error met, in the order of refs.
func GetAll[T any](ctx context.Context, refs []ObjectRef[T]) ([]T, error) {
	out := make([]T, len(refs))
	for i, r := range refs {
		v, err := r.Get(ctx)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// duplicateID returns an ID that appears twice in refs ("" if none). An
// open-addressing set of indexes, its table kept between calls, costs
// half what a Go map did: a Wait in a loop (over what the last one left,
// as ray_perf's "wait 1k refs" does) checks every ref each time.
func duplicateID(refs []core.Ref) string {
	n := 8
	for n < 2*len(refs) {
		n <<= 1
	}
	tp := dupSlots.Get().(*[]int32)
	defer dupSlots.Put(tp)
	if cap(*tp) < n {
		*tp = make([]int32, n)
	}
	slots := (*tp)[:n]
	clear(slots)
	mask := uint64(n - 1)
	for i, r := range refs {
		h := maphash.String(dupSeed, r.ID) & mask
		for slots[h] != 0 {
			if refs[slots[h]-1].ID == r.ID {
				return r.ID
			}
			h = (h + 1) & mask
		}
		slots[h] = int32(i + 1)
	}
	return ""
}

var (
	dupSeed  = maphash.MakeSeed()
	dupSlots = sync.Pool{New: func() any { return new([]int32) }}
)

// Wait returns once numReady of refs are ready (finished, with a value or
// an error) or timeout has passed; a negative timeout waits without limit.
// As in Ray, ready holds at most numReady refs (the first ready ones, in
// the order of refs), and notReady the rest, in order. Each ref may appear
// once: a duplicate is an ErrInvalidOption, as Ray refuses it. WaitRefs
// does the same over refs of different types.
func Wait[T any](ctx context.Context, refs []ObjectRef[T], numReady int, timeout time.Duration) (ready, notReady []ObjectRef[T], err error) {
	crs := make([]core.Ref, len(refs))
	for i, r := range refs {
		crs[i], _ = r.coreRef() // a failed one is the zero core.Ref
	}
	isReady, err := waitReady(ctx, crs, numReady, timeout)
	if err != nil {
		return nil, nil, err
	}
	ready, notReady = splitReady(refs, isReady, numReady)
	return ready, notReady, nil
}

// waitReady is the logic of Wait and WaitRefs, written once: crs are the
// refs' core refs, the zero core.Ref for one whose submission failed. It
// returns which refs are ready. (Each caller fills crs in its own typed
// loop: a method call through a type parameter cannot be inlined, and a
// Wait in a loop over 1k refs would pay for it on every ref.)
func waitReady(ctx context.Context, crs []core.Ref, numReady int, timeout time.Duration) ([]bool, error) {
	if numReady < 0 || numReady > len(crs) {
		return nil, fmt.Errorf("%w: Wait: numReady %d is not within 0..%d", errs.ErrInvalidOption, numReady, len(crs))
	}
	rt, err := runtimeOrErr()
	if err != nil {
		return nil, err
	}
	isReady := make([]bool, len(crs))
	var waitIdx []int
	for i := range crs {
		if crs[i].ID == "" {
			isReady[i] = true // a failed submission is "ready": Get reports it
			continue
		}
		waitIdx = append(waitIdx, i)
	}
	sub := make([]core.Ref, len(waitIdx))
	for j, i := range waitIdx {
		sub[j] = crs[i]
	}
	if id := duplicateID(sub); id != "" {
		// As Ray: a ref counted twice would make numReady ambiguous.
		return nil, fmt.Errorf("%w: Wait: ref %s appears more than once", errs.ErrInvalidOption, id)
	}
	need := numReady - (len(crs) - len(waitIdx))
	if need > 0 {
		got, err := rt.Wait(ctx, sub, need, timeout)
		if err != nil {
			return nil, err
		}
		for _, j := range got {
			isReady[waitIdx[j]] = true
		}
	}
	return isReady, nil
}

// splitReady puts the first numReady ready refs in ready and the rest in
// notReady, each in the order of refs.
func splitReady[R any](refs []R, isReady []bool, numReady int) (ready, notReady []R) {
	for i, r := range refs {
		if isReady[i] && len(ready) < numReady {
			ready = append(ready, r)
		} else {
			notReady = append(notReady, r)
		}
	}
	return ready, notReady
}

// Cancel cancels the task that produces ref. A task still queued never
// runs; a running task's context is cancelled (Go cannot stop a goroutine:
// the task must watch ctx), or with force its worker process is killed.
// As in Ray, the tasks it submitted are cancelled too, recursively, unless
// Recursive(false) is given (its actor calls as well, never forced); any
// process holding ref may cancel (the request goes to the task's owner).
// Get on a cancelled task's ref returns an error matching
// ErrTaskCancelled. Cancelled tasks are not retried.
//
// On an actor call's ref (Ray's ray.cancel on an actor task), a call not
// yet started (queued in the caller or at the actor) is dropped and never
// runs; a running call's ctx is cancelled, and if the method then returns
// an error its ref fails with ErrTaskCancelled (a value it returns anyway
// is kept). Recursive reaches what the call submitted when its actor runs
// one call at a time (MaxConcurrency 1, no ConcurrencyGroups). force is
// refused with ErrInvalidOption, as Ray's: use Kill.
func Cancel(ref Ref, force bool, opts ...CancelOption) error {
	o := cancelOptions{recursive: true}
	for _, f := range opts {
		f(&o)
	}
	rt, err := runtimeOrErr()
	if err != nil {
		return err
	}
	cr, err := ref.coreRef()
	if err != nil {
		return err
	}
	return rt.Cancel(cr, force, o.recursive)
}
