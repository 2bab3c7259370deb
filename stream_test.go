package rayo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/rayo-dev/rayo"
)

// streamItem is an item that says which process produced it; Pad makes
// it a stored object when it is large.
type streamItem struct {
	I   int
	Pid int
	Pad []byte
}

// boxed is an item that holds a reference owned by the producer.
type boxed struct {
	Inner rayo.ObjectRef[int]
}

var (
	sCount = rayo.RegisterStream[int]("test.stream.count", func(n int) iter.Seq2[int, error] {
		return func(yield func(int, error) bool) {
			for i := 0; i < n; i++ {
				if !yield(i, nil) {
					return
				}
			}
		}
	})
	// sBytes yields n items: even ones of size bytes (stored, above the
	// inline limit), odd ones of 10 (inline); item i is filled with i.
	sBytes = rayo.RegisterStream[[]byte]("test.stream.bytes", func(n, size int) iter.Seq2[[]byte, error] {
		return func(yield func([]byte, error) bool) {
			for i := 0; i < n; i++ {
				sz := 10
				if i%2 == 0 {
					sz = size
				}
				if !yield(bytes.Repeat([]byte{byte(i)}, sz), nil) {
					return
				}
			}
		}
	})
	sFail = rayo.RegisterStream[int]("test.stream.fail", func(n int) iter.Seq2[int, error] {
		return func(yield func(int, error) bool) {
			for i := 0; i < n; i++ {
				if !yield(i, nil) {
					return
				}
			}
			yield(0, fmt.Errorf("boom after %d", n))
		}
	})
	sFailFirst = rayo.RegisterStream[int]("test.stream.failFirst", func() (iter.Seq2[int, error], error) {
		return nil, errors.New("no stream today")
	})
	sPanic = rayo.RegisterStream[int]("test.stream.panic", func() iter.Seq2[int, error] {
		return func(yield func(int, error) bool) {
			yield(1, nil)
			panic("mid-stream")
		}
	})
	// sForever yields until told to stop; with done set, it creates that
	// file when it returns.
	sForever = rayo.RegisterStream[int]("test.stream.forever", func(ctx context.Context, done string) iter.Seq2[int, error] {
		return func(yield func(int, error) bool) {
			defer touch(done)
			for i := 0; ; i++ {
				if !yield(i, nil) {
					return
				}
			}
		}
	})
	// sHold yields n stored items, then waits to be cancelled and creates
	// the file done.
	sHold = rayo.RegisterStream[[]byte]("test.stream.hold", func(ctx context.Context, n int, done string) iter.Seq2[[]byte, error] {
		return func(yield func([]byte, error) bool) {
			defer touch(done)
			for i := 0; i < n; i++ {
				if !yield(bytes.Repeat([]byte{byte(i)}, 200<<10), nil) {
					return
				}
			}
			<-ctx.Done()
		}
	})
	// sDie yields n items; the first attempt (no marker file yet) kills
	// its own worker before item dieAt.
	sDie = rayo.RegisterStream[streamItem]("test.stream.die", func(marker string, n, dieAt, pad int) iter.Seq2[streamItem, error] {
		return func(yield func(streamItem, error) bool) {
			for i := 0; i < n; i++ {
				if i == dieAt {
					if _, err := os.Stat(marker); err != nil {
						touch(marker)
						_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
						select {} // the signal ends the process
					}
				}
				if !yield(streamItem{I: i, Pid: os.Getpid(), Pad: make([]byte, pad)}, nil) {
					return
				}
			}
		}
	})
	sBoxed = rayo.RegisterStream[boxed]("test.stream.boxed", func(ctx context.Context, n int) iter.Seq2[boxed, error] {
		return func(yield func(boxed, error) bool) {
			for i := 0; i < n; i++ {
				r, err := rayo.Put(ctx, i*10)
				if !yield(boxed{Inner: r}, err) || err != nil {
					return
				}
			}
		}
	})

	// tTakesStream takes a stream as an argument, which cannot travel.
	tTakesStream = rayo.Register[int]("test.stream.takes", func(s *rayo.ObjectRefStream[int]) int { return 0 })

	aStreamer = rayo.RegisterActor[streamer]("test.streamer", func(base int) *streamer { return &streamer{base: base} })
	mRange    = rayo.RegisterStreamMethod[int](aStreamer, "Range", func(s *streamer, n int) iter.Seq2[int, error] {
		return func(yield func(int, error) bool) {
			for i := 0; i < n; i++ {
				s.calls++
				if !yield(s.base+i, nil) {
					return
				}
			}
		}
	})
	mCalls = rayo.RegisterMethod[int](aStreamer, "Calls", func(s *streamer) int { return s.calls })
	// mForever yields until its call is cancelled.
	mForever = rayo.RegisterStreamMethod[int](aStreamer, "Forever", func(s *streamer, ctx context.Context) iter.Seq2[int, error] {
		return func(yield func(int, error) bool) {
			for i := 0; ctx.Err() == nil; i++ {
				if !yield(i, nil) {
					return
				}
			}
			yield(0, ctx.Err())
		}
	})
	// mDie is sDie as a method: the actor's first incarnation kills its
	// own process before item dieAt.
	mDie = rayo.RegisterStreamMethod[streamItem](aStreamer, "Die", func(s *streamer, marker string, n, dieAt int) iter.Seq2[streamItem, error] {
		return func(yield func(streamItem, error) bool) {
			for i := 0; i < n; i++ {
				if i == dieAt {
					if _, err := os.Stat(marker); err != nil {
						touch(marker)
						_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
						select {}
					}
				}
				if !yield(streamItem{I: i, Pid: os.Getpid()}, nil) {
					return
				}
			}
		}
	})
)

