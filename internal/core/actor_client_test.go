package core

import (
	"errors"
	"testing"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// newTestCall is an actor call holding arg, as SubmitActorCall makes it.
func newTestCall(rt *Runtime, arg Ref, retries int) *actorCall {
	id := rt.nextID()
	c := &actorCall{obj: rt.store.create(id), args: []TaskArg{{Ref: &arg}}, retries: retries, name: "A.m",
		req: protocol.ActorCallRequest{ActorID: "actor1", TaskID: id, Method: "m", OwnerAddr: rt.Addr()}}
	c.refs = argRefs(c.args)
	rt.addSubmitted(c.refs)
	return c
}

// A reply that arrives after the loss of its connection was noticed (the
// call went back in the queue to be resent) finishes the call once: it
// leaves the queue, and its arguments are released once.
func TestActorCallReplyAfterConnectionLost(t *testing.T) {
	for _, tc := range []struct {
		name    string
		retries int // 0: the call waits aside (lost) for the actor's fate
	}{
		{"requeued", 1},
		{"lost", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := newTestRuntime(t, newFakeCluster())
			arg := putInline(t, rt, "arg")
			rt.AddLocal(arg)
			rt.addSubmitted([]Ref{arg}) // another call holding it
			ac := rt.actorClient("actor1")
			c := newTestCall(rt, arg, tc.retries)
			rt.actorsMu.Lock()
			ac.inflight = append(ac.inflight, c)
			ac.connLostLocked()
			rt.actorsMu.Unlock()
			body, err := rpc.Marshal(&protocol.PushTaskReply{Value: []byte("v")})
			if err != nil {
				t.Fatal(err)
			}
			ac.replied(c, body, nil)
			ac.replied(c, body, nil) // a duplicate is ignored
			rt.actorsMu.Lock()
			queued, lost := len(ac.queue), len(ac.lost) // else it would run again
			rt.actorsMu.Unlock()
			ac.failWaiting(errors.New("gone")) // would fail it a second time
			if v, err := getResult(t, rt, Ref{ID: c.req.TaskID, Owner: rt.Addr()}); err != nil || string(v) != "v" {
				t.Fatalf("Get = %q, %v", v, err)
			}
			if queued != 0 || lost != 0 {
				t.Fatalf("queue %d, lost %d: the finished call is still waiting", queued, lost)
			}
			if _, submitted, _, _, _ := rt.RefCounts(arg.ID); submitted != 1 {
				t.Fatalf("argument submitted count = %d; want 1 (the other call's)", submitted)
			}
		})
	}
}

// A call still resolving its arguments when the actor's waiting calls
// fail is finished by that failure only; the resolution's own failure
// does not release its arguments again.
func TestActorCallFailedWhileResolving(t *testing.T) {
	rt := newTestRuntime(t, newFakeCluster())
	arg := putInline(t, rt, "arg")
	rt.AddLocal(arg)
	rt.addSubmitted([]Ref{arg}) // another call holding it
	dep := Ref{ID: rt.nextID(), Owner: rt.Addr()}
	rt.store.create(dep.ID).complete(nil, errs.NewTaskError("dep", dep.ID, errs.ErrTaskFailed, errors.New("dep failed"), "", false).ToWire())
	ac := rt.actorClient("actor1")
	c := newTestCall(rt, arg, 0)
	c.args = append(c.args, TaskArg{Ref: &dep})
	rt.actorsMu.Lock()
	ac.queue = append(ac.queue, c)
	rt.actorsMu.Unlock()
	ac.failWaiting(errs.ErrHeadUnavailable)
	ac.resolveArgs(c) // fails on dep, after the call was failed
	_, err := getResult(t, rt, Ref{ID: c.req.TaskID, Owner: rt.Addr()})
	if !errors.Is(err, errs.ErrHeadUnavailable) {
		t.Fatalf("Get error = %v; want ErrHeadUnavailable", err)
	}
	if _, submitted, _, _, _ := rt.RefCounts(arg.ID); submitted != 1 {
		t.Fatalf("argument submitted count = %d; want 1 (the other call's)", submitted)
	}
}
