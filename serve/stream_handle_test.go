package serve_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/serve"
)

// streamer is a model whose methods stream; its plain methods report
// what the streaming ones did.
type streamer struct {
	produced  atomic.Int64 // items Forever yielded
	stopped   atomic.Int64 // Forever calls that returned
	waiting   atomic.Int64 // Gated calls that wait for Release
	cancelled atomic.Int64 // Gated calls whose ctx was cancelled
	release   chan struct{}
	once      sync.Once
}

var errBadItem = errors.New("bad item")

func init() { rayo.RegisterError("serve_test.errBadItem", errBadItem) }

var streamerDep = serve.NewDeployment[streamer]("test.streamer", func() *streamer { return &streamer{release: make(chan struct{})} },
	serve.DeploymentConfig{NumCPUs: 0.25, MaxOngoingRequests: 4})

// Count yields from, from+1, ... n of them.
func (s *streamer) Count(ctx context.Context, from, n int) iter.Seq2[int, error] {
	return func(yield func(int, error) bool) {
		for i := range n {
			if !yield(from+i, nil) {
				return
			}
		}
	}
}

// Forever yields 0, 1, 2, ... until its consumer goes.
func (s *streamer) Forever() iter.Seq2[int, error] {
	return func(yield func(int, error) bool) {
		defer s.stopped.Add(1)
		for i := 0; ; i++ {
			s.produced.Add(1)
			if !yield(i, nil) {
				return
			}
		}
	}
}

// Fail yields 0..n-1, then fails as how says.
func (s *streamer) Fail(n int, how string) iter.Seq2[int, error] {
	return func(yield func(int, error) bool) {
		for i := range n {
			if !yield(i, nil) {
				return
			}
		}
		if how == "panic" {
			panic("boom")
		}
		yield(0, fmt.Errorf("item %d: %w", n, errBadItem))
	}
}

// Gated yields "a", then "b" and "c" once Release was called, or returns
// when its ctx is cancelled.
func (s *streamer) Gated(ctx context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		if !yield("a", nil) {
			return
		}
		s.waiting.Add(1)
		select {
		case <-s.release:
		case <-ctx.Done():
			s.cancelled.Add(1)
			return
		}
		_ = yield("b", nil) && yield("c", nil)
	}
}

func (s *streamer) Release() error { s.once.Do(func() { close(s.release) }); return nil }

// Stats returns produced, stopped, waiting and cancelled.
func (s *streamer) Stats() ([4]int64, error) {
	return [4]int64{s.produced.Load(), s.stopped.Load(), s.waiting.Load(), s.cancelled.Load()}, nil
}

// tokenFront is an HTTP ingress that streams a model's items as chunks.
type tokenFront struct{ model serve.DeploymentHandle }

var tokenFrontDep = serve.NewDeployment[tokenFront]("test.tokenfront", func(m serve.DeploymentHandle) *tokenFront { return &tokenFront{m} },
	serve.DeploymentConfig{NumCPUs: 0.25, StreamResponses: true})

func (f *tokenFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fl := w.(http.Flusher)
	for tok, err := range serve.Items[string](r.Context(), f.model.Stream(r.Context(), "Gated")) {
		if err != nil {
			fmt.Fprintf(w, "error: %v\n", err)
			return
		}
		fmt.Fprintln(w, tok)
		fl.Flush()
	}
}

// eventually polls cond until it holds or a minute passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling the replica's counters
	}
}

