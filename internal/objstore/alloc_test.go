package objstore

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestAlignUp(t *testing.T) {
	for _, tc := range []struct{ in, want int64 }{
		{0, 0}, {1, 64}, {63, 64}, {64, 64}, {65, 128}, {1000, 1024},
	} {
		if got := alignUp(tc.in); got != tc.want {
			t.Errorf("alignUp(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestAllocator(t *testing.T) {
	type op struct {
		alloc   bool  // alloc (true) or release (false)
		size    int64 // requested size
		off     int64 // expected offset (alloc) or offset to release
		fail    bool  // alloc expected to fail
		wantUse int64 // expected used bytes after the op
	}
	a := func(size, off, use int64) op { return op{alloc: true, size: size, off: off, wantUse: use} }
	af := func(size, use int64) op { return op{alloc: true, size: size, fail: true, wantUse: use} }
	r := func(off, size, use int64) op { return op{size: size, off: off, wantUse: use} }

	tests := []struct {
		name     string
		capacity int64
		ops      []op
		wantFree []span
	}{
		{
			name:     "alignment of offsets and sizes",
			capacity: 1024,
			ops:      []op{a(1, 0, 64), a(65, 64, 192), a(64, 192, 256), a(100, 256, 384)},
			wantFree: []span{{384, 640}},
		},
		{
			name:     "zero size reserves nothing",
			capacity: 128,
			ops:      []op{a(0, 0, 0), a(128, 0, 128), a(0, 0, 128), af(1, 128)},
			wantFree: nil,
		},
		{
			name:     "larger than capacity",
			capacity: 256,
			ops:      []op{af(257, 0), af(1<<62, 0), a(256, 0, 256)},
			wantFree: nil,
		},
		{
			name:     "coalesce with next",
			capacity: 256,
			ops:      []op{a(64, 0, 64), a(64, 64, 128), r(64, 64, 64)},
			wantFree: []span{{64, 192}},
		},
		{
			name:     "coalesce with previous",
			capacity: 256,
			ops:      []op{a(64, 0, 64), a(64, 64, 128), a(128, 128, 256), r(0, 64, 192), r(64, 64, 128)},
			wantFree: []span{{0, 128}},
		},
		{
			name:     "coalesce with both neighbours",
			capacity: 192,
			ops:      []op{a(64, 0, 64), a(64, 64, 128), a(64, 128, 192), r(0, 64, 128), r(128, 64, 64), r(64, 64, 0)},
			wantFree: []span{{0, 192}},
		},
		{
			name:     "no coalescing across an allocation",
			capacity: 320,
			ops:      []op{a(64, 0, 64), a(64, 64, 128), a(64, 128, 192), a(128, 192, 320), r(0, 64, 256), r(128, 64, 192)},
			wantFree: []span{{0, 64}, {128, 64}},
		},
		{
			name:     "fragmentation: enough bytes but no range",
			capacity: 256,
			ops:      []op{a(64, 0, 64), a(64, 64, 128), a(64, 128, 192), a(64, 192, 256), r(0, 64, 192), r(128, 64, 128), af(128, 128)},
			wantFree: []span{{0, 64}, {128, 64}},
		},
		{
			name:     "best fit picks the smallest range",
			capacity: 640,
			// Free ranges after the releases: [0,192) and [256,320); a
			// 64-byte request goes to the exact fit at 256.
			ops:      []op{a(192, 0, 192), a(64, 192, 256), a(64, 256, 320), a(320, 320, 640), r(0, 192, 448), r(256, 64, 384), a(64, 256, 448)},
			wantFree: []span{{0, 192}},
		},
		{
			name:     "reuse after full release",
			capacity: 128,
			ops:      []op{a(128, 0, 128), r(0, 128, 0), a(100, 0, 128)},
			wantFree: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			al := newAllocator(tc.capacity)
			for i, o := range tc.ops {
				if o.alloc {
					off, ok := al.alloc(o.size)
					if ok == o.fail {
						t.Fatalf("op %d: alloc(%d) ok = %v, want %v", i, o.size, ok, !o.fail)
					}
					if ok && off != o.off {
						t.Fatalf("op %d: alloc(%d) = %d, want %d", i, o.size, off, o.off)
					}
					if ok != al.canAlloc(o.size) && !ok {
						t.Fatalf("op %d: canAlloc disagrees with a failed alloc", i)
					}
				} else {
					al.release(o.off, o.size)
				}
				if al.used != o.wantUse {
					t.Fatalf("op %d: used = %d, want %d", i, al.used, o.wantUse)
				}
			}
			if !slices.Equal(al.free, tc.wantFree) {
				t.Fatalf("free list = %v, want %v", al.free, tc.wantFree)
			}
		})
	}
}

func TestAllocatorBadRelease(t *testing.T) {
	for _, tc := range []struct {
		name      string
		off, size int64
	}{
		{"misaligned", 32, 64},
		{"out of range", 256, 64},
		{"negative", -64, 64},
		{"double free", 0, 64},
		{"overlaps free", 64, 128},
	} {
		t.Run(tc.name, func(t *testing.T) {
			al := newAllocator(256)
			al.alloc(64) // [0,64)
			al.alloc(64) // [64,128)
			al.release(0, 64)
			defer func() {
				if recover() == nil {
					t.Fatalf("release(%d, %d) did not panic", tc.off, tc.size)
				}
			}()
			al.release(tc.off, tc.size)
		})
	}
}

// TestAllocatorRandom checks invariants under random alloc/release: free
// ranges sorted, aligned, non-adjacent, and free + used == capacity; at the
// end everything coalesces back into one range.
func TestAllocatorRandom(t *testing.T) {
	const capacity = 1 << 16
	rng := rand.New(rand.NewPCG(1, 2))
	al := newAllocator(capacity)
	type blk struct{ off, size int64 }
	var live []blk
	check := func() {
		var free int64
		for i, f := range al.free {
			if f.off%Alignment != 0 || f.size%Alignment != 0 || f.size <= 0 {
				t.Fatalf("bad free range %v", f)
			}
			if i > 0 && al.free[i-1].end() >= f.off {
				t.Fatalf("free ranges overlap or touch: %v %v", al.free[i-1], f)
			}
			free += f.size
		}
		if free+al.used != capacity {
			t.Fatalf("free %d + used %d != %d", free, al.used, capacity)
		}
	}
	for i := 0; i < 5000; i++ {
		if len(live) > 0 && rng.IntN(2) == 0 {
			j := rng.IntN(len(live))
			al.release(live[j].off, live[j].size)
			live = append(live[:j], live[j+1:]...)
		} else {
			size := rng.Int64N(3000) + 1
			if off, ok := al.alloc(size); ok {
				if off%Alignment != 0 {
					t.Fatalf("misaligned offset %d", off)
				}
				live = append(live, blk{off, size})
			}
		}
		check()
	}
	for _, b := range live {
		al.release(b.off, b.size)
	}
	check()
	if !slices.Equal(al.free, []span{{0, capacity}}) || al.used != 0 {
		t.Fatalf("after releasing all: free %v used %d", al.free, al.used)
	}
}
