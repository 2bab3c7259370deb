package tune

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
)

// resolve builds a trial's Params from the space's constants and a
// searcher's values by path (Ray's variant resolution): a searchable
// parameter the values lack is sampled from its domain with rng, in path
// order; SampleFrom parameters are then computed in path order, each
// seeing the Params resolved so far. A value given for a SampleFrom path
// wins over its function. A value for a path the space lacks, or outside
// its domain, is an ErrInvalidConfig; a SampleFrom function that panics
// is an ErrInvalidSpace. Deterministic given rng.
func resolve(params []Param, constants map[string]any, values map[string]any, rng *rand.Rand) (Params, error) {
	byPath := make(map[string]Param, len(params))
	for _, p := range params {
		byPath[p.Path] = p
	}
	flat := make(map[string]any, len(constants)+len(params))
	for path, c := range constants {
		flat[path] = c
	}
	paths := make([]string, 0, len(values))
	for path := range values {
		paths = append(paths, path)
	}
	slices.Sort(paths) // the first error is the same on every run
	for _, path := range paths {
		v := values[path]
		if p, ok := byPath[path]; ok {
			checked, err := checkValue(p, v)
			if err != nil {
				return nil, err
			}
			flat[path] = checked
			continue
		}
		if c, ok := constants[path]; ok {
			// A full configuration (a point copied from an earlier
			// trial's Params) repeats the constants: fine if equal.
			if !sameValue(c, v) {
				return nil, fmt.Errorf("%w: %q is the space's constant %v, not %v", ErrInvalidConfig, path, c, v)
			}
			continue
		}
		return nil, fmt.Errorf("%w: %q is not a parameter of the space", ErrInvalidConfig, path)
	}
	for _, p := range params {
		if _, given := values[p.Path]; given || p.Domain.Kind() == KindSampleFrom {
			continue
		}
		flat[p.Path] = p.Domain.Sample(rng)
	}
	for _, p := range params {
		if _, given := values[p.Path]; given || p.Domain.Kind() != KindSampleFrom {
			continue
		}
		v, err := callSampleFrom(p, unflatten(flat))
		if err != nil {
			return nil, err
		}
		flat[p.Path] = v
	}
	return unflatten(flat), nil
}

// callSampleFrom runs a SampleFrom's function, turning its panic into an
// error: it is user code running in the driver.
func callSampleFrom(p Param, so Params) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: SampleFrom %q panicked: %v", ErrInvalidSpace, p.Path, r)
		}
	}()
	return p.Domain.fn(so), nil
}

// checkValue checks that v is a possible value of p's domain and returns
// it in the domain's own type: a float64 for floats and normals, an int64
// for ints, the matching value as given for choices and grids. A
// SampleFrom takes any value.
func checkValue(p Param, v any) (any, error) {
	d := p.Domain
	switch d.Kind() {
	case KindFloat, KindNormal, KindInt:
		x, ok := toFloat(v)
		if !ok {
			return nil, fmt.Errorf("%w: %q: %v (%T) is not a number", ErrInvalidConfig, p.Path, v, v)
		}
		if !finite(x) {
			return nil, fmt.Errorf("%w: %q: %v is not finite", ErrInvalidConfig, p.Path, x)
		}
		switch d.Kind() {
		case KindNormal:
			return x, nil
		case KindFloat:
			// Rounding to a multiple of q may step up to q/2 past a bound
			// (Sample does not clamp floats), so allow that much.
			slack := d.q / 2
			if x < d.low-slack || x > d.high+slack {
				return nil, fmt.Errorf("%w: %q: %v is outside %s", ErrInvalidConfig, p.Path, x, describeRange(d))
			}
			return x, nil
		}
		top := d.high
		if !d.inclusive {
			top--
		}
		if x != math.Trunc(x) || x < d.low || x > top {
			return nil, fmt.Errorf("%w: %q: %v is not an int in %s", ErrInvalidConfig, p.Path, v, describeRange(d))
		}
		return int64(x), nil
	case KindChoice, KindGrid:
		for _, c := range d.values {
			if sameValue(c, v) {
				return c, nil
			}
		}
		return nil, fmt.Errorf("%w: %q: %v is not one of %s values %v", ErrInvalidConfig, p.Path, v, d.Kind(), d.values)
	}
	return v, nil
}

// describeRange names a numeric domain's range for an error message.
func describeRange(d Domain) string {
	closing := ")"
	if d.kind == KindInt && d.inclusive {
		closing = "]"
	}
	return fmt.Sprintf("[%v, %v%s", d.low, d.high, closing)
}

// sameValue compares values that may have crossed msgpack or a searcher:
// numbers by value whatever their Go type, anything else deeply.
func sameValue(a, b any) bool {
	fa, okA := toFloat(a)
	fb, okB := toFloat(b)
	if okA && okB {
		return fa == fb
	}
	return reflect.DeepEqual(a, b)
}
