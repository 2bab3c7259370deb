package router

import (
	"fmt"
	"testing"
)

// benchRouter returns a router over n replicas with room to spare, half of
// them with model "m" loaded, using the default (math/rand/v2) source.
func benchRouter(b *testing.B, n int) *Router {
	r := New(Options{})
	rs := make([]Replica, n)
	for i := range rs {
		rs[i] = Replica{ID: fmt.Sprint("replica-", i), MaxOngoing: 1 << 20}
		if i%2 == 0 {
			rs[i].Models = []string{"m"}
		}
	}
	if err := r.Update(rs); err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkPick measures Pick followed by Done (one request's routing
// cost) from GOMAXPROCS goroutines; run with -cpu 1,2.
func BenchmarkPick(b *testing.B) {
	for _, model := range []string{"", "m"} {
		for _, n := range []int{1, 2, 8, 64} {
			name := fmt.Sprintf("replicas=%d", n)
			if model != "" {
				name = fmt.Sprintf("model/replicas=%d", n)
			}
			b.Run(name, func(b *testing.B) {
				r := benchRouter(b, n)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						tk, err := r.Pick(model)
						if err != nil {
							b.Error(err)
							return
						}
						tk.Done()
					}
				})
			})
		}
	}
}

// BenchmarkPickNoCapacity measures the refusal path (every replica full),
// which scans all replicas.
func BenchmarkPickNoCapacity(b *testing.B) {
	for _, n := range []int{1, 2, 8, 64} {
		b.Run(fmt.Sprintf("replicas=%d", n), func(b *testing.B) {
			r := New(Options{})
			rs := make([]Replica, n)
			for i := range rs {
				rs[i] = Replica{ID: fmt.Sprint("replica-", i), MaxOngoing: 1}
			}
			if err := r.Update(rs); err != nil {
				b.Fatal(err)
			}
			for i := 0; i < n; i++ {
				if _, err := r.Pick(""); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := r.Pick(""); err == nil {
						b.Error("Pick found room")
						return
					}
				}
			})
		})
	}
}
