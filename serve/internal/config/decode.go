package config

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// nodeBudget bounds the nodes one Parse visits, aliases expanded: a few
// lines of anchors can otherwise stand for billions of nodes.
const nodeBudget = 1 << 18

// decoder walks a YAML node tree, collecting every error with its path
// rather than stopping at the first.
type decoder struct {
	errs     []error
	dropped  int // errors past maxErrors
	warnings []string
	budget   int
	spent    bool // the budget ran out (reported once)
	// nodes keeps the nodes of names and route prefixes by path, so that
	// checks across applications can give their lines.
	nodes map[string]*yaml.Node
}

func (d *decoder) remember(path string, n *yaml.Node) {
	if d.nodes == nil {
		d.nodes = map[string]*yaml.Node{}
	}
	d.nodes[path] = n
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	if len(d.errs) >= maxErrors {
		d.dropped++
		return
	}
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, &FieldError{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) warn(path, format string, args ...any) {
	d.warnings = append(d.warnings, path+": "+fmt.Sprintf(format, args...))
}

// visit charges one node against the budget; false once it is spent.
func (d *decoder) visit(n *yaml.Node, path string) bool {
	if d.budget <= 0 {
		if !d.spent {
			d.spent = true
			d.fail(n, path, "document too large (more than %d nodes with aliases expanded)", nodeBudget)
		}
		return false
	}
	d.budget--
	return true
}

// resolve follows aliases to the node they stand for.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func field(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// describe names what a node holds, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!bool":
			return "a boolean (" + n.Value + ")"
		case "!!int":
			return "an integer (" + n.Value + ")"
		case "!!float":
			return "a number (" + n.Value + ")"
		case "!!str":
			if len(n.Value) > 60 {
				return strconv.Quote(n.Value[:57] + "...")
			}
			return strconv.Quote(n.Value)
		default:
			return "a " + n.ShortTag() + " value"
		}
	}
	return "an unexpected node"
}

func (d *decoder) typeErr(n *yaml.Node, path, want string) {
	d.fail(n, path, "expected %s, got %s", want, describe(n))
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// pair is one key and value of a mapping.
type pair struct {
	key  string
	k, v *yaml.Node
}

// pairs lists a mapping's entries, refusing duplicate keys and expanding
// merge keys (<<), whose entries yield to the mapping's own.
func (d *decoder) pairs(n *yaml.Node, path string) ([]pair, bool) {
	n = resolve(n)
	if !d.visit(n, path) {
		return nil, false
	}
	if n.Kind != yaml.MappingNode {
		d.typeErr(n, path, "a mapping")
		return nil, false
	}
	own := make([]pair, 0, len(n.Content)/2)
	var merged []pair
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			src := resolve(v)
			list := []*yaml.Node{src}
			if src.Kind == yaml.SequenceNode {
				list = src.Content
			}
			for _, m := range list {
				ps, ok := d.pairs(m, path)
				if ok {
					merged = append(merged, ps...)
				}
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "a key must be a plain value, got %s", describe(k))
			continue
		}
		if seen[k.Value] {
			d.fail(k, field(path, k.Value), "duplicate key")
			continue
		}
		seen[k.Value] = true
		own = append(own, pair{key: k.Value, k: k, v: v})
	}
	for _, p := range merged {
		if !seen[p.key] {
			seen[p.key] = true
			own = append(own, p)
		}
	}
	return own, true
}

// list returns a sequence's items.
func (d *decoder) list(n *yaml.Node, path string) ([]*yaml.Node, bool) {
	n = resolve(n)
	if !d.visit(n, path) {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		d.typeErr(n, path, "a list")
		return nil, false
	}
	return n.Content, true
}

func (d *decoder) scalar(n *yaml.Node, path, tag, want string) (*yaml.Node, bool) {
	n = resolve(n)
	if !d.visit(n, path) {
		return nil, false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != tag {
		d.typeErr(n, path, want)
		return nil, false
	}
	return n, true
}

func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	s, ok := d.scalar(n, path, "!!str", "a string")
	if !ok {
		return "", false
	}
	return s.Value, true
}

func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	s, ok := d.scalar(n, path, "!!bool", "a boolean")
	if !ok {
		return false, false
	}
	var b bool
	if err := s.Decode(&b); err != nil {
		d.fail(s, path, "expected a boolean, got %q", s.Value)
		return false, false
	}
	return b, true
}

func (d *decoder) integer(n *yaml.Node, path string) (int64, bool) {
	s, ok := d.scalar(n, path, "!!int", "an integer")
	if !ok {
		return 0, false
	}
	var v int64
	if err := s.Decode(&v); err != nil {
		d.fail(s, path, "integer %s out of range", s.Value)
		return 0, false
	}
	return v, true
}

// small is an integer that fits an int on every platform.
func (d *decoder) small(n *yaml.Node, path string) (int, bool) {
	v, ok := d.integer(n, path)
	if ok && (v > math.MaxInt32 || v < math.MinInt32) {
		d.fail(resolve(n), path, "integer %d out of range", v)
		return 0, false
	}
	return int(v), ok
}

// number accepts an integer or a float, finite.
func (d *decoder) number(n *yaml.Node, path string) (float64, bool) {
	n = resolve(n)
	if !d.visit(n, path) {
		return 0, false
	}
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		d.typeErr(n, path, "a number")
		return 0, false
	}
	var v float64
	if err := n.Decode(&v); err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		d.fail(n, path, "expected a finite number, got %s", n.Value)
		return 0, false
	}
	return v, true
}

// seconds reads a *_s field, a number of seconds, as a duration.
func (d *decoder) seconds(n *yaml.Node, path string) (time.Duration, bool) {
	s, ok := d.number(n, path)
	if !ok {
		return 0, false
	}
	if math.Abs(s) > float64(math.MaxInt64)/1e9 {
		d.fail(resolve(n), path, "%v seconds is out of range", s)
		return 0, false
	}
	return time.Duration(math.Round(s * 1e9)), true
}

// freeform reads any JSON-representable value: user_config and args.
func (d *decoder) freeform(n *yaml.Node, path string) (any, bool) {
	n = resolve(n)
	if !d.visit(n, path) {
		return nil, false
	}
	switch n.Kind {
	case yaml.MappingNode:
		ps, ok := d.pairs(n, path)
		if !ok {
			return nil, false
		}
		m := make(map[string]any, len(ps))
		for _, p := range ps {
			v, vok := d.freeform(p.v, field(path, p.key))
			ok = ok && vok
			m[p.key] = v
		}
		return m, ok
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		ok := true
		for i, c := range n.Content {
			v, vok := d.freeform(c, index(path, i))
			ok = ok && vok
			s[i] = v
		}
		return s, ok
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, true
		case "!!bool":
			return d.boolean(n, path)
		case "!!int":
			return d.integer(n, path)
		case "!!float":
			return d.number(n, path)
		case "!!str", "!!timestamp":
			return n.Value, true
		}
	}
	d.fail(n, path, "%s cannot be represented in JSON", describe(n))
	return nil, false
}
