package core

import (
	"errors"
	"runtime"
	"slices"
	"testing"
	"time"

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
	ac.resolveArgs(rt.ctx, c) // fails on dep, after the call was failed
	_, err := getResult(t, rt, Ref{ID: c.req.TaskID, Owner: rt.Addr()})
	if !errors.Is(err, errs.ErrHeadUnavailable) {
		t.Fatalf("Get error = %v; want ErrHeadUnavailable", err)
	}
	if _, submitted, _, _, _ := rt.RefCounts(arg.ID); submitted != 1 {
		t.Fatalf("argument submitted count = %d; want 1 (the other call's)", submitted)
	}
}

// A call whose write blocks (a stuck peer) holds up only its own actor's
// calls: another actor's call is written meanwhile, and calls made to the
// stuck actor meanwhile return at once and follow in order once the write
// goes through.
func TestActorCallWriteOutsideLock(t *testing.T) {
	rt := newTestRuntime(t, newFakeCluster())
	stuck, free := newFakeActorConn(), newFakeActorConn()
	stuck.block = make(chan struct{})
	connectActor(rt, "stuck", stuck)
	connectActor(rt, "free", free)

	first := make(chan Ref)
	go func() { first <- rt.SubmitActorCall("stuck", "A", "m", nil, nil) }()
	<-stuck.writing // the first call's write is under way, and blocked
	var later []Ref
	for range 3 {
		later = append(later, rt.SubmitActorCall("stuck", "A", "m", nil, nil))
	}
	other := rt.SubmitActorCall("free", "B", "m", nil, nil)
	if got := free.writtenIDs(); !slices.Equal(got, []string{other.ID}) {
		t.Fatalf("free actor's connection has %v; want [%s] while the other's write blocks", got, other.ID)
	}
	free.replyAll(t, "b")
	if v, err := getResult(t, rt, other); err != nil || string(v) != "b" {
		t.Fatalf("Get = %q, %v", v, err)
	}

	close(stuck.block)
	r0 := <-first
	want := []string{r0.ID, later[0].ID, later[1].ID, later[2].ID}
	if got := stuck.writtenIDs(); !slices.Equal(got, want) {
		t.Fatalf("stuck actor's calls written as %v; want %v (submission order)", got, want)
	}
	stuck.replyAll(t, "a")
	for _, r := range append([]Ref{r0}, later...) {
		if v, err := getResult(t, rt, r); err != nil || string(v) != "a" {
			t.Fatalf("Get = %q, %v", v, err)
		}
	}
}

// Calls not written because the connection broke are resent after the
// actor is back without using up a retry (unsent), in their order.
func TestActorCallUnwrittenNotRetry(t *testing.T) {
	rt := newTestRuntime(t, newFakeCluster())
	broken := newFakeActorConn()
	broken.fail = true
	ac := connectActor(rt, "a1", broken)
	rt.actorsMu.Lock()
	ac.resolving = true // no head here: the test plays the actor's return
	ac.info.MaxTaskRetries = 1
	rt.actorsMu.Unlock()
	r1 := rt.SubmitActorCall("a1", "A", "m", nil, nil)
	r2 := rt.SubmitActorCall("a1", "A", "m", nil, nil)
	rt.actorsMu.Lock()
	var queued []string
	var retries []int
	for _, c := range ac.queue {
		queued, retries = append(queued, c.req.TaskID), append(retries, c.retries)
	}
	inflight, conn := len(ac.inflight), ac.conn
	// The actor is back, on a new connection.
	back := newFakeActorConn()
	ac.info, ac.conn, ac.resolving = &protocol.ActorInfo{ActorID: "a1", State: protocol.ActorAlive, Incarnation: 2}, back, false
	ac.pumpLocked()
	rt.actorsMu.Unlock()
	ac.flush()
	if conn != nil || inflight != 0 || !slices.Equal(queued, []string{r1.ID, r2.ID}) || !slices.Equal(retries, []int{1, -2}) {
		// -2: the second was never taken from the queue (its retries not set yet).
		t.Fatalf("after a failed write: conn %v, inflight %d, queue %v, retries %v; want nil, 0, [%s %s], [1 -2]",
			conn, inflight, queued, retries, r1.ID, r2.ID)
	}
	if got := back.writtenIDs(); !slices.Equal(got, []string{r1.ID, r2.ID}) {
		t.Fatalf("resent %v; want [%s %s]", got, r1.ID, r2.ID)
	}
	back.replyAll(t, "v")
	for _, r := range []Ref{r1, r2} {
		if v, err := getResult(t, rt, r); err != nil || string(v) != "v" {
			t.Fatalf("Get = %q, %v", v, err)
		}
	}
}

