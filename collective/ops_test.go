package collective_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/collective"
)

var (
	sizes   = []int{1, 2, 3, 4}
	lengths = []int{0, 1, 7, 1000, 100003}
	ops     = []collective.Op{collective.Sum, collective.Mean, collective.Min, collective.Max}
)

// sequential is the reduction computed in one place, in rank order.
func sequential[T collective.Float](ins [][]T, op collective.Op) []T {
	out := slices.Clone(ins[0])
	for _, in := range ins[1:] {
		for i, v := range in {
			switch op {
			case collective.Sum, collective.Mean:
				out[i] += v
			case collective.Min:
				out[i] = min(out[i], v)
			case collective.Max:
				out[i] = max(out[i], v)
			}
		}
	}
	if op == collective.Mean {
		for i := range out {
			out[i] /= T(len(ins))
		}
	}
	return out
}

func near[T collective.Float](t *testing.T, what string, got, want []T, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: length %d, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(float64(got[i])-float64(want[i])) > tol {
			t.Fatalf("%s: [%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

func testAllReduce[T collective.Float](t *testing.T, comms []*collective.Comm, tol float64) {
	n := len(comms)
	for _, l := range lengths {
		for _, op := range ops {
			what := fmt.Sprintf("size %d, length %d, op %d", n, l, op)
			ins := make([][]T, n)
			bufs := make([][]T, n)
			for r := range n {
				ins[r] = input[T](r, l)
				bufs[r] = slices.Clone(ins[r])
			}
			noErrs(t, what, each(n, func(r int) error {
				return collective.AllReduce(context.Background(), comms[r], bufs[r], op)
			}))
			want := sequential(ins, op)
			for r := range n {
				near(t, fmt.Sprintf("%s, rank %d", what, r), bufs[r], want, tol)
				if !slices.Equal(bufs[r], bufs[0]) {
					t.Fatalf("%s: ranks 0 and %d differ", what, r)
				}
			}
		}
	}
}

func TestAllReduce(t *testing.T) {
	forTransports(t, func(t *testing.T, tr transport) {
		for _, n := range sizes {
			comms := tr.join(t, n)
			testAllReduce[float32](t, comms, 1e-5)
			testAllReduce[float64](t, comms, 1e-12)
		}
	})
}

func TestBroadcast(t *testing.T) {
	forTransports(t, func(t *testing.T, tr transport) {
		for _, n := range sizes {
			comms := tr.join(t, n)
			for root := range n {
				for _, l := range []int{0, 1, 7, 100003, 200000} {
					bufs := make([][]float64, n)
					for r := range n {
						bufs[r] = input[float64](r, l)
					}
					want := slices.Clone(bufs[root])
					noErrs(t, "broadcast", each(n, func(r int) error {
						return collective.Broadcast(context.Background(), comms[r], bufs[r], root)
					}))
					for r := range n {
						if !slices.Equal(bufs[r], want) {
							t.Fatalf("size %d, root %d, length %d: rank %d's buffer differs from the root's", n, root, l, r)
						}
					}
				}
			}
		}
	})
}

func TestAllGather(t *testing.T) {
	forTransports(t, func(t *testing.T, tr transport) {
		for _, n := range sizes {
			comms := tr.join(t, n)
			for _, l := range []int{0, 1, 7, 100003} {
				outs := make([][]float32, n)
				noErrs(t, "allgather", each(n, func(r int) error {
					var err error
					outs[r], err = collective.AllGather(context.Background(), comms[r], input[float32](r, l))
					return err
				}))
				var want []float32
				for r := range n {
					want = append(want, input[float32](r, l)...)
				}
				for r := range n {
					if !slices.Equal(outs[r], want) {
						t.Fatalf("size %d, length %d: rank %d's result is not the inputs in rank order", n, l, r)
					}
				}
			}
		}
	})
}

func TestReduceScatter(t *testing.T) {
	forTransports(t, func(t *testing.T, tr transport) {
		for _, n := range sizes {
			comms := tr.join(t, n)
			for _, l := range lengths {
				for _, op := range ops {
					ins := make([][]float64, n)
					for r := range n {
						ins[r] = input[float64](r, l)
					}
					outs := make([][]float64, n)
					noErrs(t, "reducescatter", each(n, func(r int) error {
						in := slices.Clone(ins[r])
						var err error
						outs[r], err = collective.ReduceScatter(context.Background(), comms[r], in, op)
						if err == nil && !slices.Equal(in, ins[r]) {
							err = errors.New("the input changed")
						}
						return err
					}))
					full := sequential(ins, op)
					var joined []float64
					for r := range n {
						if want := l/n + b2i(r < l%n); len(outs[r]) != want {
							t.Fatalf("size %d, length %d: rank %d's chunk has %d elements, want %d", n, l, r, len(outs[r]), want)
						}
						joined = append(joined, outs[r]...)
					}
					near(t, fmt.Sprintf("size %d, length %d, op %d", n, l, op), joined, full, 1e-12)
				}
			}
		}
	})
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestBarrier(t *testing.T) {
	forTransports(t, func(t *testing.T, tr transport) {
		for _, n := range sizes {
			comms := tr.join(t, n)
			for range 3 {
				noErrs(t, "barrier", each(n, func(r int) error { return comms[r].Barrier(context.Background()) }))
			}
		}
	})
}

// TestSequence: operations of every kind in a row on one group keep in
// step.
func TestSequence(t *testing.T) {
	forTransports(t, func(t *testing.T, tr transport) {
		comms := tr.join(t, 3)
		noErrs(t, "sequence", each(3, func(r int) error {
			ctx, c := context.Background(), comms[r]
			for i := range 20 {
				buf := []float32{float32(r + i)}
				if err := collective.AllReduce(ctx, c, buf, collective.Max); err != nil {
					return err
				}
				if buf[0] != float32(2+i) {
					return fmt.Errorf("step %d: max %v", i, buf[0])
				}
				if err := c.Barrier(ctx); err != nil {
					return err
				}
				if err := collective.Broadcast(ctx, c, buf, i%3); err != nil {
					return err
				}
			}
			return nil
		}))
	})
}

func TestMismatch(t *testing.T) {
	cases := []struct {
		name string
		call func(r int, c *collective.Comm) error
	}{
		{"length", func(r int, c *collective.Comm) error {
			return collective.AllReduce(context.Background(), c, make([]float32, 5+r), collective.Sum)
		}},
		{"empty against one", func(r int, c *collective.Comm) error {
			return collective.AllReduce(context.Background(), c, make([]float32, r), collective.Sum)
		}},
		{"op", func(r int, c *collective.Comm) error {
			return collective.AllReduce(context.Background(), c, make([]float32, 4), collective.Op(1+r))
		}},
		{"type", func(r int, c *collective.Comm) error {
			if r == 0 {
				return collective.AllReduce(context.Background(), c, make([]float32, 4), collective.Sum)
			}
			return collective.AllReduce(context.Background(), c, make([]float64, 4), collective.Sum)
		}},
		{"operation", func(r int, c *collective.Comm) error {
			if r == 0 {
				return collective.AllReduce(context.Background(), c, make([]float32, 4), collective.Sum)
			}
			return collective.Broadcast(context.Background(), c, make([]float32, 4), 0)
		}},
		{"root", func(r int, c *collective.Comm) error {
			return collective.Broadcast(context.Background(), c, make([]float64, 4), r)
		}},
		{"allgather length", func(r int, c *collective.Comm) error {
			_, err := collective.AllGather(context.Background(), c, make([]float64, 3+r))
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forTransports(t, func(t *testing.T, tr transport) {
				comms := tr.join(t, 2)
				errs := each(2, func(r int) error { return tc.call(r, comms[r]) })
				mismatched := 0
				for r, err := range errs {
					if err == nil {
						t.Fatalf("rank %d: no error", r)
					}
					if errors.Is(err, collective.ErrMismatch) {
						mismatched++
						var re *collective.RankError
						if !errors.As(err, &re) || re.Rank != 1-r {
							t.Fatalf("rank %d: %v does not name rank %d", r, err, 1-r)
						}
					} else if !errors.Is(err, collective.ErrPeerLost) {
						t.Fatalf("rank %d: %v, want ErrMismatch or ErrPeerLost", r, err)
					}
				}
				// Over TCP only the neighbour that reads the other's header
				// may see it; in shared memory every member compares every
				// other's header at the operation's first barrier.
				if mismatched == 0 || tr.name == "shm" && mismatched != 2 {
					t.Fatalf("%d ranks saw ErrMismatch: %v", mismatched, errs)
				}
				// The group is out of step now.
				if err := comms[0].Barrier(context.Background()); !errors.Is(err, collective.ErrBroken) {
					t.Fatalf("after a failure: %v, want ErrBroken", err)
				}
			})
		})
	}
}

// TestPeerLost: a member that closes its Comm instead of taking part makes
// the others' operation fail with ErrPeerLost, not hang. (A member whose
// process is killed: TestKilledMember.)
func TestPeerLost(t *testing.T) {
	forTransports(t, func(t *testing.T, tr transport) {
		for _, n := range []int{2, 3, 4} {
			comms := tr.join(t, n)
			errs := each(n, func(r int) error {
				if r == 1 {
					return comms[r].Close()
				}
				return collective.AllReduce(context.Background(), comms[r], make([]float32, 100003), collective.Sum)
			})
			for r, err := range errs {
				if r == 1 {
					if err != nil {
						t.Fatalf("Close: %v", err)
					}
					continue
				}
				var re *collective.RankError
				if !errors.Is(err, collective.ErrPeerLost) || !errors.As(err, &re) || re.Rank < 0 || re.Rank >= n {
					t.Fatalf("size %d, rank %d: %v, want a RankError with ErrPeerLost", n, r, err)
				}
				// In shared memory the member that left tells every other
				// (over TCP, members further along the ring name a
				// neighbour).
				if tr.name == "shm" && re.Rank != 1 {
					t.Fatalf("size %d, rank %d: %v does not name rank 1", n, r, err)
				}
			}
			if err := collective.AllReduce(context.Background(), comms[1], []float32{1}, collective.Sum); !errors.Is(err, collective.ErrClosed) {
				t.Fatalf("an operation after Close: %v, want ErrClosed", err)
			}
		}
	})
}

// TestCloseDuringOp: Close from another goroutine ends the member's own
// operation in progress with ErrClosed.
func TestCloseDuringOp(t *testing.T) {
	forTransports(t, func(t *testing.T, tr transport) {
		comms := tr.join(t, 2)
		done := make(chan error, 1)
		go func() { done <- comms[0].Barrier(context.Background()) }() // rank 1 never joins in
		comms[0].Close()
		if err := <-done; !errors.Is(err, collective.ErrClosed) {
			t.Fatalf("Barrier while closed: %v, want ErrClosed", err)
		}
	})
}

func TestTimeout(t *testing.T) {
	forTransports(t, func(t *testing.T, tr transport) {
		comms := tr.join(t, 2, collective.WithOpTimeout(50*1e6))
		err := collective.AllReduce(context.Background(), comms[0], make([]float64, 10), collective.Sum) // rank 1 never calls it
		var re *collective.RankError
		if !errors.Is(err, collective.ErrTimeout) || !errors.As(err, &re) || re.Rank != 1 {
			t.Fatalf("%v, want ErrTimeout naming rank 1", err)
		}
	})
}

func TestCancel(t *testing.T) {
	forTransports(t, func(t *testing.T, tr transport) {
		comms := tr.join(t, 2)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- collective.AllReduce(ctx, comms[0], make([]float32, 10), collective.Sum) }()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("%v, want context.Canceled", err)
		}
		// Already cancelled before the call.
		if err := comms[1].Barrier(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("%v, want context.Canceled", err)
		}
	})
}

func TestBadArguments(t *testing.T) {
	forTransports(t, func(t *testing.T, tr transport) {
		comms := tr.join(t, 2)
		ctx := context.Background()
		if err := collective.AllReduce(ctx, comms[0], []float32{1}, collective.Op(9)); !errors.Is(err, collective.ErrInvalidOption) {
			t.Fatalf("a bad op: %v", err)
		}
		if _, err := collective.ReduceScatter(ctx, comms[0], []float32{1}, 0); !errors.Is(err, collective.ErrInvalidOption) {
			t.Fatalf("a bad op: %v", err)
		}
		for _, root := range []int{-1, 2} {
			if err := collective.Broadcast(ctx, comms[0], []float32{1}, root); !errors.Is(err, collective.ErrInvalidOption) {
				t.Fatalf("root %d: %v", root, err)
			}
		}
		// The group is still in step: these failed before any message.
		noErrs(t, "barrier", each(2, func(r int) error { return comms[r].Barrier(ctx) }))
	})
}

// Members that each take themselves for the root of a Broadcast larger
// than the socket buffers: every one writes; the root reads the
// acknowledgement while it writes, so the disagreement shows as
// ErrMismatch at once instead of a wait for the op timeout.
func TestBroadcastEveryMemberTheRoot(t *testing.T) {
	forTransports(t, func(t *testing.T, tr transport) {
		comms := tr.join(t, 2, collective.WithOpTimeout(time.Minute))
		start := time.Now()
		errs := each(2, func(r int) error {
			return collective.Broadcast(context.Background(), comms[r], make([]float64, 4<<20), r)
		})
		if d := time.Since(start); d > 30*time.Second {
			t.Fatalf("the broadcast took %v: it waited for a timeout", d)
		}
		found := false
		for _, err := range errs {
			found = found || errors.Is(err, collective.ErrMismatch)
		}
		if !found {
			t.Fatalf("no ErrMismatch: %v", errs)
		}
	})
}

// A failed AllGather returns no partly gathered slice.
func TestAllGatherFailedReturnsNothing(t *testing.T) {
	forTransports(t, func(t *testing.T, tr transport) {
		comms := tr.join(t, 2, collective.WithOpTimeout(200*time.Millisecond))
		out, err := collective.AllGather(context.Background(), comms[0], []float32{1, 2}) // rank 1 never calls
		if !errors.Is(err, collective.ErrTimeout) || out != nil {
			t.Fatalf("AllGather alone: %v, %v; want ErrTimeout and nil", out, err)
		}
	})
}
