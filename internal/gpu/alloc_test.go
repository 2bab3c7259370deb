package gpu

import (
	"math"
	"reflect"
	"sync"
	"testing"
)

// op is one step of an allocator scenario: an Acquire (release == false)
// or a Release of ids.
type op struct {
	release bool
	amount  float64
	ids     []int // Release: what to give back; Acquire: the IDs expected
	ok      bool  // Acquire: the expected ok
}

func acq(amount float64, ok bool, ids ...int) op { return op{amount: amount, ids: ids, ok: ok} }
func rel(amount float64, ids ...int) op          { return op{release: true, amount: amount, ids: ids} }

func TestAllocator(t *testing.T) {
	cases := []struct {
		name     string
		gpus     []int
		ops      []op
		wantFree map[int]float64
	}{
		{"whole, lowest first", []int{0, 1, 2, 3},
			[]op{acq(1, true, 0), acq(2, true, 1, 2), acq(1, true, 3), acq(1, false)},
			map[int]float64{0: 0, 1: 0, 2: 0, 3: 0}},
		{"unsorted IDs sort", []int{5, 2, 9},
			[]op{acq(2, true, 2, 5)},
			map[int]float64{2: 0, 5: 0, 9: 1}},
		{"duplicate IDs count once", []int{0, 0, 1},
			[]op{acq(2, true, 0, 1), acq(1, false)},
			map[int]float64{0: 0, 1: 0}},
		{"too many at once takes nothing", []int{0, 1},
			[]op{acq(3, false), acq(2, true, 0, 1)},
			map[int]float64{0: 0, 1: 0}},
		{"whole skips partly used GPUs", []int{0, 1, 2},
			[]op{acq(0.5, true, 0), acq(2, true, 1, 2), acq(1, false)},
			map[int]float64{0: 0.5, 1: 0, 2: 0}},
		{"fractions pack onto one GPU", []int{0, 1},
			[]op{acq(0.5, true, 0), acq(0.25, true, 0), acq(0.25, true, 0), acq(0.5, true, 1)},
			map[int]float64{0: 0, 1: 0.5}},
		{"fraction packs onto partly used, not lower free ID", []int{0, 1},
			[]op{acq(1, true, 0), acq(0.3, true, 1), rel(1, 0), acq(0.3, true, 1)},
			map[int]float64{0: 1, 1: 0.4}},
		{"fraction best fit", []int{0, 1, 2},
			// 0 has 0.5 free, 1 has 0.2: 0.2 goes to 1 (least free that fits),
			// 0.3 then to 0, and 0.2 again to 0, the only partly used one left.
			[]op{acq(0.5, true, 0), acq(0.8, true, 1), acq(0.2, true, 1), acq(0.3, true, 0), acq(0.2, true, 0)},
			map[int]float64{0: 0, 1: 0, 2: 1}},
		{"fraction ties go to the lowest ID", []int{0, 1, 2},
			[]op{acq(0.5, true, 0), acq(0.6, true, 1), rel(0.1, 1), acq(0.25, true, 0), acq(0.25, true, 0), acq(0.25, true, 1)},
			map[int]float64{0: 0, 1: 0.25, 2: 1}},
		{"fraction opens a free GPU when none has room", []int{0, 1},
			[]op{acq(0.6, true, 0), acq(0.6, true, 1), acq(0.6, false), acq(0.4, true, 0)},
			map[int]float64{0: 0, 1: 0.4}},
		{"tenths add exactly", []int{0},
			[]op{acq(0.1, true, 0), acq(0.2, true, 0), acq(0.3, true, 0), acq(0.4, true, 0), acq(0.0001, false)},
			map[int]float64{0: 0}},
		{"ten tenths then a release", []int{0},
			[]op{acq(0.1, true, 0), acq(0.1, true, 0), acq(0.1, true, 0), acq(0.1, true, 0), acq(0.1, true, 0),
				acq(0.1, true, 0), acq(0.1, true, 0), acq(0.1, true, 0), acq(0.1, true, 0), acq(0.1, true, 0),
				acq(0.1, false), rel(0.1, 0), acq(0.1, true, 0)},
			map[int]float64{0: 0}},
		{"release whole", []int{0, 1, 2},
			[]op{acq(3, true, 0, 1, 2), rel(2, 0, 2), acq(2, true, 0, 2), acq(1, false), rel(1, 1), acq(1, true, 1)},
			map[int]float64{0: 0, 1: 0, 2: 0}},
		{"release fraction", []int{0},
			[]op{acq(0.75, true, 0), acq(0.5, false), rel(0.75, 0), acq(1, true, 0)},
			map[int]float64{0: 0}},
		{"over-release caps at free, unknown IDs ignored", []int{0},
			[]op{acq(0.5, true, 0), rel(0.5, 0), rel(0.5, 0), rel(1, 0, 42), acq(2, false)},
			map[int]float64{0: 1}},
		{"invalid amounts", []int{0, 1, 2},
			[]op{acq(1.5, false), acq(2.5, false), acq(-1, false), acq(math.NaN(), false), acq(math.Inf(1), false), acq(0.00001, false)},
			map[int]float64{0: 1, 1: 1, 2: 1}},
		{"zero takes nothing", []int{0},
			[]op{acq(0, true), rel(0, 0), acq(1, true, 0)},
			map[int]float64{0: 0}},
		{"no GPUs", nil,
			[]op{acq(1, false), acq(0.5, false), acq(0, true)},
			map[int]float64{}},
		{"exhaustion and recovery", []int{0, 1},
			[]op{acq(0.5, true, 0), acq(0.5, true, 0), acq(0.5, true, 1), acq(1, false), acq(0.6, false),
				rel(0.5, 0), acq(1, false), rel(0.5, 0), acq(1, true, 0)},
			map[int]float64{0: 0, 1: 0.5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := NewAllocator(c.gpus)
			for i, o := range c.ops {
				if o.release {
					a.Release(o.ids, o.amount)
					continue
				}
				ids, ok := a.Acquire(o.amount)
				if ok != o.ok || !reflect.DeepEqual(ids, o.ids) && (len(ids) != 0 || len(o.ids) != 0) {
					t.Fatalf("op %d: Acquire(%v) = %v, %v; want %v, %v (free %v)", i, o.amount, ids, ok, o.ids, o.ok, a.Free())
				}
			}
			if got := a.Free(); !reflect.DeepEqual(got, c.wantFree) {
				t.Errorf("Free() = %v, want %v", got, c.wantFree)
			}
		})
	}
}

