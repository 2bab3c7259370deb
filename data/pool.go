package data

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/rayo-dev/rayo"
)

// Stateful functions run on an autoscaling pool of actors (Ray Data's
// ActorPoolStrategy): each actor builds the function's state once (loads
// a model) and then processes bundle after bundle, up to a limit of
// calls in flight. The pool starts at its minimum size, grows by one
// actor at a time while inputs wait and every actor is busy, and gives
// back idle actors beyond the minimum.

// udfActor is a pool member: one instance of a class function's state.
type udfActor struct {
	state any
}

var udfActorType = rayo.RegisterActor[udfActor]("rayo.data.udfActor", func(ctx context.Context, fn string, args []byte) (*udfActor, error) {
	def, err := lookupFn(fn, kindClass)
	if err != nil {
		return nil, err
	}
	state, err := def.newState(ctx, args)
	if err != nil {
		return nil, &UDFError{Op: "constructor", Fn: fn, Err: err}
	}
	return &udfActor{state: state}, nil
})

var udfProcess = rayo.RegisterStreamMethod[[]byte](udfActorType, "process", func(a *udfActor, ctx context.Context, spec mapSpec, blocks ...[]byte) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		em := newEmitter(spec.Target, yield)
		em.close(runChain(ctx, spec.Ops, a.state, blocks, em))
	}
}).Options(rayo.StreamBackpressure(2), rayo.MaxTaskRetries(3)) // as tasks: see taskOptions; retried on a restarted actor

// poolIdle is how long an actor beyond the pool's minimum may stay idle.
const poolIdle = 5 * time.Second

// poolActor is an actor of a pool.
type poolActor struct {
	h         rayo.ActorHandle[udfActor]
	inFlight  int
	idleSince time.Time
}

// actorPool is a physActor operator's actors.
type actorPool struct {
	actors  []*poolActor
	pending int // actors being started
	dead    bool
}

// dispatchActorLocked sends a bundle to the least busy actor with room,
// reporting false when none has.
func (e *executor) dispatchActorLocked(op *opState, bundle []blockRef) bool {
	// Work waits until the pool's minimum is up (as Ray's pool does), so
	// that a fixed-size pool shares it from the start.
	if op.pool == nil || (op.pool.pending > 0 && len(op.pool.actors) < op.mopts.MinActors) {
		return false
	}
	var best *poolActor
	for _, a := range op.pool.actors {
		if a.inFlight < op.mopts.PerActor && (best == nil || a.inFlight < best.inFlight) {
			best = a
		}
	}
	if best == nil {
		return false
	}
	best.inFlight++
	h := best.h
	spec := mapSpec{Ops: op.ops, Target: e.cfg.targetBlock}
	refs := make([]any, 0, len(bundle)+1)
	refs = append(refs, spec)
	for _, b := range bundle {
		refs = append(refs, b.Ref)
	}
	e.launchLocked(op, bundle, func() *rayo.ObjectRefStream[[]byte] {
		return udfProcess.Remote(h, refs...)
	})
	op.tasks[len(op.tasks)-1].actor = best
	return true
}

// scaleActorsLocked starts the pool, grows it while work waits and every
// actor is busy, and gives back idle actors beyond the minimum.
func (e *executor) scaleActorsLocked(op *opState) {
	if op.pool == nil {
		op.pool = &actorPool{}
		for range op.mopts.MinActors {
			e.startActorLocked(op)
		}
		return
	}
	p := op.pool
	busy := true
	for _, a := range p.actors {
		if a.inFlight < op.mopts.PerActor {
			busy = false
		}
	}
	if len(op.in) > 0 && busy && p.pending == 0 && len(p.actors) < op.mopts.MaxActors {
		e.startActorLocked(op)
	}
	if len(op.in) == 0 && len(p.actors) > op.mopts.MinActors {
		kept := p.actors[:0]
		killed := 0
		for _, a := range p.actors {
			if a.inFlight == 0 && len(p.actors)-killed > op.mopts.MinActors && time.Since(a.idleSince) > poolIdle {
				killed++
				h := a.h
				e.wg.Add(1)
				go func() {
					defer e.wg.Done()
					_ = rayo.Kill(context.WithoutCancel(e.ctx), h, true)
				}()
				continue
			}
			kept = append(kept, a)
		}
		p.actors = kept
	}
}

// startActorLocked starts one actor; it joins the pool when ready.
func (e *executor) startActorLocked(op *opState) {
	op.pool.pending++
	if op.started.IsZero() {
		op.started = time.Now()
	}
	opts := append(op.resourceOptions(), rayo.MaxConcurrency(op.mopts.PerActor), rayo.MaxRestarts(3))
	fn, args := op.class.name, op.class.args
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		h, err := udfActorType.Options(opts...).New(e.ctx, fn, args)
		if err == nil {
			err = h.Ready(e.ctx)
		}
		e.mu.Lock()
		op.pool.pending--
		if err != nil {
			e.mu.Unlock()
			if h.ID() != "" {
				_ = rayo.Kill(context.WithoutCancel(e.ctx), h, true)
			}
			e.fail(opError(op.label, fmt.Errorf("starting an actor of the pool: %w", err)))
			return
		}
		if op.pool.dead {
			e.mu.Unlock()
			_ = rayo.Kill(context.WithoutCancel(e.ctx), h, true)
			return
		}
		op.pool.actors = append(op.pool.actors, &poolActor{h: h, idleSince: time.Now()})
		op.stats.Actors = len(op.pool.actors)
		e.progress = time.Now()
		e.mu.Unlock()
		e.poke()
	}()
}

// shutdown kills the pool's actors (called with e.mu held; the kills run
// without it).
func (p *actorPool) shutdown(e *executor) {
	if p.dead {
		return
	}
	p.dead = true
	actors := p.actors
	p.actors = nil
	for _, a := range actors {
		h := a.h
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			_ = rayo.Kill(context.WithoutCancel(e.ctx), h, true)
		}()
	}
}