// The subtests share one application and run in order; the replica is
// killed last.
func TestHandleStreams(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	startServe(t)
	h, err := serve.Run(ctx, streamerDep.Bind(), serve.RunOptions{Name: "streams"})
	if err != nil {
		t.Fatal(err)
	}
	stats := func() [4]int64 {
		t.Helper()
		st, err := serve.Result[[4]int64](ctx, h.Call(ctx, "Stats"))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	// noSlots checks that the handle gave every replica slot back.
	noSlots := func() {
		t.Helper()
		if n, err := serve.HandleInFlight(ctx, "streams", "test.streamer"); err != nil || n != 0 {
			t.Fatalf("the handle holds %d slots (%v)", n, err)
		}
	}

	t.Run("in order", func(t *testing.T) {
		s := h.Stream(ctx, "Count", 10, 5)
		var got []int
		for {
			var v int
			err := s.Next(ctx, &v)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, v)
		}
		if fmt.Sprint(got) != "[10 11 12 13 14]" {
			t.Fatalf("got %v", got)
		}
		if err := s.Next(ctx, nil); !errors.Is(err, io.EOF) {
			t.Fatalf("Next after the end: %v", err)
		}
		noSlots()
	})

	t.Run("Items", func(t *testing.T) {
		sum := 0
		for v, err := range serve.Items[int](ctx, h.Stream(ctx, "Count", 1, 100)) {
			if err != nil {
				t.Fatal(err)
			}
			sum += v
		}
		if sum != 5050 {
			t.Fatalf("sum %d", sum)
		}
		for v, err := range serve.Items[int](ctx, h.Stream(ctx, "Forever")) {
			if err != nil || v == 3 {
				break // closes the stream
			}
		}
		noSlots()
	})

	t.Run("wrong kind", func(t *testing.T) {
		for name, err := range map[string]error{
			"Stream of a plain method": h.Stream(ctx, "Stats").Next(ctx, nil),
			"Call of a stream":         h.Call(ctx, "Count", 1, 2).Result(ctx, nil),
			"Stream of no method":      h.Stream(ctx, "Nope").Next(ctx, nil),
			"Stream with 1 argument":   h.Stream(ctx, "Count", 1).Next(ctx, nil),
		} {
			if !errors.Is(err, serve.ErrNoMethod) {
				t.Errorf("%s: %v, want ErrNoMethod", name, err)
			}
		}
		var zero serve.StreamResponse
		if err := zero.Next(ctx, nil); !errors.Is(err, serve.ErrInvalidConfig) {
			t.Errorf("a zero StreamResponse: %v", err)
		}
		noSlots()
	})

	t.Run("error and panic mid-stream", func(t *testing.T) {
		for _, how := range []string{"error", "panic"} {
			var got []int
			var err error
			for v, e := range serve.Items[int](ctx, h.Stream(ctx, "Fail", 3, how)) {
				if e != nil {
					err = e
					break
				}
				got = append(got, v)
			}
			if fmt.Sprint(got) != "[0 1 2]" || !errors.Is(err, rayo.ErrTaskFailed) || (how == "error") != errors.Is(err, errBadItem) {
				t.Fatalf("%s: items %v, then %v", how, got, err)
			}
		}
		noSlots()
		// The replica lives on.
		if v, err := serve.Result[[4]int64](ctx, h.Call(ctx, "Stats")); err != nil {
			t.Fatalf("after a panic: %v %v", v, err)
		}
	})

	t.Run("backpressure and Close", func(t *testing.T) {
		base := stats()
		s := h.Stream(ctx, "Forever")
		for want := range 2 {
			var v int
			if err := s.Next(ctx, &v); err != nil || v != want {
				t.Fatalf("item %d: %d %v", want, v, err)
			}
		}
		// The producer runs up to the window ahead of the 2 items taken,
		// then waits (the one it counted last is held in its yield).
		eventually(t, "the producer fills the window", func() bool { return stats()[0]-base[0] >= 2+serve.StreamWindow })
		for range 20 {
			if n := stats()[0] - base[0]; n > 2+serve.StreamWindow+1 {
				t.Fatalf("the producer ran %d items ahead of the consumer's 2 (window %d)", n-2, serve.StreamWindow)
			}
		}
		s.Close()
		noSlots()
		eventually(t, "Close stops the producer", func() bool { return stats()[1] == base[1]+1 })
		if err := s.Next(ctx, nil); err == nil {
			t.Fatal("Next after Close returned an item")
		}
	})

	t.Run("cancelling ctx", func(t *testing.T) {
		sctx, scancel := context.WithCancel(ctx)
		s := h.Stream(sctx, "Gated")
		var tok string
		if err := s.Next(ctx, &tok); err != nil || tok != "a" {
			t.Fatalf("first item: %q %v", tok, err)
		}
		// Cancelled once it waits, not while its yield of "a" may still
		// be answered (a yield answered after the end returns false).
		eventually(t, "the producer waits", func() bool { return stats()[2] == 1 })
		scancel()
		if err := s.Next(ctx, &tok); !errors.Is(err, context.Canceled) {
			t.Fatalf("after cancel: %v", err)
		}
		noSlots()
		eventually(t, "the producer's ctx is cancelled", func() bool { return stats()[3] == 1 })
	})

	t.Run("Next's ctx ending loses no item", func(t *testing.T) {
		// A Next whose ctx is already cancelled takes a ready item from
		// the stream, and its Get then fails or not, as the runtime's
		// select picks; either way the item comes once, in order.
		done, stop := context.WithCancel(ctx)
		stop()
		base := stats()
		s := h.Stream(ctx, "Forever")
		defer s.Close()
		failed := 0
		for want := range 20 {
			// Item want is at the consumer once the producer started the next.
			eventually(t, "the item is ready", func() bool { return stats()[0]-base[0] >= int64(want)+2 })
			var v int
			err := s.Next(done, &v)
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("Next with a cancelled ctx: %v", err)
				}
				failed++
				err = s.Next(ctx, &v)
			}
			if err != nil || v != want {
				t.Fatalf("item %d: %d %v (after %d Nexts that failed)", want, v, err, failed)
			}
		}
		t.Logf("%d of 20 Nexts with a cancelled ctx failed", failed)
		s.Close()
		noSlots()
	})

	t.Run("dropped Response frees its slot", func(t *testing.T) {
		_ = h.Call(ctx, "Stats") // never read
		eventually(t, "the collector frees the slot", func() bool {
			runtime.GC()
			n, err := serve.HandleInFlight(ctx, "streams", "test.streamer")
			return err == nil && n == 0
		})
	})

	t.Run("replica killed mid-stream", func(t *testing.T) {
		s := h.Stream(ctx, "Forever")
		if err := s.Next(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if err := serve.KillReplica(ctx, "rayo.serve.replica:streams:test.streamer:0"); err != nil {
			t.Fatal(err)
		}
		var err error
		for err == nil { // the items already sent, then the death
			err = s.Next(ctx, nil)
		}
		var died *rayo.ActorDiedError
		if !errors.As(err, &died) {
			t.Fatalf("Next after the kill: %v", err)
		}
		noSlots()
	})
}

// An ingress streams a model's items through a handle as HTTP chunks:
// the client reads the first before the model yields the next.
func TestHandleStreamOverHTTP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr := startServe(t)
	if _, err := serve.Run(ctx, tokenFrontDep.Bind(streamerDep.Bind()), serve.RunOptions{Name: "tokens", RoutePrefix: "/tokens"}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/tokens")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	if line, err := rd.ReadString('\n'); err != nil || line != "a\n" {
		t.Fatalf("first chunk: %q %v", line, err)
	}
	// The model waits for Release: "a" came through alone.
	model := serve.GetDeploymentHandle("tokens", "test.streamer")
	if err := model.Call(ctx, "Release").Result(ctx, nil); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(rd)
	if err != nil || string(rest) != "b\nc\n" {
		t.Fatalf("the rest: %q %v", rest, err)
	}
}
