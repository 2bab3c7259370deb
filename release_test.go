package rayo_test

import (
	"context"
	"errors"
	"testing"

	"github.com/rayo-dev/rayo"
)

var tEchoBytes = rayo.Register[[]byte]("test.release.echo", func(b []byte) ([]byte, error) { return b, nil })

// TestRelease: a released ref (and its copies) is unusable, the object it
// held is freed at once when nothing else holds it, and a second Release
// is harmless.
func TestRelease(t *testing.T) {
	ctx := initEmbedded(t)
	if !rayo.IsInitialized() {
		t.Fatal("IsInitialized is false after Init")
	}
	big := make([]byte, 1<<20) // stored in the shared-memory store
	ref, err := rayo.Put(ctx, big)
	if err != nil {
		t.Fatal(err)
	}
	copyOf := ref
	id := ref.ID()
	if !inStore(t, ctx, id) {
		t.Fatalf("object %s not in the store", id)
	}
	ref.Release()
	ref.Release()
	if _, err := copyOf.Get(ctx); !errors.Is(err, rayo.ErrReleased) {
		t.Fatalf("Get after Release: %v", err)
	}
	if _, err := tEchoBytes.Remote(copyOf).Get(ctx); !errors.Is(err, rayo.ErrReleased) {
		t.Fatalf("passing a released ref: %v", err)
	}
	if _, err := rayo.Put(ctx, []rayo.ObjectRef[[]byte]{ref}); !errors.Is(err, rayo.ErrReleased) {
		t.Fatalf("nesting a released ref: %v", err)
	}
	// Freed at once: no collection needed.
	if _, _, _, _, ok := rayo.RefCountsForTest(id); ok {
		t.Fatalf("the runtime still counts %s after Release", id)
	}
	waitFor(t, "the released object to leave the store", func() bool { return !inStore(t, ctx, id) })

	// A ref still held by a task's arguments stays alive until the task
	// is done with it.
	ref2, err := rayo.Put(ctx, big)
	if err != nil {
		t.Fatal(err)
	}
	out := tEchoBytes.Remote(ref2)
	ref2.Release()
	got, err := out.Get(ctx)
	if err != nil || len(got) != len(big) {
		t.Fatalf("a task given a ref released after submission: %d bytes, %v", len(got), err)
	}
}

// inStore reports whether the driver node's store holds the object.
func inStore(t *testing.T, ctx context.Context, id string) bool {
	t.Helper()
	st, err := rayo.StoreForTest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range st.Objects {
		if o.ObjectID == id {
			return true
		}
	}
	return false
}
