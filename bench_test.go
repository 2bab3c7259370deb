package rayo_test

import (
	"context"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/microbench"
)

var tNoop = rayo.Register[int]("bench.noop", func() int { return 0 })

// BenchmarkTasksAsync10k: one driver submits 10,000 no-op tasks at once on
// the embedded cluster and gets them all. Reports tasks/s.
func BenchmarkTasksAsync10k(b *testing.B) {
	ctx := initEmbedded(b)
	warm(b, ctx)
	const n = 10_000
	refs := make([]rayo.ObjectRef[int], n)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for j := range refs {
			refs[j] = tNoop.Remote()
		}
		if _, err := rayo.GetAll(ctx, refs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "tasks/s")
}

// BenchmarkTaskRoundTrip: one no-op task submitted and fetched at a time.
// Also reports the ratio to a raw loopback TCP round trip measured in the
// same run.
func BenchmarkTaskRoundTrip(b *testing.B) {
	ctx := initEmbedded(b)
	warm(b, ctx)
	rtt := tcpRoundTrip(b, 20_000)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := tNoop.Remote().Get(ctx); err != nil {
			b.Fatal(err)
		}
	}
	per := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(per.Nanoseconds())/1e3, "µs/task")
	b.ReportMetric(float64(rtt.Nanoseconds())/1e3, "µs/tcp-rtt")
	b.ReportMetric(float64(per)/float64(rtt), "x-tcp-rtt")
}

// BenchmarkLoopbackTCP is the physical floor: a 1-byte ping-pong between
// two goroutines over a loopback TCP connection.
func BenchmarkLoopbackTCP(b *testing.B) {
	rtt := tcpRoundTrip(b, b.N)
	b.ReportMetric(float64(rtt.Nanoseconds())/1e3, "µs/rtt")
}

func warm(b *testing.B, ctx context.Context) {
	refs := make([]rayo.ObjectRef[int], 200)
	for i := range refs {
		refs[i] = tNoop.Remote()
	}
	if _, err := rayo.GetAll(ctx, refs); err != nil {
		b.Fatal(err)
	}
}

// tcpRoundTrip is the loopback floor, measured in the same run.
func tcpRoundTrip(b *testing.B, n int) time.Duration {
	rtt, err := microbench.LoopbackRoundTrip(max(n, 1))
	if err != nil {
		b.Fatal(err)
	}
	return rtt
}

type benchActor struct{}

var (
	benchActorType = rayo.RegisterActor[benchActor]("bench.Actor", func() *benchActor { return &benchActor{} })
	benchNoop      = rayo.RegisterMethod[int](benchActorType, "Noop", func(*benchActor) int { return 0 })
)

// BenchmarkActorCallsSync: 1:1 actor calls, one at a time.
func BenchmarkActorCallsSync(b *testing.B) {
	ctx := initEmbedded(b)
	a, err := benchActorType.New(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if err := a.Ready(ctx); err != nil {
		b.Fatal(err)
	}
	rtt := tcpRoundTrip(b, 20_000)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := benchNoop.Remote(a).Get(ctx); err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(start)
	b.ReportMetric(float64(b.N)/el.Seconds(), "calls/s")
	b.ReportMetric(float64(el)/float64(b.N)/float64(rtt), "x-tcp-rtt")
}

// BenchmarkActorCallsAsync1k: 1:1 actor calls, 1,000 in flight.
func BenchmarkActorCallsAsync1k(b *testing.B) {
	ctx := initEmbedded(b)
	a, err := benchActorType.New(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if err := a.Ready(ctx); err != nil {
		b.Fatal(err)
	}
	refs := make([]rayo.ObjectRef[int], 1000)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for j := range refs {
			refs[j] = benchNoop.Remote(a)
		}
		if _, err := rayo.GetAll(ctx, refs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(refs))/time.Since(start).Seconds(), "calls/s")
}

// BenchmarkActorCreation100: create 100 actors and wait until all are
// ready.
func BenchmarkActorCreation100(b *testing.B) {
	ctx := initEmbedded(b)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		hs := make([]rayo.ActorHandle[benchActor], 100)
		for j := range hs {
			h, err := benchActorType.New(ctx)
			if err != nil {
				b.Fatal(err)
			}
			hs[j] = h
		}
		for _, h := range hs {
			if err := h.Ready(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		for _, h := range hs {
			_ = rayo.Kill(ctx, h, true)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*100)/time.Since(start).Seconds(), "actors/s")
}

// BenchmarkPutSmall and BenchmarkGetSmall: small objects in the owner's
// memory, the "single client put/get calls" rows.
func BenchmarkPutSmall(b *testing.B) {
	ctx := initEmbedded(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := rayo.Put(ctx, i); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetSmall(b *testing.B) {
	ctx := initEmbedded(b)
	ref, err := rayo.Put(ctx, 42)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ref.Get(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// tRange returns 0..n-1 as one slice, split by RemoteN into n objects:
// the peer of a stream of n items (every item its own object, all made
// by one task).
var tRange = rayo.Register[[]int]("bench.range", func(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
})

// BenchmarkStreamItems: one streaming task yields 1,000 small ints, each
// its own object, read with Next and fetched as they come. Its peers in
// the same run: RemoteN of the same 1,000 objects from one task (every
// object made at once, no per-item report), and 1,000 async tasks.
// Reports objects/s for each.
func BenchmarkStreamItems(b *testing.B) {
	ctx := initEmbedded(b)
	warm(b, ctx)
	const n = 1000
	b.Run("stream", func(b *testing.B) {
		start := time.Now()
		for i := 0; i < b.N; i++ {
			got := 0
			for ref, err := range sCount.Remote(n).All(ctx) {
				if err != nil {
					b.Fatal(err)
				}
				if _, err := ref.Get(ctx); err != nil {
					b.Fatal(err)
				}
				got++
			}
			if got != n {
				b.Fatalf("%d items, want %d", got, n)
			}
		}
		b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "objects/s")
	})
	b.Run("RemoteN", func(b *testing.B) {
		start := time.Now()
		for i := 0; i < b.N; i++ {
			if _, err := rayo.GetAll(ctx, rayo.RemoteN(tRange, n, n)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "objects/s")
	})
	b.Run("tasks", func(b *testing.B) {
		refs := make([]rayo.ObjectRef[int], n)
		start := time.Now()
		for i := 0; i < b.N; i++ {
			for j := range refs {
				refs[j] = tNoop.Remote()
			}
			if _, err := rayo.GetAll(ctx, refs); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "objects/s")
	})
}
