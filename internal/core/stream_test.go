package core

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// ownerForTest is a runtime with only what an owner's stream table needs:
// no server, no node (items are inline).
func ownerForTest(t *testing.T) *Runtime {
	t.Helper()
	rt := &Runtime{addr: "owner:1", store: newMemStore(), refs: newRefTable(), lin: newLineage(),
		objs: &storeClient{pins: map[string]int{}}, closed: make(chan struct{})}
	rt.sub = newSubmitter(rt)
	t.Cleanup(func() { close(rt.closed); rt.wg.Wait() })
	return rt
}

func item(task string, i int) *protocol.StreamItemRequest {
	return &protocol.StreamItemRequest{TaskID: task, Index: i, Value: []byte{byte(i)}}
}

func serve(t *testing.T, rt *Runtime, req *protocol.StreamItemRequest) *protocol.StreamItemReply {
	t.Helper()
	reply, err := rt.serveStreamItem(context.Background(), req)
	if err != nil {
		t.Fatalf("item %d: %v", req.Index, err)
	}
	return reply
}

func end(t *testing.T, rt *Runtime, id string, n int) {
	t.Helper()
	b, err := rpc.Marshal(&protocol.StreamEnd{Items: n})
	if err != nil {
		t.Fatal(err)
	}
	rt.endStream(id, b, nil)
}

// next takes the next item, checks its value, and drops it as a consumer
// that let its ObjectRef go would.
func next(t *testing.T, rt *Runtime, id string, want int) {
	t.Helper()
	r, err := rt.StreamNext(context.Background(), id)
	if err != nil {
		t.Fatalf("Next, want item %d: %v", want, err)
	}
	if r.ID != protocol.StreamItemID(id, want) {
		t.Fatalf("Next: %s, want item %d", r.ID, want)
	}
	a, err := rt.lookup(context.Background(), r)
	if err != nil || len(a.V) != 1 || a.V[0] != byte(want) {
		t.Fatalf("item %d: %v, %v", want, a.V, err)
	}
	if local, _, _, _, ok := rt.RefCounts(r.ID); !ok || local != 1 {
		t.Fatalf("item %d: the stream's hold: local %d (%t), want 1", want, local, ok)
	}
	rt.RemoveLocal(r)
	if rt.store.get(r.ID) != nil {
		t.Fatalf("item %d is still held after its last reference went", want)
	}
}

func TestStreamOwnerOrderDedupAndEnd(t *testing.T) {
	rt := ownerForTest(t)
	rt.openStream("t", &StreamOptions{})
	// Item 1 before item 0 (not from one attempt, but the table copes):
	// nothing is received until 0 arrives.
	if r := serve(t, rt, item("t", 1)); r.Stop || r.Dup {
		t.Fatalf("item 1: %+v", r)
	}
	if rt.streamSkip("t") != 0 {
		t.Fatalf("skip %d with item 0 missing", rt.streamSkip("t"))
	}
	serve(t, rt, item("t", 0))
	if rt.streamSkip("t") != 2 {
		t.Fatalf("skip %d, want 2", rt.streamSkip("t"))
	}
	// A retried attempt's copy of an index the owner holds is dropped.
	if r := serve(t, rt, item("t", 0)); !r.Dup {
		t.Fatalf("a repeated item 0: %+v, want Dup", r)
	}
	if !rt.streamMayHold(protocol.StreamItemID("t", 2)) || rt.streamMayHold(protocol.StreamItemID("x", 2)) {
		t.Fatal("streamMayHold: an open stream's next item may be on its way; another's not")
	}
	next(t, rt, "t", 0)
	end(t, rt, "t", 2)
	next(t, rt, "t", 1)
	for range 2 {
		if _, err := rt.StreamNext(context.Background(), "t"); !errors.Is(err, io.EOF) {
			t.Fatalf("after the last item: %v, want io.EOF", err)
		}
	}
	if rt.streamMayHold(protocol.StreamItemID("t", 2)) {
		t.Fatal("an ended stream may hold no item past its count")
	}
	rt.CloseStream("t")
	if _, err := rt.StreamNext(context.Background(), "t"); !errors.Is(err, errs.ErrBadCall) {
		t.Fatalf("Next on a closed stream: %v, want ErrBadCall", err)
	}
}

