package core

import (
	"context"
	"time"

	"github.com/rayo-dev/rayo/internal/protocol"
)

// Actor lifetimes, after Ray: a non-detached actor lives while any
// handle to it exists anywhere. Its creator owns an object that stands
// for the actor's handles: every handle carries a reference to it, so
// the reference counting of refs.go (local counts, submitted and nested
// references, borrowers in other processes) counts the handles too. When
// that object is freed, the last handle is gone and the actor is killed
// (out of scope); a named actor's name is free again with it.

// handleObjectSuffix makes an actor's handle object ID from the actor's.
const handleObjectSuffix = ".handles"

// ownActorHandle registers this process as the owner of the object
// standing for the handles of the actor it just created.
func (rt *Runtime) ownActorHandle(actorID string, ctorArgs []Ref) Ref {
	r := Ref{ID: actorID + handleObjectSuffix, Owner: rt.Addr()}
	rt.refs.mu.Lock()
	if rt.refs.actorHandles == nil {
		rt.refs.actorHandles = map[string]string{}
		rt.refs.actorArgs = map[string][]Ref{}
	}
	rt.refs.actorHandles[r.ID] = actorID
	if len(ctorArgs) > 0 {
		rt.refs.actorArgs[actorID] = ctorArgs
	}
	rt.entryLocked(r)
	rt.refs.mu.Unlock()
	return r
}

// OwnedActorHandle returns the reference the handles of an actor this
// process created carry; false for an actor whose handles are not
// counted (detached, or created elsewhere).
func (rt *Runtime) OwnedActorHandle(actorID string) (Ref, bool) {
	r := Ref{ID: actorID + handleObjectSuffix, Owner: rt.Addr()}
	rt.refs.mu.Lock()
	defer rt.refs.mu.Unlock()
	_, ok := rt.refs.actorHandles[r.ID]
	return r, ok
}

// actorHandleFreedLocked kills the actor whose handle object was just
// freed: no handle to it is left.
func (rt *Runtime) actorHandleFreedLocked(id string) {
	actorID, ok := rt.refs.actorHandles[id]
	if !ok {
		return
	}
	delete(rt.refs.actorHandles, id)
	args := rt.refs.actorArgs[actorID]
	delete(rt.refs.actorArgs, actorID)
	select {
	case <-rt.closed:
		return // the job's end ends its actors
	default:
	}
	rt.wg.Add(1)
	go func() {
		defer rt.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := rt.KillActor(ctx, actorID, true, protocol.DeathOutOfScope); err != nil {
			rt.log.Debug("ending an actor out of scope failed", "actor", actorID, "err", err)
		}
		// It will not restart: what its constructor's arguments refer to
		// (objects, other actors' handles) may go.
		rt.removeSubmitted(args)
	}()
}
