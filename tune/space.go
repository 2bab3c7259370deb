package tune

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// A Space is a trial configuration's template (Ray's param_space): a
// nested map whose leaves are Domains (values to search) or constants.
// Nested maps (Space or map[string]any) make nested Params. A parameter
// is named by its path, the keys joined by "/" ("model/lr"), as Ray
// flattens configurations.
type Space map[string]any

// DomainKind says what a Domain samples.
type DomainKind int

const (
	KindFloat      DomainKind = iota + 1 // Uniform, QUniform, LogUniform, QLogUniform
	KindInt                              // RandInt, QRandInt, LogRandInt
	KindNormal                           // Normal, QNormal
	KindChoice                           // Choice
	KindGrid                             // GridSearch
	KindSampleFrom                       // SampleFrom
)

func (k DomainKind) String() string {
	switch k {
	case KindFloat:
		return "float"
	case KindInt:
		return "int"
	case KindNormal:
		return "normal"
	case KindChoice:
		return "choice"
	case KindGrid:
		return "grid"
	case KindSampleFrom:
		return "sample_from"
	}
	return "unknown"
}

// A Domain is a search space primitive, made by Choice, Uniform,
// QUniform, LogUniform, QLogUniform, RandInt, QRandInt, LogRandInt,
// Normal, QNormal, GridSearch or SampleFrom (Ray's tune.choice,
// tune.uniform...). An invalid one (low above high, the log of a
// non-positive bound, an empty choice) carries its error, which NewTuner
// returns.
type Domain struct {
	kind DomainKind
	// KindFloat, KindInt: the bounds. A float's range is [low, high); an
	// int's is [low, high) for RandInt and LogRandInt and [low, high] for
	// QRandInt, as in Ray; Low and High return the bounds as given.
	low, high float64
	// KindNormal: the distribution.
	mean, sd float64
	// q rounds a sample to a multiple of q (0: no rounding).
	q float64
	// log samples uniformly in log space.
	log bool
	// inclusive: an int's high bound is a possible value (QRandInt).
	inclusive bool
	// KindChoice, KindGrid: the values.
	values []any
	// KindSampleFrom: the function; it runs in the driver, so it may be a
	// closure.
	fn  func(Params) any
	err error
}

// Kind says what d samples.
func (d Domain) Kind() DomainKind { return d.kind }

// Err is d's error: nil for a valid domain.
func (d Domain) Err() error { return d.err }

// Bounds are a numeric domain's bounds as given (Normal: mean and sd).
func (d Domain) Bounds() (low, high float64) {
	if d.kind == KindNormal {
		return d.mean, d.sd
	}
	return d.low, d.high
}

// Q is the quantum a sample is rounded to a multiple of (0: none).
func (d Domain) Q() float64 { return d.q }

// Log reports whether d samples uniformly in log space.
func (d Domain) Log() bool { return d.log }

// Values are a Choice's or a GridSearch's values.
func (d Domain) Values() []any { return slices.Clone(d.values) }

// IntHighInclusive reports whether an int domain's high bound is a
// possible value (QRandInt's is; RandInt's and LogRandInt's are not).
func (d Domain) IntHighInclusive() bool { return d.inclusive }

func bad(format string, args ...any) Domain {
	return Domain{err: fmt.Errorf("%w: "+format, append([]any{ErrInvalidSpace}, args...)...)}
}

func finite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

func floatDomain(name string, low, high, q float64, log bool) Domain {
	switch {
	case !finite(low, high, q):
		return bad("%s(%v, %v): bounds must be finite", name, low, high)
	case low >= high:
		return bad("%s(%v, %v): low must be below high", name, low, high)
	case math.IsInf(high-low, 0):
		return bad("%s(%v, %v): the range is too wide to sample", name, low, high)
	case log && low <= 0:
		return bad("%s(%v, %v): a log domain needs a positive low bound", name, low, high)
	case q < 0:
		return bad("%s: q %v must be positive", name, q)
	}
	return Domain{kind: KindFloat, low: low, high: high, q: q, log: log}
}

// Uniform samples a float uniformly in [low, high) (Ray's tune.uniform).
func Uniform(low, high float64) Domain { return floatDomain("Uniform", low, high, 0, false) }

// QUniform samples Uniform(low, high) rounded to a multiple of q (Ray's
// tune.quniform).
func QUniform(low, high, q float64) Domain {
	if q == 0 {
		return bad("QUniform: q must be positive")
	}
	return floatDomain("QUniform", low, high, q, false)
}

// LogUniform samples a float uniformly in log space in [low, high) (Ray's
// tune.loguniform; the base does not change the distribution). low must
// be positive.
func LogUniform(low, high float64) Domain { return floatDomain("LogUniform", low, high, 0, true) }

// QLogUniform samples LogUniform(low, high) rounded to a multiple of q.
func QLogUniform(low, high, q float64) Domain {
	if q == 0 {
		return bad("QLogUniform: q must be positive")
	}
	return floatDomain("QLogUniform", low, high, q, true)
}

func intDomain(name string, low, high, q int, log, inclusive bool) Domain {
	top := high
	if !inclusive {
		top--
	}
	switch {
	case low > top:
		return bad("%s(%d, %d): the range is empty", name, low, high)
	case abs(low) > maxExactInt || abs(high) > maxExactInt:
		return bad("%s(%d, %d): bounds beyond ±2^53 cannot be sampled exactly", name, low, high)
	case log && low <= 0:
		return bad("%s(%d, %d): a log domain needs a positive low bound", name, low, high)
	case q < 0:
		return bad("%s: q %d must be positive", name, q)
	}
	return Domain{kind: KindInt, low: float64(low), high: float64(high), q: float64(q), log: log, inclusive: inclusive}
}

