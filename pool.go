package rayo

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"

	"github.com/rayo-dev/rayo/internal/errs"
)

// ActorPool spreads work over a fixed set of actors, like Ray's
// ActorPool: each actor runs one submitted call at a time, and results
// come back in submission order (GetNext, PoolMap) or as they finish
// (GetNextUnordered, PoolMapUnordered). It is safe for concurrent use.
type ActorPool[A, R any] struct {
	mu      sync.Mutex
	idle    []ActorHandle[A]
	waiting []func(ActorHandle[A]) ObjectRef[R] // submitted while no actor was idle
	running []poolCall[A, R]                    // in submission order
}

type poolCall[A, R any] struct {
	ref   ObjectRef[R]
	actor ActorHandle[A]
	seq   uint64
}

// ErrPoolEmpty is returned by GetNext when nothing was submitted.
var ErrPoolEmpty = errors.New("rayo: no pending results in the actor pool")

// NewActorPool makes a pool of the given actors.
func NewActorPool[A, R any](actors ...ActorHandle[A]) *ActorPool[A, R] {
	return &ActorPool[A, R]{idle: append([]ActorHandle[A](nil), actors...)}
}

// Submit schedules fn on an idle actor: fn makes the call (for example
// method.Remote(actor, value)). With no actor idle, it runs when one is
// freed by GetNext or GetNextUnordered.
func (p *ActorPool[A, R]) Submit(fn func(ActorHandle[A]) ObjectRef[R]) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) == 0 {
		p.waiting = append(p.waiting, fn)
		return
	}
	p.startLocked(fn)
}

var poolSeq struct {
	sync.Mutex
	n uint64
}

func (p *ActorPool[A, R]) startLocked(fn func(ActorHandle[A]) ObjectRef[R]) {
	a := p.idle[len(p.idle)-1]
	p.idle = p.idle[:len(p.idle)-1]
	poolSeq.Lock()
	poolSeq.n++
	seq := poolSeq.n
	poolSeq.Unlock()
	p.running = append(p.running, poolCall[A, R]{ref: fn(a), actor: a, seq: seq})
}

// HasNext reports whether results are pending.
func (p *ActorPool[A, R]) HasNext() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.running)+len(p.waiting) > 0
}

// HasFree reports whether an actor is idle.
func (p *ActorPool[A, R]) HasFree() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle) > 0 && len(p.waiting) == 0
}

// GetNext returns the next result in submission order.
func (p *ActorPool[A, R]) GetNext(ctx context.Context) (R, error) {
	p.mu.Lock()
	if len(p.running) == 0 {
		p.mu.Unlock()
		var zero R
		return zero, ErrPoolEmpty
	}
	c := p.running[0]
	p.mu.Unlock()
	v, err := c.ref.Get(ctx)
	if err != nil && ctx.Err() != nil {
		return v, err // the call is still pending; keep it
	}
	p.finish(c.seq)
	return v, err
}

// GetNextUnordered returns whichever pending result is ready first.
func (p *ActorPool[A, R]) GetNextUnordered(ctx context.Context) (R, error) {
	var zero R
	p.mu.Lock()
	if len(p.running) == 0 {
		p.mu.Unlock()
		return zero, ErrPoolEmpty
	}
	refs := make([]ObjectRef[R], len(p.running))
	seqs := make([]uint64, len(p.running))
	for i, c := range p.running {
		refs[i], seqs[i] = c.ref, c.seq
	}
	p.mu.Unlock()
	ready, _, err := Wait(ctx, refs, 1, -1)
	if err != nil {
		return zero, err
	}
	if len(ready) == 0 {
		return zero, fmt.Errorf("%w: actor pool: nothing became ready", errs.ErrGetTimeout)
	}
	for i, r := range refs {
		if r.ID() == ready[0].ID() {
			v, err := r.Get(ctx)
			p.finish(seqs[i])
			return v, err
		}
	}
	return zero, errors.New("rayo: actor pool lost track of a call")
}

// finish frees the actor of a completed call and starts waiting work.
func (p *ActorPool[A, R]) finish(seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, c := range p.running {
		if c.seq == seq {
			p.running = append(p.running[:i], p.running[i+1:]...)
			p.idle = append(p.idle, c.actor)
			break
		}
	}
	for len(p.waiting) > 0 && len(p.idle) > 0 {
		fn := p.waiting[0]
		p.waiting = p.waiting[1:]
		p.startLocked(fn)
	}
}

// PoolMap applies fn to every value over the pool's actors and yields the
// results in the order of values. Stop iterating to abandon the rest.
func PoolMap[A, V, R any](ctx context.Context, p *ActorPool[A, R], values []V, fn func(ActorHandle[A], V) ObjectRef[R]) iter.Seq2[R, error] {
	return poolMap(ctx, p, values, fn, p.GetNext)
}

// PoolMapUnordered is PoolMap yielding results as they finish.
func PoolMapUnordered[A, V, R any](ctx context.Context, p *ActorPool[A, R], values []V, fn func(ActorHandle[A], V) ObjectRef[R]) iter.Seq2[R, error] {
	return poolMap(ctx, p, values, fn, p.GetNextUnordered)
}

func poolMap[A, V, R any](ctx context.Context, p *ActorPool[A, R], values []V, fn func(ActorHandle[A], V) ObjectRef[R], next func(context.Context) (R, error)) iter.Seq2[R, error] {
	return func(yield func(R, error) bool) {
		// Drain what was submitted before, as Ray's map does.
		for p.HasNext() {
			if _, err := next(ctx); errors.Is(err, ErrPoolEmpty) || ctx.Err() != nil {
				break
			}
		}
		for _, v := range values {
			p.Submit(func(a ActorHandle[A]) ObjectRef[R] { return fn(a, v) })
		}
		for p.HasNext() {
			r, err := next(ctx)
			if !yield(r, err) {
				return
			}
			if ctx.Err() != nil {
				return
			}
		}
	}
}