type streamer struct{ base, calls int }

func touch(path string) {
	if path != "" {
		_ = os.WriteFile(path, nil, 0o644)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// drain takes every item of a stream and returns their values and the
// error that ended it (nil at io.EOF).
func drain[T any](ctx context.Context, t *testing.T, s *rayo.ObjectRefStream[T]) ([]T, error) {
	t.Helper()
	var out []T
	for {
		r, err := s.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		v, err := r.Get(ctx)
		if err != nil {
			t.Fatalf("item %d: %v", len(out), err)
		}
		out = append(out, v)
	}
}

// Items arrive in order, small ones inline and large ones from the store,
// and the stream ends with io.EOF (again on every later Next).
func TestStreamItems(t *testing.T) {
	ctx := initEmbedded(t)
	s := sBytes.Remote(6, 300<<10)
	if s.ID() == "" {
		t.Fatal("a submitted stream has no ID")
	}
	i := 0
	for r, err := range s.All(ctx) {
		if err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
		b, err := r.Get(ctx)
		if err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
		want := 10
		if i%2 == 0 {
			want = 300 << 10
		}
		if len(b) != want || b[0] != byte(i) || b[len(b)-1] != byte(i) {
			t.Fatalf("item %d: %d bytes starting %d, want %d of %d", i, len(b), b[0], want, i)
		}
		i++
	}
	if i != 6 {
		t.Fatalf("%d items, want 6", i)
	}
	if _, err := s.Next(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("Next after the end: %v, want io.EOF", err)
	}
	// Breaking out of All closes the stream.
	c := sCount.Remote(5)
	for _, err := range c.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		break
	}
	if _, err := c.Next(ctx); !errors.Is(err, rayo.ErrBadCall) {
		t.Fatalf("Next after breaking out of All: %v, want ErrBadCall (closed)", err)
	}
	// An empty stream ends at once.
	if got, err := drain(ctx, t, sCount.Remote(0)); err != nil || len(got) != 0 {
		t.Fatalf("empty stream: %v, %v", got, err)
	}
}

// Items hold references the producer owns: they stay usable after the
// task ended (the caller borrows them).
func TestStreamNestedRefs(t *testing.T) {
	ctx := initEmbedded(t)
	got, err := drain(ctx, t, sBoxed.Remote(3))
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range got {
		v, err := b.Inner.Get(ctx)
		if err != nil || v != i*10 {
			t.Fatalf("item %d's inner ref: %d, %v; want %d", i, v, err, i*10)
		}
	}
}

// A task error mid-stream: the items before it, then the error; the
// same for a function that fails before streaming or panics.
func TestStreamErrors(t *testing.T) {
	ctx := initEmbedded(t)
	got, err := drain(ctx, t, sFail.Remote(3))
	if len(got) != 3 || !errors.Is(err, rayo.ErrTaskFailed) || !strings.Contains(err.Error(), "boom after 3") {
		t.Fatalf("got %v, %v; want 3 items then ErrTaskFailed with the function's error", got, err)
	}
	var te *rayo.TaskError
	if !errors.As(err, &te) {
		t.Fatalf("%T is not a *TaskError", err)
	}
	if got, err := drain(ctx, t, sFailFirst.Remote()); len(got) != 0 || !errors.Is(err, rayo.ErrTaskFailed) || !strings.Contains(err.Error(), "no stream today") {
		t.Fatalf("failing before streaming: %v, %v", got, err)
	}
	got, err = drain(ctx, t, sPanic.Remote())
	if len(got) != 1 || !errors.As(err, &te) || !te.Panicked {
		t.Fatalf("panic mid-stream: %v, %v; want 1 item, then a panicked TaskError", got, err)
	}
}

// Malformed calls submit nothing: the stream fails with ErrBadCall, bad
// options with ErrInvalidOption.
func TestStreamBadCalls(t *testing.T) {
	ctx := initEmbedded(t)
	var zero rayo.ObjectRefStream[int]
	var nilStream *rayo.ObjectRefStream[int]
	cases := map[string]struct {
		s    *rayo.ObjectRefStream[int]
		want error
	}{
		"too few args":          {sCount.Remote(), rayo.ErrBadCall},
		"wrong type":            {sCount.Remote("3"), rayo.ErrBadCall},
		"wrong ref type":        {sCount.Remote(must(rayo.Put(ctx, "s"))), rayo.ErrBadCall},
		"negative backpressure": {sCount.Options(rayo.StreamBackpressure(-1)).Remote(1), rayo.ErrInvalidOption},
		"actor option":          {sCount.Options(rayo.MaxRestarts(1)).Remote(1), rayo.ErrInvalidOption},
		"bad resources":         {sCount.Options(rayo.NumCPUs(-1)).Remote(1), rayo.ErrInvalidOption},
		"method option":         {mRange.Options(rayo.NumCPUs(1)).Remote(must(aStreamer.New(ctx, 0)), 1), rayo.ErrInvalidOption},
		"zero handle":           {mRange.Remote(rayo.ActorHandle[streamer]{}, 1), rayo.ErrBadCall},
		"method arity":          {mRange.Remote(must(aStreamer.New(ctx, 0))), rayo.ErrBadCall},
		"zero stream task":      {(&rayo.StreamTask[int]{}).Remote(1), rayo.ErrBadCall},
		"nil stream task":       {(*rayo.StreamTask[int])(nil).Options(rayo.NumCPUs(1)).Remote(1), rayo.ErrBadCall},
		"zero stream method":    {(&rayo.StreamMethod[streamer, int]{}).Remote(must(aStreamer.New(ctx, 0)), 1), rayo.ErrBadCall},
		"group on a task":       {sCount.Options(rayo.ConcurrencyGroup("io")).Remote(1), rayo.ErrInvalidOption},
		"zero stream":           {&zero, rayo.ErrBadCall},
		"nil stream":            {nilStream, rayo.ErrBadCall},
	}
	for name, c := range cases {
		if _, err := c.s.Next(ctx); !errors.Is(err, c.want) {
			t.Errorf("%s: Next: %v, want %v", name, err, c.want)
		}
		if err := rayo.Cancel(c.s, false); !errors.Is(err, c.want) {
			t.Errorf("%s: Cancel: %v, want %v", name, err, c.want)
		}
		c.s.Close() // does nothing, and does not panic
	}
	// A stream cannot be passed to a task.
	if _, err := tTakesStream.Remote(sCount.Remote(1)).Get(ctx); !errors.Is(err, rayo.ErrBadCall) {
		t.Fatalf("a stream as an argument: %v, want ErrBadCall", err)
	}
	// A closed stream says so.
	s := sCount.Remote(1)
	s.Close()
	if _, err := s.Next(ctx); !errors.Is(err, rayo.ErrBadCall) {
		t.Fatalf("Next after Close: %v, want ErrBadCall", err)
	}
}

// With StreamBackpressure(n) the producer gets exactly n items ahead of
// the consumer and no further; without it, it runs to the end unread.
func TestStreamBackpressure(t *testing.T) {
	ctx := initEmbedded(t)
	const n, total = 2, 9
	s := sCount.Options(rayo.StreamBackpressure(n)).Remote(total)
	for taken := 0; taken < total; taken++ {
		// The producer runs ahead until it is n items ahead (or done)...
		want := min(taken+n, total)
		if err := rayo.WaitStreamForTest(ctx, s.ID(), func(rec, _ int, _ bool) bool { return rec >= want }); err != nil {
			t.Fatal(err)
		}
		// ... and its next yield waits for this Next: it never got
		// further (the owner takes an item before it answers the yield).
		if rec, tk, _ := rayo.StreamStateForTest(s.ID()); rec != want || tk != taken {
			t.Fatalf("after %d taken: the producer is %d items ahead, want %d", taken, rec-tk, want-taken)
		}
		r, err := s.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := r.Get(ctx); err != nil || v != taken {
			t.Fatalf("item %d: %d, %v", taken, v, err)
		}
	}
	if _, err := s.Next(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last item: %v", err)
	}
	// The default: no limit.
	u := sCount.Remote(total)
	if err := rayo.WaitStreamForTest(ctx, u.ID(), func(rec, _ int, ended bool) bool { return ended }); err != nil {
		t.Fatal(err)
	}
	if rec, tk, _ := rayo.StreamStateForTest(u.ID()); rec != total || tk != 0 {
		t.Fatalf("unbounded: %d received, %d taken; want %d, 0", rec, tk, total)
	}
	if got, err := drain(ctx, t, u); len(got) != total || err != nil {
		t.Fatalf("unbounded: %v, %v", got, err)
	}
}

// Cancel stops the producer (its yield returns false); the consumer gets
// the items already produced, then ErrTaskCancelled.
func TestStreamCancel(t *testing.T) {
	ctx := initEmbedded(t)
	for _, force := range []bool{false, true} {
		t.Run(fmt.Sprintf("force=%t", force), func(t *testing.T) {
			done := filepath.Join(t.TempDir(), "done")
			s := sForever.Options(rayo.StreamBackpressure(1)).Remote(done)
			for i := 0; i < 3; i++ {
				if _, err := s.Next(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if err := rayo.Cancel(s, force); err != nil {
				t.Fatal(err)
			}
			got, err := drain(ctx, t, s)
			if !errors.Is(err, rayo.ErrTaskCancelled) {
				t.Fatalf("after Cancel: %v, want ErrTaskCancelled", err)
			}
			if len(got) > 2 {
				t.Fatalf("%d items after Cancel with backpressure 1", len(got))
			}
			if !force && !exists(done) {
				t.Fatal("the producer did not return")
			}
		})
	}
}

// A stream the consumer closes, or drops, stops its producer and frees
// the items it did not take; the ones it took stay valid.
func TestStreamCloseAndDropFree(t *testing.T) {
	ctx := initEmbedded(t)
	for _, drop := range []bool{false, true} {
		t.Run(fmt.Sprintf("drop=%t", drop), func(t *testing.T) {
			waitFor(t, "the last subtest's objects to go", func() bool { return storeObjects(t, ctx) == 0 })
			done := filepath.Join(t.TempDir(), "done")
			s := sHold.Remote(4, done)
			first, err := s.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			id := s.ID()
			if err := rayo.WaitStreamForTest(ctx, id, func(rec, _ int, _ bool) bool { return rec == 4 }); err != nil {
				t.Fatal(err)
			}
			if n := storeObjects(t, ctx); n != 4 {
				t.Fatalf("%d objects stored, want the 4 items", n)
			}
			if drop {
				s = nil // the collector closes it (waitFor runs it)
			} else {
				s.Close()
			}
			waitFor(t, "the producer to stop and the untaken items to go", func() bool {
				return exists(done) && storeObjects(t, ctx) == 1
			})
			b, err := first.Get(ctx)
			if err != nil || len(b) != 200<<10 || b[0] != 0 {
				t.Fatalf("the item taken before Close: %d bytes, %v", len(b), err)
			}
		})
	}
}

// A worker that dies mid-stream: the task runs again (MaxRetries), the
// items the consumer holds are not sent twice, and every index arrives
// once, those before the death from the first worker.
func TestStreamRetryAfterWorkerDeath(t *testing.T) {
	ctx := initEmbedded(t)
	const n, dieAt = 8, 3
	for _, pad := range []int{0, 200 << 10} { // inline items, stored items
		marker := filepath.Join(t.TempDir(), "died")
		got, err := drain(ctx, t, sDie.Remote(marker, n, dieAt, pad))
		if err != nil {
			t.Fatalf("pad %d: %v", pad, err)
		}
		if !exists(marker) {
			t.Fatal("the first attempt did not die")
		}
		checkRetried(t, got, n, dieAt)
	}
	// Without retries the death ends the stream with ErrWorkerCrashed
	// after the items reported.
	marker2 := filepath.Join(t.TempDir(), "died")
	got, err := drain(ctx, t, sDie.Options(rayo.MaxRetries(0)).Remote(marker2, n, dieAt, 0))
	if len(got) != dieAt || !errors.Is(err, rayo.ErrWorkerCrashed) {
		t.Fatalf("no retries: %d items, %v; want %d then ErrWorkerCrashed", len(got), err, dieAt)
	}
}

// A streaming actor method: items in order, the actor's state shared
// with its other calls, backpressure as for tasks.
func TestStreamActorMethod(t *testing.T) {
	ctx := initEmbedded(t)
	a, err := aStreamer.New(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	got, err := drain(ctx, t, mRange.Remote(a, 4))
	if err != nil || fmt.Sprint(got) != "[100 101 102 103]" {
		t.Fatalf("got %v, %v", got, err)
	}
	s := mRange.Options(rayo.StreamBackpressure(1)).Remote(a, 3)
	if err := rayo.WaitStreamForTest(ctx, s.ID(), func(rec, _ int, _ bool) bool { return rec == 1 }); err != nil {
		t.Fatal(err)
	}
	if rec, _, ended := rayo.StreamStateForTest(s.ID()); rec != 1 || ended {
		t.Fatalf("backpressure 1: %d received, ended %t", rec, ended)
	}
	if got, err := drain(ctx, t, s); err != nil || len(got) != 3 {
		t.Fatalf("got %v, %v", got, err)
	}
	if n, err := mCalls.Remote(a).Get(ctx); err != nil || n != 7 {
		t.Fatalf("the actor yielded %d items, %v; want 7", n, err)
	}
}

// checkRetried checks a stream whose producer died before item dieAt and
// ran again: every index once, those before the death from the first
// process.
func checkRetried(t *testing.T, got []streamItem, n, dieAt int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%d items, want %d: %v", len(got), n, got)
	}
	for i, it := range got {
		if it.I != i {
			t.Fatalf("item %d is index %d: %v", i, it.I, got)
		}
		if first := i < dieAt; first != (it.Pid == got[0].Pid) {
			t.Fatalf("item %d came from pid %d (first process %d): %v", i, it.Pid, got[0].Pid, got)
		}
	}
}

// An actor that dies mid-stream and restarts (MaxTaskRetries) runs the
// call again; the consumer sees every index once.
func TestStreamActorRestart(t *testing.T) {
	ctx := initEmbedded(t)
	a, err := aStreamer.Options(rayo.MaxRestarts(1), rayo.MaxTaskRetries(1)).New(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "died")
	const n, dieAt = 6, 2
	got, err := drain(ctx, t, mDie.Remote(a, marker, n, dieAt))
	if err != nil {
		t.Fatal(err)
	}
	if !exists(marker) {
		t.Fatal("the first incarnation did not die")
	}
	checkRetried(t, got, n, dieAt)
}

// Cancel on a streaming actor call cancels the method's ctx (Ray's
// ray.cancel on an actor generator); force is refused, as for any actor
// call, and the actor lives on.
func TestStreamActorCancel(t *testing.T) {
	ctx := initEmbedded(t)
	h, err := aStreamer.New(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	s := mForever.Options(rayo.StreamBackpressure(1)).Remote(h)
	for i := 0; i < 3; i++ {
		if _, err := s.Next(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := rayo.Cancel(s, true); !errors.Is(err, rayo.ErrInvalidOption) {
		t.Fatalf("force Cancel of a streaming actor call: %v, want ErrInvalidOption", err)
	}
	if err := rayo.Cancel(s, false); err != nil {
		t.Fatal(err)
	}
	if _, err := drain(ctx, t, s); !errors.Is(err, rayo.ErrTaskCancelled) {
		t.Fatalf("after Cancel: %v, want ErrTaskCancelled", err)
	}
	if _, err := mCalls.Remote(h).Get(ctx); err != nil {
		t.Fatalf("the actor after its stream was cancelled: %v", err)
	}
	runtime.KeepAlive(h)
}

// Options that apply elsewhere are refused where they do not; zero and
// nil tasks and methods fail their calls with ErrBadCall, never a panic.
func TestMisplacedOptionsAndZeroValues(t *testing.T) {
	ctx := initEmbedded(t)
	h := must(aStreamer.New(ctx, 0))
	refs := map[string]struct {
		ref  rayo.ObjectRef[int]
		want error
	}{
		"StreamBackpressure on a task":   {tAdd.Options(rayo.StreamBackpressure(2)).Remote(1, 2), rayo.ErrInvalidOption},
		"StreamBackpressure on a method": {mCalls.Options(rayo.StreamBackpressure(2)).Remote(h), rayo.ErrInvalidOption},
		"ConcurrencyGroup on a task":     {tAdd.Options(rayo.ConcurrencyGroup("io")).Remote(1, 2), rayo.ErrInvalidOption},
		"zero task":                      {(&rayo.Task[int]{}).Remote(), rayo.ErrBadCall},
		"nil task":                       {(*rayo.Task[int])(nil).Options(rayo.NumCPUs(1)).Remote(), rayo.ErrBadCall},
		"zero method":                    {(&rayo.Method[streamer, int]{}).Options(rayo.Name("x")).Remote(h), rayo.ErrBadCall},
		"nil method":                     {(*rayo.Method[streamer, int])(nil).Remote(h), rayo.ErrBadCall},
	}
	for name, c := range refs {
		if _, err := c.ref.Get(ctx); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if _, err := aStreamer.Options(rayo.StreamBackpressure(2)).New(ctx, 0); !errors.Is(err, rayo.ErrInvalidOption) {
		t.Errorf("StreamBackpressure on an actor's creation: %v, want ErrInvalidOption", err)
	}
	if got := rayo.RemoteN((*rayo.Task[[]int])(nil), 2); len(got) != 2 {
		t.Errorf("RemoteN of a nil task: %d refs, want 2", len(got))
	} else if _, err := got[0].Get(ctx); !errors.Is(err, rayo.ErrBadCall) {
		t.Errorf("RemoteN of a nil task: %v, want ErrBadCall", err)
	}
	runtime.KeepAlive(h)
}

// A streaming method takes per-call options, as any actor call: here a
// concurrency group the actor lacks, and a name.
func TestStreamMethodCallOptions(t *testing.T) {
	ctx := initEmbedded(t)
	h := must(aStreamer.New(ctx, 0))
	if _, err := mRange.Options(rayo.ConcurrencyGroup("none")).Remote(h, 2).Next(ctx); !errors.Is(err, rayo.ErrInvalidOption) {
		t.Fatalf("a streaming call in a group its actor lacks: %v, want ErrInvalidOption", err)
	}
	got, err := drain(ctx, t, mRange.Options(rayo.Name("named-range"), rayo.StreamBackpressure(1)).Remote(h, 3))
	if err != nil || len(got) != 3 {
		t.Fatalf("a named streaming call: %v items, %v; want 3", len(got), err)
	}
	runtime.KeepAlive(h)
}
