package tune

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/rayo-dev/rayo"
)

// drive runs trial t on an actor: s (reused) or a new one. It reports
// each call's outcome to the runner and waits for its command. It touches
// none of t's fields: the runner owns them.
func (r *runner) drive(ctx context.Context, t *trial, s *slot, spec startSpec) {
	send := func(ev trialEvent) bool {
		ev.t = t
		select {
		case r.events <- ev:
			return true
		case <-r.done:
			return false
		}
	}
	fail := func(err error) {
		if s != nil {
			// Let a live actor remove the trial's local files (a
			// checkpoint's copy) before it goes.
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, _ = trialStop.Remote(s.h).Get(sctx)
			cancel()
			killSlot(s)
		}
		send(trialEvent{kind: eFailed, err: err})
	}
	if s == nil {
		var err error
		if s, err = r.newSlot(ctx); err != nil {
			fail(err)
			return
		}
	}
	if !send(trialEvent{kind: eStarted, actor: s}) {
		killSlot(s)
		return
	}
	isClass := r.tn.trainable.kind == kindClass
	for {
		spec.PG = s.pg // the trainable's placement group, for its workers
		if _, err := trialStart.Remote(s.h, spec).Get(ctx); err != nil {
			fail(err)
			return
		}
		restart := false
		for !restart {
			st, err := trialNext.Remote(s.h).Get(ctx)
			if err != nil {
				fail(err)
				return
			}
			var ck *trialCkpt
			if st.Ckpt != nil {
				if ck, err = r.persist(ctx, spec.TrialID, st.Ckpt); err != nil {
					fail(err)
					return
				}
				st.Ckpt = &ckptWire{Iteration: st.Ckpt.Iteration} // the bytes are stored: drop them here
			}
			if !send(trialEvent{kind: eStep, step: st, ckpt: ck}) {
				killSlot(s)
				return
			}
			var cmd command
			select {
			case cmd = <-t.ctl:
			case <-r.done:
				killSlot(s)
				return
			}
			if cmd.save && isClass {
				w, err := trialSave.Remote(s.h).Get(ctx)
				if err != nil {
					fail(err)
					return
				}
				var ck *trialCkpt
				if w != nil {
					if ck, err = r.persist(ctx, spec.TrialID, w); err != nil {
						fail(err)
						return
					}
				}
				if !send(trialEvent{kind: eSaved, ckpt: ck}) {
					killSlot(s)
					return
				}
			}
			if !cmd.end {
				continue
			}
			clean, err := trialStop.Remote(s.h).Get(ctx)
			if err != nil || !clean {
				if cmd.restart != nil {
					fail(fmt.Errorf("tune: the trainable did not stop within %v for an exploit: %v", spec.StopTimeout, err))
					return
				}
				killSlot(s)
				s = nil
			}
			if cmd.restart == nil {
				if !send(trialEvent{kind: eEnded, actor: s}) && s != nil {
					killSlot(s) // the experiment ended meanwhile: nobody reuses it
				}
				return
			}
			spec, restart = *cmd.restart, true
		}
	}
}

// persist writes a checkpoint to the experiment's storage and puts it in
// the object store, where a resume or an exploit takes it from.
func (r *runner) persist(ctx context.Context, trialID string, w *ckptWire) (*trialCkpt, error) {
	rel := filepath.Join(trialID, ckptDirName(w.Iteration))
	if w.Path == "" {
		if err := w.writeTo(filepath.Join(r.dir, rel)); err != nil {
			return nil, err
		}
	} // else the trial wrote it on the shared storage: only its path travels
	ref, err := rayo.Put(ctx, *w)
	if err != nil {
		return nil, fmt.Errorf("%w: putting a checkpoint of %s in the object store: %w", ErrStorage, trialID, err)
	}
	return &trialCkpt{iteration: w.Iteration, path: rel, dir: w.Dir, ref: &ref}, nil
}

// newSlot creates a trial actor with the trainable's resources, in a new
// placement group of its own when the trainable has a factory.
func (r *runner) newSlot(ctx context.Context) (*slot, error) {
	tr := r.tn.trainable
	opts := []rayo.Option{rayo.ConcurrencyGroups(map[string]int{controlGroup: 1})}
	s := &slot{}
	res := tr.resources
	if tr.pg != nil {
		pg, err := rayo.NewPlacementGroup(ctx, tr.pg.Bundles, tr.pg.Strategy)
		if err != nil {
			return nil, err
		}
		if err := pg.Ready(ctx); err != nil {
			_ = rayo.RemovePlacementGroup(context.Background(), pg)
			return nil, err
		}
		s.pg = pg
		opts = append(opts, rayo.InPlacementGroup(pg, 0))
		res = resourcesOf(tr.pg.Bundles[0])
	}
	opts = append(opts, rayo.NumCPUs(res.CPU))
	if res.GPU > 0 {
		opts = append(opts, rayo.NumGPUs(res.GPU))
	}
	if res.Memory > 0 {
		opts = append(opts, rayo.Memory(res.Memory))
	}
	if len(res.Custom) > 0 {
		opts = append(opts, rayo.Resources(res.Custom))
	}
	h, err := trialActorType.Options(opts...).New(ctx)
	if err != nil {
		if s.pg != nil {
			_ = rayo.RemovePlacementGroup(context.Background(), s.pg)
		}
		return nil, err
	}
	s.h = h
	return s, nil
}

// resourcesOf splits a bundle into Resources.
func resourcesOf(b map[string]float64) Resources {
	r := Resources{Custom: map[string]float64{}}
	for k, v := range b {
		switch k {
		case "CPU":
			r.CPU = v
		case "GPU":
			r.GPU = v
		case "memory":
			r.Memory = int64(v)
		default:
			r.Custom[k] = v
		}
	}
	return r
}
