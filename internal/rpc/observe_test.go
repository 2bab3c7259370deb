package rpc

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type observed struct {
	method string
	took   time.Duration
	err    error
}

// recorder is an Observer that keeps what it saw.
type recorder struct {
	mu   sync.Mutex
	seen []observed
	got  chan struct{}
}

func newRecorder() *recorder { return &recorder{got: make(chan struct{}, 64)} }

func (r *recorder) observe(method string, took time.Duration, err error) {
	r.mu.Lock()
	r.seen = append(r.seen, observed{method, took, err})
	r.mu.Unlock()
	r.got <- struct{}{}
}

func TestMetricsObserverSeesServedCalls(t *testing.T) {
	s, addr := startServer(t, "tok", io.Discard)
	s.HandleOrdered("ordered", func(_ context.Context, _ []byte, reply func(any, error)) func() {
		go reply(&echoResp{Text: "later"}, nil)
		return nil
	})
	rec := newRecorder()
	s.SetObserver(rec.observe)
	c, err := Dial(context.Background(), addr, "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Call(ctx, "echo", &echoReq{Text: "hi"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(ctx, "echo", &echoReq{Text: "fail"}, nil); err == nil {
		t.Fatal("echo fail: no error")
	}
	if err := c.Call(ctx, "ordered", &echoReq{}, nil); err != nil {
		t.Fatal(err)
	}
	// Unknown methods are answered but not observed.
	if err := c.Call(ctx, "nope", &echoReq{}, nil); !errors.Is(err, ErrUnknownMethod) {
		t.Fatalf("unknown method: %v", err)
	}
	for range 3 {
		select {
		case <-rec.got:
		case <-time.After(10 * time.Second):
			t.Fatal("the observer was not called")
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.seen) != 3 {
		t.Fatalf("observed %d calls, want 3: %+v", len(rec.seen), rec.seen)
	}
	byMethod := map[string][]observed{}
	for _, o := range rec.seen {
		if o.took <= 0 {
			t.Errorf("%s: took %v", o.method, o.took)
		}
		byMethod[o.method] = append(byMethod[o.method], o)
	}
	if len(byMethod["echo"]) != 2 || len(byMethod["ordered"]) != 1 {
		t.Fatalf("observed %+v", rec.seen)
	}
	failed := 0
	for _, o := range byMethod["echo"] {
		if o.err != nil {
			failed++
		}
	}
	if failed != 1 {
		t.Errorf("%d failed echo calls observed, want 1", failed)
	}
	s.SetObserver(nil)
	if err := c.Call(ctx, "echo", &echoReq{Text: "hi"}, nil); err != nil {
		t.Fatal(err)
	}
	if len(rec.seen) != 3 {
		t.Errorf("a call was observed after SetObserver(nil)")
	}
}

// BenchmarkCallRoundTripObserved: BenchmarkCallRoundTrip with the
// daemons' latency observer (a Prometheus histogram) installed.
func BenchmarkCallRoundTripObserved(b *testing.B) {
	c := benchPair(b, func(s *Server) {
		Register(s, "echo", func(_ context.Context, r *echoReq) (*echoResp, error) { return &echoResp{Text: r.Text}, nil })
		obs, err := LatencyObserver(prometheus.NewRegistry(), "bench")
		if err != nil {
			b.Fatal(err)
		}
		s.SetObserver(obs)
	})
	callRoundTrips(b, c)
}

// BenchmarkLatencyObserver: what observing one call adds to its serving
// goroutine (two clock reads and a histogram update), without the
// network's noise.
func BenchmarkLatencyObserver(b *testing.B) {
	obs, err := LatencyObserver(prometheus.NewRegistry(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		obs("node.RequestLease", time.Since(start), nil)
	}
}