// The connection is lost while a call's write is under way and another
// call waits behind it: the written one is resent using a retry, the
// unwritten one without, in their order, once the actor is back.
func TestActorCallLostDuringWrite(t *testing.T) {
	rt := newTestRuntime(t, newFakeCluster())
	stuck := newFakeActorConn()
	stuck.block = make(chan struct{})
	ac := connectActor(rt, "a1", stuck)
	rt.actorsMu.Lock()
	ac.resolving = true // no head here: the test plays the actor's return
	ac.info.MaxTaskRetries = 1
	rt.actorsMu.Unlock()

	first := make(chan Ref)
	go func() { first <- rt.SubmitActorCall("a1", "A", "m", nil, nil) }()
	<-stuck.writing
	r2 := rt.SubmitActorCall("a1", "A", "m", nil, nil) // waits in the outbox
	ac.callFailed(stuck, rpc.ErrClosed)                // the loss is noticed mid-write
	rt.actorsMu.Lock()
	deferred, queued := ac.lossDeferred, len(ac.queue)
	rt.actorsMu.Unlock()
	if !deferred || queued != 0 {
		t.Fatalf("during the write: lossDeferred %v, queue %d; want true, 0", deferred, queued)
	}
	close(stuck.block)
	r1 := <-first

	rt.actorsMu.Lock()
	var ids []string
	var retries []int
	for _, c := range ac.queue {
		ids, retries = append(ids, c.req.TaskID), append(retries, c.retries)
	}
	inflight := len(ac.inflight)
	back := newFakeActorConn()
	ac.info, ac.conn, ac.resolving = &protocol.ActorInfo{ActorID: "a1", State: protocol.ActorAlive, Incarnation: 2}, back, false
	ac.pumpLocked()
	ac.unlockFlush()
	if inflight != 0 || !slices.Equal(ids, []string{r1.ID, r2.ID}) || !slices.Equal(retries, []int{0, 1}) {
		t.Fatalf("after the write: inflight %d, queue %v, retries %v; want 0, [%s %s], [0 1]", inflight, ids, retries, r1.ID, r2.ID)
	}
	if got := stuck.writtenIDs(); !slices.Equal(got, []string{r1.ID}) {
		t.Fatalf("written on the lost connection: %v; want [%s]", got, r1.ID)
	}
	if got := back.writtenIDs(); !slices.Equal(got, []string{r1.ID, r2.ID}) {
		t.Fatalf("resent %v; want [%s %s]", got, r1.ID, r2.ID)
	}
	back.replyAll(t, "v")
	for _, r := range []Ref{r1, r2} {
		if v, err := getResult(t, rt, r); err != nil || string(v) != "v" {
			t.Fatalf("Get = %q, %v", v, err)
		}
	}
}

// A Cancel that comes while its call is being written may reach the
// worker before the call does (and find nothing there): once the write
// is done, the cancel is sent again, after the call.
func TestActorCallCancelledDuringWrite(t *testing.T) {
	rt := newTestRuntime(t, newFakeCluster())
	conn := newFakeActorConn()
	conn.block = make(chan struct{})
	connectActor(rt, "a1", conn)
	submitted := make(chan Ref)
	go func() { submitted <- rt.SubmitActorCall("a1", "A", "m", nil, nil) }()
	<-conn.writing // its write is under way, and blocked
	rt.actorsMu.Lock()
	var id string
	for k := range rt.calls {
		id = k
	}
	rt.actorsMu.Unlock()
	if found, err := rt.cancelActorCall(id, false, true); !found || err != nil {
		t.Fatalf("cancel during the write: found %v, %v", found, err)
	}
	close(conn.block)
	<-submitted
	want := []string{"cancel " + id, "call " + id, "cancel " + id}
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Equal(conn.traffic(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the connection carried %v; want %v (the cancel again after the call)", conn.traffic(), want)
		}
		runtime.Gosched()
	}
}