// maxExactInt is the largest int a float64 holds exactly: int domains
// keep their bounds as float64.
const maxExactInt = 1 << 53

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// RandInt samples an int uniformly in [low, high) (Ray's tune.randint).
func RandInt(low, high int) Domain { return intDomain("RandInt", low, high, 0, false, false) }

// QRandInt samples an int in [low, high] rounded to a multiple of q (Ray's
// tune.qrandint; its high bound is included).
func QRandInt(low, high, q int) Domain {
	if q == 0 {
		return bad("QRandInt: q must be positive")
	}
	return intDomain("QRandInt", low, high, q, false, true)
}

// LogRandInt samples an int in [low, high) uniformly in log space (Ray's
// tune.lograndint). low must be positive.
func LogRandInt(low, high int) Domain { return intDomain("LogRandInt", low, high, 0, true, false) }

// Normal samples a float from a normal distribution (Ray's tune.randn).
func Normal(mean, sd float64) Domain {
	if !finite(mean, sd) || sd <= 0 {
		return bad("Normal(%v, %v): sd must be positive and both finite", mean, sd)
	}
	return Domain{kind: KindNormal, mean: mean, sd: sd}
}

// QNormal samples Normal(mean, sd) rounded to a multiple of q (Ray's
// tune.qrandn).
func QNormal(mean, sd, q float64) Domain {
	d := Normal(mean, sd)
	if d.err == nil && !(q > 0 && finite(q)) {
		return bad("QNormal: q %v must be positive", q)
	}
	d.q = q
	return d
}

// Choice samples one of values uniformly (Ray's tune.choice). Values
// should be plain data (numbers, strings, bools, slices, maps): a trial's
// Params travel as msgpack.
func Choice(values ...any) Domain {
	if len(values) == 0 {
		return bad("Choice: no values to choose from")
	}
	return Domain{kind: KindChoice, values: slices.Clone(values)}
}

// GridSearch tries every one of values (Ray's tune.grid_search): the
// variant generator makes the cross product of a space's grids, each
// NumSamples times. Search algorithms other than random search refuse
// grids.
func GridSearch(values ...any) Domain {
	if len(values) == 0 {
		return bad("GridSearch: no values")
	}
	return Domain{kind: KindGrid, values: slices.Clone(values)}
}

// SampleFrom computes a value from the rest of the configuration (Ray's
// tune.sample_from): fn gets the Params resolved so far (every other
// domain sampled) and returns the value. It runs in the driver, so it may
// be a closure; it may read other SampleFrom values only if their paths
// sort before its own.
func SampleFrom(fn func(Params) any) Domain {
	if fn == nil {
		return bad("SampleFrom: nil function")
	}
	return Domain{kind: KindSampleFrom, fn: fn}
}

// A Param is one domain of a Space, by path.
type Param struct {
	Path   string
	Domain Domain
}

// Params returns the space's domains in path order, and its constants by
// path. A Space that is not a tree of maps, domains and plain values, or
// that holds an invalid domain, is an ErrInvalidSpace.
func (s Space) Params() (params []Param, constants map[string]any, err error) {
	constants = map[string]any{}
	if err := flatten(map[string]any(s), "", &params, constants); err != nil {
		return nil, nil, err
	}
	sort.Slice(params, func(i, j int) bool { return params[i].Path < params[j].Path })
	return params, constants, nil
}

// Validate returns the space's first error, nil if it has none.
func (s Space) Validate() error {
	_, _, err := s.Params()
	return err
}

func flatten(m map[string]any, prefix string, params *[]Param, constants map[string]any) error {
	for k, v := range m {
		if k == "" || strings.Contains(k, "/") {
			return fmt.Errorf("%w: key %q: keys must be non-empty and hold no '/'", ErrInvalidSpace, prefix+k)
		}
		path := prefix + k
		switch v := v.(type) {
		case Domain:
			if v.kind == 0 && v.err == nil {
				return fmt.Errorf("%w: %q: a zero Domain; make one with Uniform, Choice...", ErrInvalidSpace, path)
			}
			if v.err != nil {
				return fmt.Errorf("%q: %w", path, v.err)
			}
			*params = append(*params, Param{Path: path, Domain: v})
		case *Domain:
			return fmt.Errorf("%w: %q: use a Domain value, not a pointer", ErrInvalidSpace, path)
		case Space:
			if len(v) == 0 {
				constants[path] = Params{}
				continue
			}
			if err := flatten(map[string]any(v), path+"/", params, constants); err != nil {
				return err
			}
		case map[string]any:
			if len(v) == 0 {
				constants[path] = Params{}
				continue
			}
			if err := flatten(v, path+"/", params, constants); err != nil {
				return err
			}
		case []any:
			for i, e := range v {
				if _, ok := e.(Domain); ok {
					return fmt.Errorf("%w: %q[%d]: a Domain inside a list is not searched; use a nested map", ErrInvalidSpace, path, i)
				}
			}
			constants[path] = v
		case Params:
			if err := flatten(map[string]any(v), path+"/", params, constants); err != nil {
				return err
			}
		default:
			constants[path] = v
		}
	}
	return nil
}

// hasGrid reports whether params hold a GridSearch.
func hasGrid(params []Param) bool {
	for _, p := range params {
		if p.Domain.kind == KindGrid {
			return true
		}
	}
	return false
}

// unflatten builds nested Params from values by path.
func unflatten(flat map[string]any) Params {
	out := Params{}
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, path := range keys {
		parts := strings.Split(path, "/")
		m := out
		for _, p := range parts[:len(parts)-1] {
			sub, ok := m[p].(Params)
			if !ok {
				sub = Params{}
				m[p] = sub
			}
			m = sub
		}
		m[parts[len(parts)-1]] = flat[path]
	}
	return out
}
