package rayo

import (
	"fmt"
	"testing"

	"github.com/rayo-dev/rayo/internal/core"
)

func TestDuplicateID(t *testing.T) {
	refs := func(ids ...string) []core.Ref {
		rs := make([]core.Ref, len(ids))
		for i, id := range ids {
			rs[i] = core.Ref{ID: id}
		}
		return rs
	}
	many := make([]string, 3000)
	for i := range many {
		many[i] = fmt.Sprintf("obj%d", i)
	}
	for _, c := range []struct {
		name string
		refs []core.Ref
		want string
	}{
		{"none", refs(), ""},
		{"one", refs("a"), ""},
		{"distinct", refs("a", "b", "c"), ""},
		{"adjacent", refs("a", "a"), "a"},
		{"far apart", refs("a", "b", "c", "d", "b"), "b"},
		{"many distinct", refs(many...), ""},
		{"many, last repeats the first", refs(append(many, "obj0")...), "obj0"},
	} {
		if got := duplicateID(c.refs); got != c.want {
			t.Errorf("%s: duplicateID = %q, want %q", c.name, got, c.want)
		}
	}
}
