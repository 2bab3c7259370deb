package batch

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func echo(_ context.Context, items []int) ([]int, error) { return items, nil }

// BenchmarkCall measures the batcher's own cost per item: many concurrent
// callers (64 per core) and a no-op fn, at batch sizes 1 and 32.
func BenchmarkCall(b *testing.B) {
	for _, size := range []int{1, 32} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			bt, err := New(echo, Config{MaxBatchSize: size, BatchWaitTimeout: time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			defer bt.Close()
			b.ReportAllocs()
			b.SetParallelism(64)
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for i := 0; pb.Next(); i++ {
					if out, err := bt.Call(ctx, i); err != nil || out != i {
						b.Errorf("got %d, %v", out, err)
						return
					}
				}
			})
			b.StopTimer()
			s := bt.Stats()
			b.ReportMetric(float64(s.Items)/float64(max(s.Batches, 1)), "items/batch")
		})
	}
}

// BenchmarkCallSerial is one caller at a time with NoWait: the latency a
// lone request pays for going through the batcher.
func BenchmarkCallSerial(b *testing.B) {
	bt, err := New(echo, Config{MaxBatchSize: 32, BatchWaitTimeout: NoWait})
	if err != nil {
		b.Fatal(err)
	}
	defer bt.Close()
	ctx, cancel := context.WithCancel(context.Background()) // a ctx with a Done channel, as a request's has
	defer cancel()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if out, err := bt.Call(ctx, i); err != nil || out != i {
			b.Fatalf("got %d, %v", out, err)
		}
	}
}
