package collective_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rayo-dev/rayo/collective"
)

var groupSeq atomic.Int64

// groupName is a name no other test uses.
func groupName(t testing.TB) string {
	return fmt.Sprintf("%s-%d", strings.ReplaceAll(t.Name(), "/", "."), groupSeq.Add(1))
}

// joinAll joins n members as goroutines and closes them at the test's end.
func joinAll(t testing.TB, n int, opts ...collective.Option) []*collective.Comm {
	t.Helper()
	name := groupName(t)
	comms := make([]*collective.Comm, n)
	errs := each(n, func(r int) error {
		c, err := collective.Join(context.Background(), name, r, n, opts...)
		comms[r] = c
		return err
	})
	t.Cleanup(func() {
		for _, c := range comms {
			if c != nil {
				c.Close()
			}
		}
	})
	for r, err := range errs {
		if err != nil {
			t.Fatalf("Join rank %d of %d: %v", r, n, err)
		}
	}
	return comms
}

// transport is a way a group's data travels; the tests of the
// operations' semantics run over each.
type transport struct {
	name string
	opts []collective.Option
}

// transports: shared memory (in small pieces, so that modest buffers take
// the many-piece paths) and TCP.
var transports = []transport{
	{"shm", []collective.Option{collective.WithShmPiece(64 << 10)}},
	{"tcp", []collective.Option{collective.WithoutSharedMemory()}},
}

// join is joinAll over the transport; it checks that the group uses it.
func (tr transport) join(t testing.TB, n int, opts ...collective.Option) []*collective.Comm {
	t.Helper()
	comms := joinAll(t, n, append(slices.Clone(tr.opts), opts...)...)
	for r, c := range comms {
		if got := collective.Transport(c); n > 1 && got != tr.name {
			t.Fatalf("rank %d of %d uses %q, want %q", r, n, got, tr.name)
		}
	}
	return comms
}

// forTransports runs f as a subtest per transport.
func forTransports(t *testing.T, f func(t *testing.T, tr transport)) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) { f(t, tr) })
	}
}

// each runs f for ranks 0..n-1 at once and returns their errors.
func each(n int, f func(r int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Go(func() { errs[r] = f(r) })
	}
	wg.Wait()
	return errs
}

func noErrs(t testing.TB, what string, errs []error) {
	t.Helper()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("%s: rank %d: %v", what, r, err)
		}
	}
}

// input is rank r's deterministic data of length l.
func input[T collective.Float](r, l int) []T {
	out := make([]T, l)
	x := uint32(r*7919 + l + 1)
	for i := range out {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		out[i] = T(int32(x%2001)-1000) / 1000
	}
	return out
}
