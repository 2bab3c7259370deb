package batch

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestFullBatchDispatchesWithoutWaiting(t *testing.T) {
	rec := newRecorder(false)
	// The clock never moves: only a full batch can be dispatched.
	b, _ := newTest(t, rec.fn, Config{MaxBatchSize: 4, BatchWaitTimeout: time.Hour})
	var chans []<-chan result
	for i := 1; i <= 4; i++ {
		chans = append(chans, goCall(context.Background(), b, i))
	}
	got := recv(t, rec.started)
	slices.Sort(got)
	if !slices.Equal(got, []int{1, 2, 3, 4}) {
		t.Fatalf("batch %v, want [1 2 3 4]", got)
	}
	for i, ch := range chans {
		if r := recv(t, ch); r.err != nil || r.out != (i+1)*10 {
			t.Errorf("caller %d got %+v", i+1, r)
		}
	}
}

func TestPartialBatchDispatchesAtTimeout(t *testing.T) {
	rec := newRecorder(false)
	b, clk := newTest(t, rec.fn, Config{MaxBatchSize: 10, BatchWaitTimeout: 10 * time.Millisecond})
	var chans []<-chan result
	for i := 1; i <= 3; i++ {
		chans = append(chans, goCall(context.Background(), b, i))
		waitUntil(t, fmt.Sprintf("%d queued", i), queued(b, i))
	}
	clk.advance(9 * time.Millisecond)
	rec.noBatch(t)
	if s := b.Stats(); s.Queued != 3 || s.Batches != 0 {
		t.Fatalf("before the timeout: %+v", s)
	}
	clk.advance(time.Millisecond)
	got := recv(t, rec.started)
	if !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("batch %v, want [1 2 3] in arrival order", got)
	}
	for i, ch := range chans {
		if r := recv(t, ch); r.err != nil || r.out != (i+1)*10 {
			t.Errorf("caller %d got %+v", i+1, r)
		}
	}
}

// An item that queued while every slot was busy has been waiting all that
// time: once the slot frees it waits out only the rest of its timeout.
func TestWaitCountsFromArrivalNotFromFreeSlot(t *testing.T) {
	rec := newRecorder(true)
	b, clk := newTest(t, rec.fn, Config{MaxBatchSize: 2, BatchWaitTimeout: 10 * time.Millisecond})
	c1 := goCall(context.Background(), b, 1)
	c2 := goCall(context.Background(), b, 2)
	recv(t, rec.started) // [1 2] runs, holding the only slot
	c3 := goCall(context.Background(), b, 3)
	waitUntil(t, "3 queued", queued(b, 1))
	clk.advance(6 * time.Millisecond)
	rec.noBatch(t) // 3 is not due yet, and no slot is free anyway
	close(rec.gate)
	recv(t, c1)
	recv(t, c2)
	waitUntil(t, "the slot freed", func() bool { return b.Stats().Running == 0 })
	clk.advance(3 * time.Millisecond)
	rec.noBatch(t)
	clk.advance(time.Millisecond) // 10 ms since 3 arrived
	if got := recv(t, rec.started); !slices.Equal(got, []int{3}) {
		t.Fatalf("second batch %v", got)
	}
	if r := recv(t, c3); r.out != 30 {
		t.Fatalf("caller 3 got %+v", r)
	}
}

