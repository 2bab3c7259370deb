package core

import (
	"context"
	"errors"
	"testing"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
)

// A group admits calls up to its limit, queues the rest in order, starts
// the next as one ends, and drops a queued call on request.
func TestConcGroup(t *testing.T) {
	calls := make([]*hostedCall, 5)
	for i := range calls {
		calls[i] = &hostedCall{req: protocol.ActorCallRequest{TaskID: string(rune('a' + i))}}
	}
	g := &concGroup{limit: 2}
	for i, want := range []bool{true, true, false, false, false} {
		if got := g.admit(calls[i]); got != want {
			t.Fatalf("admit call %d: %v, want %v", i, got, want)
		}
	}
	if g.running != 2 || len(g.queue) != 3 {
		t.Fatalf("running %d, queued %d; want 2 and 3", g.running, len(g.queue))
	}
	if c := g.next(); c != nil {
		t.Fatalf("next at the limit: %v", c.req.TaskID)
	}
	if !g.remove(calls[3]) || g.remove(calls[3]) || g.remove(calls[0]) {
		t.Fatal("remove: a queued call once, never a running one")
	}
	g.done()
	if c := g.next(); c != calls[2] {
		t.Fatalf("next after one ended: %v, want c", c)
	}
	if c := g.next(); c != nil {
		t.Fatalf("next at the limit again: %v", c.req.TaskID)
	}
	g.done()
	g.done()
	if c := g.next(); c != calls[4] {
		t.Fatalf("next: %v, want e", c)
	}
	if c := g.next(); c != nil || g.running != 1 || len(g.queue) != 0 {
		t.Fatalf("drained: next %v, running %d, queued %d", c, g.running, len(g.queue))
	}
	// A free slot with nothing queued admits at once.
	if !g.admit(calls[0]) {
		t.Fatal("admit below the limit with an empty queue")
	}
}

func TestHostGroups(t *testing.T) {
	spec := protocol.ActorSpec{Class: "C", MaxConcurrency: 0, ConcurrencyGroups: map[string]int{"io": 3, "bad": 0}}
	h := &actorHost{spec: spec}
	h.defGroup, h.groups = newGroups(&spec)
	if h.defGroup.limit != 1 || h.groups["io"].limit != 3 || h.groups["bad"].limit != 1 {
		t.Fatalf("limits: default %d, io %d, bad %d; want 1, 3, 1", h.defGroup.limit, h.groups["io"].limit, h.groups["bad"].limit)
	}
	c := &hostedCall{req: protocol.ActorCallRequest{TaskID: "t", Method: "M"}}
	for name, want := range map[string]*concGroup{"": h.defGroup, DefaultConcurrencyGroup: h.defGroup, "io": h.groups["io"]} {
		if g, terr := h.groupLocked(c, name); terr != nil || g != want {
			t.Errorf("group %q: %v, %v", name, g, terr)
		}
	}
	g, terr := h.groupLocked(c, "nope")
	if g != nil || terr == nil || !errors.Is(terr.ToWire().Err(), errs.ErrInvalidOption) || terr.TaskName != "C.M" {
		t.Fatalf("unknown group: %v, %v", g, terr)
	}
	c.req.Name = "shown"
	if _, terr := h.groupLocked(c, "nope"); terr == nil || terr.TaskName != "shown" {
		t.Fatalf("unknown group, named call: %v", terr)
	}
	if def, named := newGroups(&protocol.ActorSpec{MaxConcurrency: 4}); def.limit != 4 || named != nil {
		t.Fatalf("no groups: default %d, named %v", def.limit, named)
	}
}

// A cancelled call that fails reports ErrTaskCancelled; one that returned
// a value, or failed without being cancelled, keeps its outcome.
func TestCancelledOutcome(t *testing.T) {
	c := &hostedCall{req: protocol.ActorCallRequest{TaskID: "t"}}
	failed := errs.NewTaskError("n", "t", errs.ErrTaskFailed, errors.New("context canceled"), "", false)
	if got := cancelledOutcome(c, "n", failed); got != failed {
		t.Fatalf("not cancelled: %v", got)
	}
	c.cancelled.Store(true)
	if got := cancelledOutcome(c, "n", nil); got != nil {
		t.Fatalf("cancelled, returned a value: %v", got)
	}
	if got := cancelledOutcome(c, "n", failed); got == nil || got.Cause != errs.ErrTaskCancelled {
		t.Fatalf("cancelled and failed: %v", got)
	}
}

// A pipelined serial actor's call gives its slot back once, when handed
// over (or at its end, whichever is first); elsewhere HandedOver does
// nothing.
func TestHandedOverReleasesOnce(t *testing.T) {
	spec := protocol.ActorSpec{Class: "C"}
	for _, pipelined := range []bool{true, false} {
		h := &actorHost{spec: spec, pipelined: pipelined}
		h.defGroup, h.groups = newGroups(&spec)
		c := &hostedCall{host: h, group: h.defGroup}
		if !h.defGroup.admit(c) {
			t.Fatal("an idle group did not admit the call")
		}
		ctx := withCall(context.Background(), c)
		HandedOver(ctx)
		want := 1
		if pipelined {
			want = 0
		}
		if h.defGroup.running != want {
			t.Fatalf("pipelined %v: %d running after HandedOver, want %d", pipelined, h.defGroup.running, want)
		}
		HandedOver(ctx)
		h.release(c) // the call's end
		if h.defGroup.running != 0 {
			t.Fatalf("pipelined %v: %d running after the call's end, want 0", pipelined, h.defGroup.running)
		}
	}
	HandedOver(context.Background()) // outside a call: nothing
}

// A submission's parent: the task named, else the only one running.
func TestParentOfASubmission(t *testing.T) {
	s := &submitter{}
	if id, p := s.parentLocked(""); p != nil {
		t.Fatalf("nothing runs, yet parent %q", id)
	}
	leaveA := s.enterTask("a")
	if id, p := s.parentLocked(""); p == nil || id != "a" {
		t.Fatalf("one runs: parent %q, want a", id)
	}
	leaveB := s.enterTask("b")
	if id, p := s.parentLocked(""); p != nil {
		t.Fatalf("two run (a pipelined actor's calls): parent %q, want none unless named", id)
	}
	if id, p := s.parentLocked("b"); p == nil || id != "b" {
		t.Fatalf("named b: parent %q", id)
	}
	if _, p := s.parentLocked("gone"); p != nil {
		t.Fatal("a named task that does not run is no parent")
	}
	leaveA()
	leaveB()
}
