package sched

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// LabelOp is the operator of one label requirement, as in Ray's
// label_selector (and Kubernetes' set-based selectors).
type LabelOp int

const (
	LabelIn           LabelOp = iota // the node has the key and its value is one of Values
	LabelNotIn                       // the node lacks the key, or its value is none of Values
	LabelExists                      // the node has the key (any value)
	LabelDoesNotExist                // the node lacks the key
)

// String names the operator as the selector syntax spells it.
func (op LabelOp) String() string {
	switch op {
	case LabelIn:
		return "in"
	case LabelNotIn:
		return "notin"
	case LabelExists:
		return "exists"
	case LabelDoesNotExist:
		return "doesnotexist"
	}
	return fmt.Sprintf("LabelOp(%d)", int(op))
}

// LabelRequirement is one condition on a node's labels. Values is used by
// LabelIn and LabelNotIn only. The fields are exported (and untagged) so the
// type travels over msgpack inside Strategy.
type LabelRequirement struct {
	Key    string
	Op     LabelOp
	Values []string
}

// Matches reports whether a node with the given labels satisfies r. As in
// Ray, LabelNotIn holds for a node that lacks the key altogether. An In with
// no values matches nothing, a NotIn with no values matches everything, and
// an unknown operator matches nothing (fail closed).
func (r LabelRequirement) Matches(labels map[string]string) bool {
	v, has := labels[r.Key]
	switch r.Op {
	case LabelIn:
		return has && slices.Contains(r.Values, v)
	case LabelNotIn:
		return !has || !slices.Contains(r.Values, v)
	case LabelExists:
		return has
	case LabelDoesNotExist:
		return !has
	}
	return false
}

// String renders r in the syntax ParseLabelSelector accepts: "k=v",
// "k in (a,b)", "k!=v", "k notin (a,b)", "k" or "!k". (An In or NotIn with
// no values renders as "k in ()", which does not parse back.)
func (r LabelRequirement) String() string {
	switch r.Op {
	case LabelIn, LabelNotIn:
		if len(r.Values) == 1 {
			if r.Op == LabelIn {
				return r.Key + "=" + r.Values[0]
			}
			return r.Key + "!=" + r.Values[0]
		}
		return r.Key + " " + r.Op.String() + " (" + strings.Join(r.Values, ",") + ")"
	case LabelExists:
		return r.Key
	case LabelDoesNotExist:
		return "!" + r.Key
	}
	return fmt.Sprintf("%s %s (%s)", r.Key, r.Op, strings.Join(r.Values, ","))
}

