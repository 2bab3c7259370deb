package batch_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rayo-dev/rayo/serve/internal/batch"
)

// Three concurrent callers, one call of the batched function.
func Example() {
	var calls int
	upper := func(_ context.Context, words []string) ([]string, error) {
		calls++ // MaxConcurrentBatches is 1: no two calls overlap
		out := make([]string, len(words))
		for i, w := range words {
			out[i] = strings.ToUpper(w)
		}
		return out, nil
	}
	b, err := batch.New(upper, batch.Config{MaxBatchSize: 3, BatchWaitTimeout: time.Minute})
	if err != nil {
		panic(err)
	}
	defer b.Close()

	var mu sync.Mutex
	var got []string
	var wg sync.WaitGroup
	for _, w := range []string{"a", "b", "c"} {
		wg.Go(func() {
			out, err := b.Call(context.Background(), w)
			if err != nil {
				panic(err)
			}
			mu.Lock()
			got = append(got, w+"->"+out)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(got)
	fmt.Println(got, "in", calls, "call")
	// Output: [a->A b->B c->C] in 1 call
}