func TestResultsMapToCallers(t *testing.T) {
	rec := newRecorder(false)
	b, _ := newTest(t, rec.fn, Config{MaxBatchSize: 5, BatchWaitTimeout: time.Hour, MaxConcurrentBatches: 3})
	const n = 100 // a multiple of the batch size: no batch waits for the clock
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			out, err := b.Call(context.Background(), i)
			if err != nil || out != i*10 {
				errs <- fmt.Errorf("caller %d: got %d, %v", i, out, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s := b.Stats(); s.Batches != n/5 || s.Items != n || s.FailedBatches != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestFailedBatchFailsEveryCaller(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name  string
		fn    func(context.Context, []int) ([]int, error)
		check func(error) bool
	}{
		{"error", func(context.Context, []int) ([]int, error) { return nil, boom },
			func(err error) bool { return err == boom }},
		{"too few results", func(_ context.Context, items []int) ([]int, error) { return items[1:], nil },
			func(err error) bool { return errors.Is(err, ErrBadBatch) }},
		{"too many results", func(_ context.Context, items []int) ([]int, error) { return append(items, 0), nil },
			func(err error) bool { return errors.Is(err, ErrBadBatch) }},
		{"panic with a string", func(context.Context, []int) ([]int, error) { panic("kaput") },
			func(err error) bool {
				var pe *PanicError
				return errors.Is(err, ErrPanic) && errors.As(err, &pe) && pe.Value == "kaput" && len(pe.Stack) > 0 &&
					err.Error() == "batch: fn panicked: kaput"
			}},
		{"panic with an error", func(context.Context, []int) ([]int, error) { panic(boom) },
			func(err error) bool { return errors.Is(err, ErrPanic) && errors.Is(err, boom) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var fail atomic.Bool
			fail.Store(true)
			fn := func(ctx context.Context, items []int) ([]int, error) {
				if fail.Load() {
					return tc.fn(ctx, items)
				}
				return items, nil
			}
			b, _ := newTest(t, fn, Config{MaxBatchSize: 3, BatchWaitTimeout: time.Hour})
			c := []<-chan result{goCall(context.Background(), b, 1), goCall(context.Background(), b, 2), goCall(context.Background(), b, 3)}
			for i, ch := range c {
				if r := recv(t, ch); !tc.check(r.err) || r.out != 0 {
					t.Errorf("caller %d got %+v", i+1, r)
				}
			}
			if s := b.Stats(); s.Batches != 1 || s.FailedBatches != 1 {
				t.Errorf("stats %+v", s)
			}
			// The batcher lives on.
			fail.Store(false)
			c = []<-chan result{goCall(context.Background(), b, 4), goCall(context.Background(), b, 5), goCall(context.Background(), b, 6)}
			for _, ch := range c {
				if r := recv(t, ch); r.err != nil {
					t.Errorf("after the failure: %+v", r)
				}
			}
		})
	}
}

func TestCancelBeforeDispatchRemovesTheItem(t *testing.T) {
	rec := newRecorder(false)
	b, clk := newTest(t, rec.fn, Config{MaxBatchSize: 10, BatchWaitTimeout: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	c1 := goCall(ctx, b, 1)
	waitUntil(t, "1 queued", queued(b, 1))
	c2 := goCall(context.Background(), b, 2)
	waitUntil(t, "2 queued", queued(b, 2))
	cancel()
	if r := recv(t, c1); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled caller got %+v", r)
	}
	if s := b.Stats(); s.Queued != 1 {
		t.Fatalf("queued %d after the cancel, want 1", s.Queued)
	}
	clk.advance(10 * time.Millisecond)
	if got := recv(t, rec.started); !slices.Equal(got, []int{2}) {
		t.Fatalf("batch %v, want only [2]", got)
	}
	if r := recv(t, c2); r.out != 20 {
		t.Fatalf("caller 2 got %+v", r)
	}
}

func TestCancelledContextBeforeCall(t *testing.T) {
	rec := newRecorder(false)
	b, _ := newTest(t, rec.fn, Config{MaxBatchSize: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Call(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	rec.noBatch(t)
}

func TestCancelAfterDispatchReturnsAtOnce(t *testing.T) {
	rec := newRecorder(true)
	b, _ := newTest(t, rec.fn, Config{MaxBatchSize: 2, BatchWaitTimeout: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	c1 := goCall(ctx, b, 1)
	c2 := goCall(context.Background(), b, 2)
	recv(t, rec.started) // dispatched, fn blocked on the gate
	cancel()
	if r := recv(t, c1); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled caller got %+v", r)
	}
	select {
	case r := <-c2:
		t.Fatalf("the other caller returned before its batch ended: %+v", r)
	default:
	}
	close(rec.gate)
	if r := recv(t, c2); r.err != nil || r.out != 20 {
		t.Fatalf("caller 2 got %+v", r)
	}
	waitUntil(t, "batch done", func() bool { return b.Stats().Running == 0 })
	if s := b.Stats(); s.Batches != 1 || s.Items != 2 || s.FailedBatches != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestMaxConcurrentBatches(t *testing.T) {
	for _, conc := range []int{1, 3} {
		t.Run(fmt.Sprint(conc), func(t *testing.T) {
			var running, peak atomic.Int32
			rec := newRecorder(true)
			fn := func(ctx context.Context, items []int) ([]int, error) {
				n := running.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				defer running.Add(-1)
				return rec.fn(ctx, items)
			}
			b, _ := newTest(t, fn, Config{MaxBatchSize: 1, MaxConcurrentBatches: conc})
			const n = 8
			var chans []<-chan result
			for i := range n {
				chans = append(chans, goCall(context.Background(), b, i))
			}
			for range conc {
				recv(t, rec.started)
			}
			waitUntil(t, "the rest queued", queued(b, n-conc))
			rec.noBatch(t)
			if s := b.Stats(); s.Running != conc {
				t.Fatalf("running %d, want %d", s.Running, conc)
			}
			close(rec.gate)
			for _, ch := range chans {
				if r := recv(t, ch); r.err != nil {
					t.Fatal(r.err)
				}
			}
			if p := peak.Load(); p != int32(conc) {
				t.Fatalf("peak concurrency %d, want %d", p, conc)
			}
		})
	}
}

// With NoWait and one slot, items that arrive while a batch runs form the
// next batch together (Ray's opportunistic batching).
func TestNoWaitBatchesWhatArrivedMeanwhile(t *testing.T) {
	rec := newRecorder(true)
	b, _ := newTest(t, rec.fn, Config{MaxBatchSize: 10, BatchWaitTimeout: NoWait})
	c1 := goCall(context.Background(), b, 1)
	if got := recv(t, rec.started); !slices.Equal(got, []int{1}) {
		t.Fatalf("first batch %v", got)
	}
	var rest []<-chan result
	for i := 2; i <= 4; i++ {
		rest = append(rest, goCall(context.Background(), b, i))
		waitUntil(t, fmt.Sprintf("%d queued", i-1), queued(b, i-1))
	}
	close(rec.gate)
	recv(t, c1)
	got := recv(t, rec.started)
	if !slices.Equal(got, []int{2, 3, 4}) {
		t.Fatalf("second batch %v, want [2 3 4]", got)
	}
	for _, ch := range rest {
		if r := recv(t, ch); r.err != nil {
			t.Fatal(r.err)
		}
	}
}

func TestSetMaxBatchSizeDispatchesANowFullBatch(t *testing.T) {
	rec := newRecorder(false)
	b, _ := newTest(t, rec.fn, Config{MaxBatchSize: 10, BatchWaitTimeout: time.Hour})
	var chans []<-chan result
	for i := 1; i <= 3; i++ {
		chans = append(chans, goCall(context.Background(), b, i))
		waitUntil(t, fmt.Sprintf("%d queued", i), queued(b, i))
	}
	rec.noBatch(t)
	if err := b.SetMaxBatchSize(2); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, rec.started); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("batch %v, want [1 2]", got)
	}
	recv(t, chans[0])
	recv(t, chans[1])
	// Item 3 is alone and waits for the (hour-long) timeout.
	waitUntil(t, "3 still queued", queued(b, 1))
	rec.noBatch(t)
	if err := b.SetMaxBatchSize(1); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, rec.started); !slices.Equal(got, []int{3}) {
		t.Fatalf("batch %v, want [3]", got)
	}
	recv(t, chans[2])
}

func TestSetBatchWaitTimeoutAppliesToQueuedItems(t *testing.T) {
	rec := newRecorder(false)
	b, clk := newTest(t, rec.fn, Config{MaxBatchSize: 10, BatchWaitTimeout: time.Hour})
	c := goCall(context.Background(), b, 1)
	waitUntil(t, "1 queued", queued(b, 1))
	clk.advance(5 * time.Millisecond)
	rec.noBatch(t)
	if err := b.SetBatchWaitTimeout(5 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, rec.started); !slices.Equal(got, []int{1}) {
		t.Fatalf("batch %v", got)
	}
	recv(t, c)
	if err := b.SetBatchWaitTimeout(NoWait); err != nil {
		t.Fatal(err)
	}
	// No wait: a lone item goes at once, the clock standing still.
	if r := recv(t, goCall(context.Background(), b, 2)); r.out != 20 {
		t.Fatalf("got %+v", r)
	}
}

func TestOnBatchSeesSizesAndDurations(t *testing.T) {
	type obs struct {
		size int
		dur  time.Duration
	}
	seen := make(chan obs, 10)
	var clk *fakeClock
	fn := func(_ context.Context, items []int) ([]int, error) {
		clk.advance(time.Duration(len(items)) * time.Millisecond) // fn "takes" 1 ms per item
		if slices.Min(items) < 0 {
			return nil, errors.New("negative")
		}
		return items, nil
	}
	cfg := Config{MaxBatchSize: 3, BatchWaitTimeout: time.Hour, OnBatch: func(size int, dur time.Duration) { seen <- obs{size, dur} }}
	clk = newFakeClock()
	b, err := newBatcher(fn, cfg, clk)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, first := range []int{1, -1} {
		c := []<-chan result{goCall(context.Background(), b, first), goCall(context.Background(), b, 2), goCall(context.Background(), b, 3)}
		for _, ch := range c {
			recv(t, ch)
		}
		if o := recv(t, seen); o.size != 3 || o.dur != 3*time.Millisecond {
			t.Fatalf("OnBatch(%d, %v), want (3, 3ms)", o.size, o.dur)
		}
	}
	if s := b.Stats(); s.Batches != 2 || s.Items != 6 || s.FailedBatches != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestCloseFailsQueuedCallers(t *testing.T) {
	rec := newRecorder(false)
	b, _ := newTest(t, rec.fn, Config{MaxBatchSize: 10, BatchWaitTimeout: time.Hour})
	c1 := goCall(context.Background(), b, 1)
	c2 := goCall(context.Background(), b, 2)
	waitUntil(t, "2 queued", queued(b, 2))
	b.Close()
	for _, ch := range []<-chan result{c1, c2} {
		if r := recv(t, ch); !errors.Is(r.err, ErrClosed) {
			t.Fatalf("queued caller got %+v", r)
		}
	}
	rec.noBatch(t)
	if _, err := b.Call(context.Background(), 3); !errors.Is(err, ErrClosed) {
		t.Fatalf("Call after Close: %v", err)
	}
	b.Close() // again: no panic, no hang
}

func TestCloseCancelsAndWaitsForRunningBatch(t *testing.T) {
	rec := newRecorder(true) // fn returns ctx.Err() when the batcher's context ends
	b, _ := newTest(t, rec.fn, Config{MaxBatchSize: 1})
	c := goCall(context.Background(), b, 1)
	recv(t, rec.started)
	b.Close()
	// Close returned, so the batch has ended and its caller has its error.
	select {
	case r := <-c:
		if !errors.Is(r.err, context.Canceled) {
			t.Fatalf("caller got %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("caller did not get the batch's error")
	}
	if s := b.Stats(); s.Running != 0 || s.Batches != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// Many callers with random cancellations and a Close in the middle: every
// Call returns, with a result, ctx.Err() or ErrClosed; goleak (TestMain)
// checks nothing is left running.
func TestStressCancelAndClose(t *testing.T) {
	b, err := New(func(_ context.Context, items []int) ([]int, error) { return items, nil },
		Config{MaxBatchSize: 4, BatchWaitTimeout: 50 * time.Microsecond, MaxConcurrentBatches: 2})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				ctx, cancel := context.WithCancel(context.Background())
				if (g+i)%7 == 0 {
					cancel()
				}
				out, err := b.Call(ctx, i)
				cancel()
				switch {
				case err == nil && out != i:
					t.Errorf("got %d for %d", out, i)
				case err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, ErrClosed):
					t.Errorf("unexpected error %v", err)
				}
			}
		})
	}
	wg.Go(func() {
		for b.Stats().Items < 1000 {
			runtime.Gosched()
		}
		b.Close()
	})
	wg.Wait()
	b.Close()
}

// With the real clock, a lone item still goes once its wait is over.
func TestRealClockPartialBatch(t *testing.T) {
	b, err := New(func(_ context.Context, items []int) ([]int, error) { return items, nil },
		Config{MaxBatchSize: 10, BatchWaitTimeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if out, err := b.Call(context.Background(), 7); err != nil || out != 7 {
		t.Fatalf("got %d, %v", out, err)
	}
}