func TestToUnits(t *testing.T) {
	cases := []struct {
		in           float64
		units        int64
		whole, valid bool
	}{
		{0, 0, false, true},
		{0.0001, 1, false, true},
		{0.1, 1000, false, true},
		{0.33333, 3333, false, true},
		{0.99999, 10000, true, true}, // rounds to a whole GPU
		{1, 10000, true, true},
		{4, 40000, true, true},
		{1.5, 0, false, false},
		{-0.5, 0, false, false},
		{0.00004, 0, false, false},
	}
	for _, c := range cases {
		u, w, ok := toUnits(c.in)
		if u != c.units || w != c.whole || ok != c.valid {
			t.Errorf("toUnits(%v) = %d, %v, %v; want %d, %v, %v", c.in, u, w, ok, c.units, c.whole, c.valid)
		}
	}
}

// TestAllocatorConcurrent hammers one Allocator from many goroutines (run
// with -race): every acquisition is released, capacity is never exceeded,
// and everything is free at the end.
func TestAllocatorConcurrent(t *testing.T) {
	gpus := []int{0, 1, 2, 3}
	a := NewAllocator(gpus)
	amounts := []float64{1, 2, 0.5, 0.25, 0.1, 0.3, 4, 0.7}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		held = map[int]int64{} // units held per ID, checked against capacity
		bad  []string
	)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				amt := amounts[(g+i)%len(amounts)]
				ids, ok := a.Acquire(amt)
				if !ok {
					_ = a.Free()
					continue
				}
				units, whole, _ := toUnits(amt)
				per := units
				if whole {
					per = unit
				}
				mu.Lock()
				for _, id := range ids {
					held[id] += per
					if held[id] > unit {
						bad = append(bad, "over-allocated")
					}
				}
				mu.Unlock()
				mu.Lock()
				for _, id := range ids {
					held[id] -= per
				}
				mu.Unlock()
				a.Release(ids, amt)
			}
		}(g)
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d over-allocations", len(bad))
	}
	want := map[int]float64{0: 1, 1: 1, 2: 1, 3: 1}
	if got := a.Free(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Free() = %v after all releases, want %v", got, want)
	}
}
