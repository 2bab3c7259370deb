package multiplex_test

import (
	"context"
	"testing"

	"github.com/rayo-dev/rayo/serve/internal/multiplex"
)

// weights stands for a model: 64 bytes of parameters.
type weights [16]float32

func benchCache(b *testing.B, cfg multiplex.Config[*weights]) *multiplex.Cache[*weights] {
	b.Helper()
	c, err := multiplex.New(func(context.Context, string) (*weights, error) { return &weights{}, nil }, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// BenchmarkGetHit is the request path when the router sent the request to
// a replica holding its model: it should not allocate.
func BenchmarkGetHit(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  multiplex.Config[*weights]
	}{
		{"NoHook", multiplex.Config[*weights]{}},
		{"OnEvent", multiplex.Config[*weights]{OnEvent: func(multiplex.Event) {}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := benchCache(b, tc.cfg)
			ctx := context.Background()
			keys := []string{"llama-7b-ft-customer-0001", "llama-7b-ft-customer-0002", "llama-7b-ft-customer-0003"}
			for _, k := range keys {
				if _, err := c.Get(ctx, k); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := c.Get(ctx, keys[i%3]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkAcquireReleaseHit is a pinned hit and its release.
func BenchmarkAcquireReleaseHit(b *testing.B) {
	c := benchCache(b, multiplex.Config[*weights]{})
	ctx := context.Background()
	if _, err := c.Get(ctx, "m"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_, release, err := c.Acquire(ctx, "m")
		if err != nil {
			b.Fatal(err)
		}
		release()
	}
}

// BenchmarkGetHitParallel measures the one lock under contention.
func BenchmarkGetHitParallel(b *testing.B) {
	c := benchCache(b, multiplex.Config[*weights]{})
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		if _, err := c.Get(ctx, k); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		keys := []string{"a", "b", "c"}
		i := 0
		for pb.Next() {
			if _, err := c.Get(ctx, keys[i%3]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkMissEvict is a miss that evicts: the cache's own cost around a
// load (goroutine, context, bookkeeping), with a loader that returns at once.
func BenchmarkMissEvict(b *testing.B) {
	c := benchCache(b, multiplex.Config[*weights]{MaxModels: 1})
	ctx := context.Background()
	keys := []string{"a", "b"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := c.Get(ctx, keys[i%2]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
