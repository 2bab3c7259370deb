package rayo

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/vmihailenco/msgpack/v5"

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
	err error // the submission failed; Get returns it
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
	return r.ref, nil
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
	return v, nil
}

// EncodeMsgpack encodes the reference as msgpack extension RefExtID.
func (r ObjectRef[T]) EncodeMsgpack(enc *msgpack.Encoder) error {
	if r.err != nil {
		return fmt.Errorf("rayo: cannot pass a failed ObjectRef: %w", r.err)
	}
	payload, err := msgpack.Marshal([]string{r.ref.ID, r.ref.Owner})
	if err != nil {
		return err
	}
	if err := enc.EncodeExtHeader(codec.RefExtID, len(payload)); err != nil {
		return err
	}
	_, err = enc.Writer().Write(payload)
	return err
}

// DecodeMsgpack decodes a reference encoded by EncodeMsgpack.
func (r *ObjectRef[T]) DecodeMsgpack(dec *msgpack.Decoder) error {
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
	r.ref, r.err = core.Ref{ID: parts[0], Owner: parts[1]}, nil
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
	ref, err := rt.PutBytes(ctx, e.Header, e.Data)
	if err != nil {
		return ObjectRef[T]{}, fmt.Errorf("rayo: Put: %w", err)
	}
	return ObjectRef[T]{ref: ref}, nil
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

// Wait returns once numReady of refs are ready (finished, with a value or
// an error) or timeout has passed; a negative timeout waits without limit.
// ready and notReady keep the order of refs. Like Ray's wait, the call
// may return more than numReady ready refs.
func Wait[T any](ctx context.Context, refs []ObjectRef[T], numReady int, timeout time.Duration) (ready, notReady []ObjectRef[T], err error) {
	if numReady < 0 || numReady > len(refs) {
		return nil, nil, fmt.Errorf("%w: Wait: numReady %d is not within 0..%d", errs.ErrInvalidOption, numReady, len(refs))
	}
	rt, err := runtimeOrErr()
	if err != nil {
		return nil, nil, err
	}
	crs := make([]core.Ref, len(refs))
	isReady := make([]bool, len(refs))
	var waitIdx []int
	for i, r := range refs {
		cr, err := r.coreRef()
		if err != nil {
			isReady[i] = true // a failed submission is "ready": Get reports it
			continue
		}
		crs[i] = cr
		waitIdx = append(waitIdx, i)
	}
	sub := make([]core.Ref, len(waitIdx))
	for j, i := range waitIdx {
		sub[j] = crs[i]
	}
	need := numReady - (len(refs) - len(waitIdx))
	if need > 0 {
		got, err := rt.Wait(ctx, sub, need, timeout)
		if err != nil {
			return nil, nil, err
		}
		for _, j := range got {
			isReady[waitIdx[j]] = true
		}
	}
	for i, r := range refs {
		if isReady[i] {
			ready = append(ready, r)
		} else {
			notReady = append(notReady, r)
		}
	}
	return ready, notReady, nil
}

// Cancel cancels the task that produces ref. A task still queued never
// runs; a running task's context is cancelled (Go cannot stop a goroutine:
// the task must watch ctx), or with force its worker process is killed.
// Get on a cancelled task's ref returns an error matching ErrTaskCancelled.
// Cancelled tasks are not retried.
func Cancel(ref Ref, force bool) error {
	rt, err := runtimeOrErr()
	if err != nil {
		return err
	}
	cr, err := ref.coreRef()
	if err != nil {
		return err
	}
	return rt.Cancel(cr, force)
}
