package sched

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Unit is the fixed-point scale: 1 CPU = 10000 units, so fractional requests
// (0.5 CPU) add and subtract exactly.
const Unit = 10000

// Resources maps a resource name ("CPU", "GPU", "memory", or any custom name)
// to an amount in units of 1/Unit.
type Resources map[string]int64

var (
	// ErrNegativeResource reports a resource amount below zero.
	ErrNegativeResource = errors.New("sched: negative resource amount")
	// ErrInvalidResourceName reports an empty resource name.
	ErrInvalidResourceName = errors.New("sched: invalid resource name")
)

// FromFloat converts user-facing float amounts to fixed-point Resources,
// rounding to the nearest unit. Zero amounts (including those that round to
// zero) are dropped so that requests compare and print canonically.
func FromFloat(m map[string]float64) (Resources, error) {
	r := make(Resources, len(m))
	for name, v := range m {
		if name == "" {
			return nil, ErrInvalidResourceName
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("sched: resource %q has non-finite amount %v", name, v)
		}
		if v < 0 {
			return nil, fmt.Errorf("%w: %q = %v", ErrNegativeResource, name, v)
		}
		scaled := math.Round(v * Unit)
		// float64(MaxInt64) rounds up to 2^63, so >= catches every overflow.
		if scaled >= math.MaxInt64 {
			return nil, fmt.Errorf("sched: resource %q amount %v is too large", name, v)
		}
		if scaled == 0 {
			continue
		}
		r[name] = int64(scaled)
	}
	return r, nil
}

// ToFloat converts back to user-facing amounts.
func (r Resources) ToFloat() map[string]float64 {
	m := make(map[string]float64, len(r))
	for name, v := range r {
		m[name] = float64(v) / Unit
	}
	return m
}

// Clone returns an independent copy; a nil receiver yields an empty, non-nil map
// so the result is always safe to Add into.
func (r Resources) Clone() Resources {
	c := make(Resources, len(r))
	for name, v := range r {
		c[name] = v
	}
	return c
}

// Equal reports whether r and o hold the same amounts (a missing name
// counts as zero).
func (r Resources) Equal(o Resources) bool {
	for k, v := range r {
		if o[k] != v {
			return false
		}
	}
	for k, v := range o {
		if r[k] != v {
			return false
		}
	}
	return true
}

// IsZero reports whether r requests nothing (no positive entry).
func (r Resources) IsZero() bool {
	for _, v := range r {
		if v > 0 {
			return false
		}
	}
	return true
}

// FitsIn reports whether every positive entry of r is covered by avail.
// Missing keys in avail count as zero; zero entries in r are always satisfied.
func (r Resources) FitsIn(avail Resources) bool {
	for name, v := range r {
		if v > 0 && v > avail[name] {
			return false
		}
	}
	return true
}

// Add adds o into r in place; r must be non-nil.
func (r Resources) Add(o Resources) {
	for name, v := range o {
		r[name] += v
	}
}

// Sub subtracts o from r in place. Entries reaching 0 are kept so that a
// node's Available keeps the same key set as its Total.
func (r Resources) Sub(o Resources) {
	for name, v := range o {
		r[name] -= v
	}
}

// String renders r sorted by name, e.g. "{CPU: 1.5, special: 1}", so logs and
// test failures are deterministic.
func (r Resources) String() string {
	names := make([]string, 0, len(r))
	for name := range r {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteByte('{')
	for i, name := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(name)
		b.WriteString(": ")
		b.WriteString(strconv.FormatFloat(float64(r[name])/Unit, 'f', -1, 64))
	}
	b.WriteByte('}')
	return b.String()
}
