package rayo_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
)

var tEcho = rayo.Register[string]("test.echo", func(s string) string { return s })

// WaitRefs takes refs of different types, keeps their order, counts a
// failed submission as ready and refuses what Wait refuses.
func TestWaitRefsMixed(t *testing.T) {
	ctx := initEmbedded(t)
	slow := tSleep.Remote(30_000) // ObjectRef[int], never ready in this test
	defer func() { _ = rayo.Cancel(slow, false) }()
	str := tEcho.Remote("hi")  // ObjectRef[string]
	failed := tAdd.Remote("x") // ObjectRef[int] whose submission failed
	num, err := rayo.Put(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := failed.Get(ctx); err == nil {
		t.Fatal("a malformed call's ref has no error")
	}
	refs := []rayo.Ref{slow, str, failed, num}
	ready, notReady, err := rayo.WaitRefs(ctx, refs, 3, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ids(ready) != ids([]rayo.Ref{str, failed, num}) || ids(notReady) != ids([]rayo.Ref{slow}) {
		t.Fatalf("ready %v, not ready %v", ready, notReady)
	}
	// The refs come back as they went in: typed again by assertion.
	if s, err := ready[0].(rayo.ObjectRef[string]).Get(ctx); err != nil || s != "hi" {
		t.Fatalf("the string ref: %q %v", s, err)
	}
	if n, err := ready[2].(rayo.ObjectRef[int]).Get(ctx); err != nil || n != 7 {
		t.Fatalf("the int ref: %d %v", n, err)
	}
	// numReady bounds ready; the rest keep their order.
	ready, notReady, err = rayo.WaitRefs(ctx, []rayo.Ref{slow, num, str}, 1, 30*time.Second)
	if err != nil || len(ready) != 1 || (ready[0].ID() != num.ID() && ready[0].ID() != str.ID()) {
		t.Fatalf("numReady 1: ready %v, %v", ready, err)
	}
	want := []rayo.Ref{slow, str}
	if ready[0].ID() == str.ID() {
		want = []rayo.Ref{slow, num}
	}
	if ids(notReady) != ids(want) {
		t.Fatalf("numReady 1: ready %v, not ready %v", ready, notReady)
	}
	// A timeout returns what is ready, without error.
	ready, notReady, err = rayo.WaitRefs(ctx, []rayo.Ref{str, slow}, 2, 10*time.Millisecond)
	if err != nil || ids(ready) != ids([]rayo.Ref{str}) || ids(notReady) != ids([]rayo.Ref{slow}) {
		t.Fatalf("timeout: ready %v, not ready %v, %v", ready, notReady, err)
	}
	if _, _, err := rayo.WaitRefs(ctx, []rayo.Ref{str, num, str}, 1, 0); !errors.Is(err, rayo.ErrInvalidOption) {
		t.Fatalf("a duplicate: %v", err)
	}
	if _, _, err := rayo.WaitRefs(ctx, []rayo.Ref{str}, 2, 0); !errors.Is(err, rayo.ErrInvalidOption) {
		t.Fatalf("numReady > len: %v", err)
	}
	if _, _, err := rayo.WaitRefs(ctx, []rayo.Ref{str}, -1, 0); !errors.Is(err, rayo.ErrInvalidOption) {
		t.Fatalf("numReady < 0: %v", err)
	}
	if _, _, err := rayo.WaitRefs(ctx, []rayo.Ref{str, nil}, 1, 0); !errors.Is(err, rayo.ErrBadCall) {
		t.Fatalf("a nil ref: %v", err)
	}
	if ready, notReady, err := rayo.WaitRefs(ctx, nil, 0, 0); err != nil || len(ready)+len(notReady) != 0 {
		t.Fatalf("no refs: %v %v %v", ready, notReady, err)
	}
	short, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := rayo.WaitRefs(short, []rayo.Ref{slow}, 1, -1); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled ctx: %v", err)
	}
}

func ids(refs []rayo.Ref) string {
	s := ""
	for _, r := range refs {
		s += r.ID() + ","
	}
	return s
}