// FormatLabelSelector renders reqs in the syntax ParseLabelSelector accepts,
// in the given order, e.g. "zone in (a,b),gpu,!spot". It is deterministic, so
// it can be part of a key that groups requests with equal strategies.
func FormatLabelSelector(reqs []LabelRequirement) string {
	parts := make([]string, len(reqs))
	for i, r := range reqs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// MatchesLabels reports whether a node with the given labels satisfies every
// requirement of s.Labels (an empty selector matches every node).
func (s Strategy) MatchesLabels(labels map[string]string) bool {
	for _, r := range s.Labels {
		if !r.Matches(labels) {
			return false
		}
	}
	return true
}

// ErrInvalidLabelSelector reports a malformed label selector expression.
var ErrInvalidLabelSelector = errors.New("sched: invalid label selector")

// ParseLabelSelector parses a comma-separated list of requirements, all of
// which must hold:
//
//	zone=us-east       (also zone==us-east)  LabelIn with one value
//	zone in (a, b)                           LabelIn
//	zone!=x                                  LabelNotIn with one value
//	zone notin (a, b)                        LabelNotIn
//	gpu                                      LabelExists
//	!gpu                                     LabelDoesNotExist
//
// Whitespace around tokens is ignored; "in" and "notin" are case-insensitive.
// Keys and values are runs of characters other than whitespace and
// , ( ) = ! ; values may not be empty, and a value set needs at least one
// value (duplicates in a set are dropped). An empty or all-blank expression
// yields no requirements (matches every node). Errors wrap
// ErrInvalidLabelSelector and give the offending byte offset.
func ParseLabelSelector(expr string) ([]LabelRequirement, error) {
	p := &selParser{expr: expr}
	if p.peek().kind == tokEOF {
		return nil, nil
	}
	var reqs []LabelRequirement
	for {
		r, err := p.requirement()
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, r)
		switch t := p.next(); t.kind {
		case tokEOF:
			return reqs, nil
		case tokComma:
			if p.peek().kind == tokEOF {
				return nil, p.errorf(t.pos, "trailing ','")
			}
		default:
			return nil, p.errorf(t.pos, "unexpected %s after requirement %q; want ',' between requirements", t, r.String())
		}
	}
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokComma
	tokLParen
	tokRParen
	tokEq  // "=" or "=="
	tokNeq // "!="
	tokNot // "!"
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func (t token) String() string {
	if t.kind == tokEOF {
		return "end of input"
	}
	return fmt.Sprintf("%q", t.text)
}

type selParser struct {
	expr   string
	pos    int
	peeked *token
}

func (p *selParser) errorf(pos int, format string, args ...any) error {
	return fmt.Errorf("%w %q: %s at offset %d", ErrInvalidLabelSelector, p.expr, fmt.Sprintf(format, args...), pos)
}

func isStructural(r rune) bool {
	return r == ',' || r == '(' || r == ')' || r == '=' || r == '!'
}

func (p *selParser) peek() token {
	if p.peeked == nil {
		t := p.lex()
		p.peeked = &t
	}
	return *p.peeked
}

func (p *selParser) next() token {
	t := p.peek()
	p.peeked = nil
	return t
}

func (p *selParser) lex() token {
	s := p.expr
	for p.pos < len(s) {
		r, w := utf8.DecodeRuneInString(s[p.pos:])
		if !unicode.IsSpace(r) {
			break
		}
		p.pos += w
	}
	start := p.pos
	if start >= len(s) {
		return token{kind: tokEOF, pos: start}
	}
	two := func(k1 tokKind, k2 tokKind) token {
		if start+1 < len(s) && s[start+1] == '=' {
			p.pos += 2
			return token{kind: k2, text: s[start:p.pos], pos: start}
		}
		p.pos++
		return token{kind: k1, text: s[start:p.pos], pos: start}
	}
	switch s[start] {
	case ',':
		p.pos++
		return token{kind: tokComma, text: ",", pos: start}
	case '(':
		p.pos++
		return token{kind: tokLParen, text: "(", pos: start}
	case ')':
		p.pos++
		return token{kind: tokRParen, text: ")", pos: start}
	case '=':
		return two(tokEq, tokEq)
	case '!':
		return two(tokNot, tokNeq)
	}
	for p.pos < len(s) {
		r, w := utf8.DecodeRuneInString(s[p.pos:])
		if unicode.IsSpace(r) || isStructural(r) {
			break
		}
		p.pos += w
	}
	return token{kind: tokIdent, text: s[start:p.pos], pos: start}
}

func (p *selParser) requirement() (LabelRequirement, error) {
	t := p.next()
	switch t.kind {
	case tokNot:
		k := p.next()
		if k.kind != tokIdent {
			return LabelRequirement{}, p.errorf(k.pos, "want a label key after '!', got %s", k)
		}
		return LabelRequirement{Key: k.text, Op: LabelDoesNotExist}, nil
	case tokIdent:
	case tokEOF, tokComma:
		return LabelRequirement{}, p.errorf(t.pos, "empty requirement")
	default:
		return LabelRequirement{}, p.errorf(t.pos, "want a label key, got %s", t)
	}
	key := t.text
	switch op := p.peek(); op.kind {
	case tokEOF, tokComma:
		return LabelRequirement{Key: key, Op: LabelExists}, nil
	case tokEq, tokNeq:
		p.next()
		v := p.next()
		if v.kind != tokIdent {
			return LabelRequirement{}, p.errorf(v.pos, "want a value after %q for key %q, got %s", op.text, key, v)
		}
		r := LabelRequirement{Key: key, Op: LabelIn, Values: []string{v.text}}
		if op.kind == tokNeq {
			r.Op = LabelNotIn
		}
		return r, nil
	case tokIdent:
		var r LabelRequirement
		switch strings.ToLower(op.text) {
		case "in":
			r = LabelRequirement{Key: key, Op: LabelIn}
		case "notin":
			r = LabelRequirement{Key: key, Op: LabelNotIn}
		default:
			return LabelRequirement{}, p.errorf(op.pos, "unexpected %s after key %q; want '=', '!=', 'in', 'notin' or ','", op, key)
		}
		p.next()
		values, err := p.valueSet(key, op.text)
		if err != nil {
			return LabelRequirement{}, err
		}
		r.Values = values
		return r, nil
	default:
		return LabelRequirement{}, p.errorf(op.pos, "unexpected %s after key %q; want '=', '!=', 'in', 'notin' or ','", op, key)
	}
}

// valueSet parses "(v1, v2, ...)" after an in/notin operator.
func (p *selParser) valueSet(key, op string) ([]string, error) {
	if t := p.next(); t.kind != tokLParen {
		return nil, p.errorf(t.pos, "want '(' after %q for key %q, got %s", op, key, t)
	}
	var values []string
	for {
		v := p.next()
		switch {
		case v.kind == tokRParen && len(values) == 0:
			return nil, p.errorf(v.pos, "empty value set for key %q", key)
		case v.kind != tokIdent:
			return nil, p.errorf(v.pos, "want a value in the set for key %q, got %s", key, v)
		}
		if !slices.Contains(values, v.text) {
			values = append(values, v.text)
		}
		switch t := p.next(); t.kind {
		case tokRParen:
			return values, nil
		case tokComma:
		case tokEOF:
			return nil, p.errorf(t.pos, "missing ')' closing the value set for key %q", key)
		default:
			return nil, p.errorf(t.pos, "want ',' or ')' in the value set for key %q, got %s", key, t)
		}
	}
}

// filterByLabels returns the nodes that satisfy strat's selector. The
// NodeViews are copied shallowly; nothing they reference is modified.
func filterByLabels(nodes []NodeView, strat Strategy) []NodeView {
	out := make([]NodeView, 0, len(nodes))
	for i := range nodes {
		if strat.MatchesLabels(nodes[i].Labels) {
			out = append(out, nodes[i])
		}
	}
	return out
}
