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

// spin busies the CPU for d, standing in for a model's compute.
func spin(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
	}
}

// BenchmarkFixedCostModel is a model whose call costs 200 µs plus 5 µs per
// item, batched at 32 against unbatched (batch size 1), with 64 callers per
// core: the case batching is for. ns/op is per item.
func BenchmarkFixedCostModel(b *testing.B) {
	model := func(_ context.Context, items []int) ([]int, error) {
		spin(200*time.Microsecond + time.Duration(len(items))*5*time.Microsecond)
		return items, nil
	}
	for _, size := range []int{1, 32} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			bt, err := New(model, Config{MaxBatchSize: size, BatchWaitTimeout: time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			defer bt.Close()
			b.SetParallelism(64)
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					if _, err := bt.Call(context.Background(), i); err != nil {
						b.Error(err)
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