func TestStreamOwnerErrorEnd(t *testing.T) {
	rt := ownerForTest(t)
	rt.openStream("t", &StreamOptions{})
	serve(t, rt, item("t", 0))
	rt.endStream("t", nil, errs.NewTaskError("f", "t", errs.ErrWorkerCrashed, errors.New("died"), "", false).ToWire())
	// A late item of the dead attempt is refused.
	if r := serve(t, rt, item("t", 1)); !r.Stop {
		t.Fatalf("an item after the end: %+v, want Stop", r)
	}
	if rt.store.get(protocol.StreamItemID("t", 1)) != nil {
		t.Fatal("a refused item is held")
	}
	next(t, rt, "t", 0)
	if _, err := rt.StreamNext(context.Background(), "t"); !errors.Is(err, errs.ErrWorkerCrashed) {
		t.Fatalf("after the items: %v, want the task's error", err)
	}
	// A second end (a late reply) changes nothing.
	end(t, rt, "t", 5)
	if _, err := rt.StreamNext(context.Background(), "t"); !errors.Is(err, errs.ErrWorkerCrashed) {
		t.Fatalf("after a second end: %v", err)
	}
}

func TestStreamOwnerBackpressure(t *testing.T) {
	rt := ownerForTest(t)
	rt.openStream("t", &StreamOptions{Backpressure: 2})
	serve(t, rt, item("t", 0)) // 1 ahead: answered at once
	done := make(chan *protocol.StreamItemReply, 1)
	go func() {
		r, _ := rt.serveStreamItem(context.Background(), item("t", 1))
		done <- r
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rt.WaitStreamState(ctx, "t", func(rec, _ int, _ bool) bool { return rec == 2 }); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		t.Fatalf("item 1 answered while the producer is 2 ahead: %+v", r)
	default:
	}
	next(t, rt, "t", 0)
	if r := <-done; r.Stop || r.Dup {
		t.Fatalf("item 1 after a Next: %+v", r)
	}
	// Closing the stream answers a waiting producer with Stop and frees
	// the items not taken.
	go func() {
		r, _ := rt.serveStreamItem(context.Background(), item("t", 2))
		done <- r
	}()
	if err := rt.WaitStreamState(ctx, "t", func(rec, _ int, _ bool) bool { return rec == 3 }); err != nil {
		t.Fatal(err)
	}
	rt.CloseStream("t")
	if r := <-done; !r.Stop {
		t.Fatalf("a waiting item after Close: %+v, want Stop", r)
	}
	for i := 1; i <= 2; i++ {
		if rt.store.get(protocol.StreamItemID("t", i)) != nil {
			t.Fatalf("item %d outlived Close", i)
		}
	}
	if r := serve(t, rt, item("t", 3)); !r.Stop {
		t.Fatalf("an item after Close: %+v, want Stop", r)
	}
	if rt.streamMayHold(protocol.StreamItemID("t", 3)) {
		t.Fatal("a closed stream may hold nothing")
	}
}

// A consumer waiting in Next wakes for an item, for the end, and for its
// context.
func TestStreamOwnerNextWaits(t *testing.T) {
	rt := ownerForTest(t)
	rt.openStream("t", &StreamOptions{})
	got := make(chan error, 1)
	go func() {
		_, err := rt.StreamNext(context.Background(), "t")
		got <- err
	}()
	serve(t, rt, item("t", 0))
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, err := rt.StreamNext(ctx, "t")
		got <- err
	}()
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled Next: %v", err)
	}
}
