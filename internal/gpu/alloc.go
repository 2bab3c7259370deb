package gpu

import (
	"math"
	"slices"
	"sync"
)

// unit is the fixed-point scale of an Allocator: one GPU is 10000 units
// (the same scale as the scheduler's resources), so fractions such as
// 0.1 + 0.2 add exactly.
const unit = 10000

// Allocator hands out the GPU IDs of one node to tasks, with Ray's rules:
//
//   - a whole number n ≥ 1 takes n GPUs that are entirely free, lowest
//     IDs first;
//   - a fraction 0 < f < 1 takes f of one GPU: the GPU with the least free
//     capacity that still has f free (best fit, lowest ID on ties), so
//     fractions pack onto GPUs already partly in use before opening a
//     free one;
//   - any other amount (1.5, negative, NaN) is refused: Ray requires
//     fractions below 1 or whole numbers.
//
// Amounts are rounded to 1/10000 of a GPU. Its methods are safe for
// concurrent use.
type Allocator struct {
	mu   sync.Mutex
	ids  []int         // ascending
	free map[int]int64 // units free per ID, 0..unit
}

// NewAllocator returns an Allocator for the GPUs ids, all free.
// Duplicate IDs count once.
func NewAllocator(ids []int) *Allocator {
	a := &Allocator{free: make(map[int]int64, len(ids))}
	for _, id := range ids {
		if _, dup := a.free[id]; dup {
			continue
		}
		a.free[id] = unit
		a.ids = append(a.ids, id)
	}
	slices.Sort(a.ids)
	return a
}

// toUnits converts a request to fixed point and says whether it is whole
// (a multiple of one GPU). ok is false for amounts Ray refuses.
func toUnits(amount float64) (units int64, whole bool, ok bool) {
	if math.IsNaN(amount) || math.IsInf(amount, 0) || amount < 0 || amount > math.MaxInt32 {
		return 0, false, false
	}
	units = int64(math.Round(amount * unit))
	switch {
	case units == 0:
		return 0, false, amount == 0
	case units%unit == 0:
		return units, true, true
	case units < unit:
		return units, false, true
	default:
		return 0, false, false // 1.5: neither a fraction below 1 nor whole
	}
}

// Acquire takes amount GPUs and returns the IDs it assigned: n IDs for a
// whole number n, one ID for a fraction. ok is false, and nothing is
// taken, when the amount is invalid (see Allocator) or cannot be satisfied
// now. An amount of 0 takes nothing and succeeds with no IDs.
func (a *Allocator) Acquire(amount float64) (ids []int, ok bool) {
	units, whole, valid := toUnits(amount)
	if !valid {
		return nil, false
	}
	if units == 0 {
		return nil, true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if whole {
		n := int(units / unit)
		for _, id := range a.ids {
			if len(ids) == n {
				break
			}
			if a.free[id] == unit {
				ids = append(ids, id)
			}
		}
		if len(ids) < n {
			return nil, false
		}
		for _, id := range ids {
			a.free[id] = 0
		}
		return ids, true
	}
	best, bestFree, found := 0, int64(0), false
	for _, id := range a.ids {
		if f := a.free[id]; f >= units && (!found || f < bestFree) {
			best, bestFree, found = id, f, true
		}
	}
	if !found {
		return nil, false
	}
	a.free[best] -= units
	return []int{best}, true
}

// Release gives back what an Acquire(amount) that returned ids took: one
// whole GPU per ID for a whole amount, amount of the single GPU for a
// fraction. IDs the Allocator does not know are ignored, and a GPU never
// becomes more than entirely free, so a double release cannot create
// capacity. Invalid amounts release nothing.
func (a *Allocator) Release(ids []int, amount float64) {
	units, whole, valid := toUnits(amount)
	if !valid || units == 0 {
		return
	}
	per := units
	if whole {
		per = unit
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range ids {
		f, known := a.free[id]
		if !known {
			continue
		}
		a.free[id] = min(f+per, unit)
	}
}

// Free returns how much of each GPU is free, 0 to 1, by ID.
func (a *Allocator) Free() map[int]float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := make(map[int]float64, len(a.free))
	for id, f := range a.free {
		m[id] = float64(f) / unit
	}
	return m
}
