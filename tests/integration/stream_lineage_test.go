package integration_test

import (
	"bytes"
	"errors"
	"iter"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

// linItems yields n stored items of size bytes, item i filled from seed+i.
var linItems = rayo.RegisterStream[[]byte]("itest.lin.items", func(n, size int, seed byte) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		for i := range n {
			if !yield(linItem(size, seed+byte(i)), nil) {
				return
			}
		}
	}
})

func linItem(size int, seed byte) []byte {
	b := make([]byte, size)
	for j := range b {
		b[j] = seed + byte(j%251)
	}
	return b
}

// Items of a finished streaming task whose every copy was on a node that
// died are rebuilt by running the task again (Ray's lineage of generator
// returns): on a Get, and as a task's argument.
func TestStreamItemLineageReconstruction(t *testing.T) {
	c := startCluster(t)
	connect(t, c)
	ctx := withTimeout(t, 2*time.Minute)
	onSpecial := rayo.Resources(special)
	const n, size = 3, 1 << 20
	takeAll := func(s *rayo.ObjectRefStream[[]byte]) []rayo.ObjectRef[[]byte] {
		t.Helper()
		var refs []rayo.ObjectRef[[]byte]
		for r, err := range s.All(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			refs = append(refs, r) // refs only: the copies stay on the special node
		}
		if len(refs) != n {
			t.Fatalf("%d items, want %d", len(refs), n)
		}
		return refs
	}
	refs := takeAll(linItems.Options(onSpecial).Remote(n, size, byte(3)))

	c.KillNode(t, specialProc(t, c))
	c.AddNode(t, testcluster.NodeSpec{CPUs: 1, Resources: special})

	for _, i := range []int{2, 0} {
		got, err := refs[i].Get(ctx)
		if err != nil {
			t.Fatalf("Get of lost item %d: %v", i, err)
		}
		if !bytes.Equal(got, linItem(size, 3+byte(i))) {
			t.Fatalf("rebuilt item %d differs", i)
		}
	}
	// As an argument: the task that takes it has it rebuilt first.
	doubled, err := linDouble.Remote(refs[1]).Get(ctx)
	if err != nil {
		t.Fatalf("a task given a lost item: %v", err)
	}
	want := linItem(size, 4)
	for j := range want {
		want[j] *= 2
	}
	if !bytes.Equal(doubled, want) {
		t.Fatal("the task given a rebuilt item computed something else")
	}

	// MaxRetries(0) keeps no lineage: a lost item is ErrObjectLost.
	refs = takeAll(linItems.Options(onSpecial, rayo.MaxRetries(0)).Remote(n, size, byte(9)))
	c.KillNode(t, specialProc(t, c))
	if _, err := refs[0].Get(ctx); !errors.Is(err, rayo.ErrObjectLost) {
		t.Fatalf("a lost item without lineage: %v, want ErrObjectLost", err)
	}
}
