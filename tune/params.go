package tune

import (
	"fmt"
	"strings"
)

// Params is a trial's configuration (Ray's config dict): the Space with
// every Domain replaced by its sampled value. Nested maps are Params. A
// trial's Params travel to its actor as msgpack, so numbers arrive as
// int64 or float64 whatever their type in the Space; the accessors
// convert. A key may be a path ("model/lr") into nested Params.
type Params map[string]any

// Get returns the value at key, a path of keys joined by "/".
func (p Params) Get(key string) (any, bool) {
	parts := strings.Split(key, "/")
	var cur any = p
	for _, k := range parts {
		m, ok := asMap(cur)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case Params:
		return m, true
	case map[string]any:
		return m, true
	case Space:
		return m, true
	}
	return nil, false
}

// Float returns the number at key as a float64; 0 if absent or not a
// number.
func (p Params) Float(key string) float64 {
	v, _ := p.Get(key)
	f, _ := toFloat(v)
	return f
}

// Int returns the number at key as an int (a float is truncated); 0 if
// absent or not a number.
func (p Params) Int(key string) int {
	v, _ := p.Get(key)
	switch n := v.(type) {
	case int:
		return n
	case int64:
		return int(n)
	}
	f, _ := toFloat(v)
	return int(f)
}

// String returns the value at key formatted as a string ("" if absent).
func (p Params) String(key string) string {
	v, ok := p.Get(key)
	if !ok {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// Bool returns the bool at key; false if absent or not a bool.
func (p Params) Bool(key string) bool {
	v, _ := p.Get(key)
	b, _ := v.(bool)
	return b
}

// Sub returns the nested Params at key (nil if absent).
func (p Params) Sub(key string) Params {
	v, _ := p.Get(key)
	m, _ := asMap(v)
	return Params(m)
}

// Flat returns p's leaves by path.
func (p Params) Flat() map[string]any {
	out := map[string]any{}
	var walk func(m map[string]any, prefix string)
	walk = func(m map[string]any, prefix string) {
		for k, v := range m {
			if sub, ok := asMap(v); ok {
				walk(sub, prefix+k+"/")
				continue
			}
			out[prefix+k] = v
		}
	}
	walk(p, "")
	return out
}

// toFloat converts any Go number to a float64.
func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int8:
		return float64(n), true
	case int16:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint:
		return float64(n), true
	case uint8:
		return float64(n), true
	case uint16:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint64:
		return float64(n), true
	}
	return 0, false
}
