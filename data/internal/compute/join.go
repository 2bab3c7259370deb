package compute

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// joinKind normalises how: Ray Data's join_type names ("inner",
// "left_outer", "right_outer", "full_outer") and pandas' ("left",
// "right", "outer").
func joinKind(how string) (left, right bool, err error) {
	switch how {
	case "inner":
		return false, false, nil
	case "left", "left_outer":
		return true, false, nil
	case "right", "right_outer":
		return false, true, nil
	case "outer", "full_outer", "full":
		return true, true, nil
	}
	return false, false, badArg("join kind %q: want inner, left, right or outer", how)
}

// HashJoin joins left and right (each one schema) on leftKeys =
// rightKeys, as Ray Data's Dataset.join does within one partition. how is
// "inner", "left" ("left_outer"), "right" ("right_outer") or "outer"
// ("full_outer"). The hash table is built on the smaller side. A null key
// matches nothing (as Arrow's and SQL's joins). The result holds the key
// columns once (named as on the left; an unmatched right row's keys come
// from the right), then left's other columns, then right's other columns,
// a name already taken getting rightSuffix (no suffix and a clash fail
// with ErrBadArgument). Rows come in left's order, each left row's
// matches in right's order, then the unmatched right rows in right's
// order; a missing side's columns are null.
func HashJoin(left, right []arrow.Record, leftKeys, rightKeys []string, how, rightSuffix string) (_ arrow.Record, err error) {
	defer guard(&err)
	keepLeft, keepRight, err := joinKind(how)
	if err != nil {
		return nil, err
	}
	if len(leftKeys) == 0 || len(leftKeys) != len(rightKeys) {
		return nil, badArg("join on %d left and %d right keys", len(leftKeys), len(rightKeys))
	}
	L, err := Concat(left)
	if err != nil {
		return nil, fmt.Errorf("join's left side: %w", err)
	}
	defer L.Release()
	R, err := Concat(right)
	if err != nil {
		return nil, fmt.Errorf("join's right side: %w", err)
	}
	defer R.Release()
	lk, err := NewKeys(L, leftKeys)
	if err != nil {
		return nil, err
	}
	rk, err := NewKeys(R, rightKeys)
	if err != nil {
		return nil, err
	}
	for i := range lk.cols {
		if !arrow.TypeEqual(lk.cols[i].DataType(), rk.cols[i].DataType()) {
			return nil, &ColumnError{Err: ErrSchemaMismatch, Column: leftKeys[i], Op: "join key",
				Detail: fmt.Sprintf("%s on the left, %s on the right (%q)", lk.cols[i].DataType(), rk.cols[i].DataType(), rightKeys[i])}
		}
	}
	nl, nr := lk.n, rk.n
	buildLeft := nl < nr
	build, probe := rk, lk
	if buildLeft {
		build, probe = lk, rk
	}

	// The build side's rows grouped by key, each group's rows in order.
	g := newGrouper(build.enc == nil && len(build.cols) == 1, build.n)
	gids := make([]int32, build.n)
	g.group(build, gids)
	start := make([]int32, g.n+1)
	for i, gid := range gids {
		if !build.anyNull(i) {
			start[gid+1]++
		}
	}
	for j := range g.n {
		start[j+1] += start[j]
	}
	rows := make([]int32, start[g.n])
	pos := append([]int32(nil), start[:g.n]...)
	for i, gid := range gids {
		if !build.anyNull(i) {
			rows[pos[gid]] = int32(i)
			pos[gid]++
		}
	}

	var li, ri []int32
	if !buildLeft {
		matched := make([]bool, nr)
		for i := range nl {
			gid := int32(-1)
			if !probe.anyNull(i) {
				gid = g.find(probe, i)
			}
			if gid < 0 {
				if keepLeft {
					li, ri = append(li, int32(i)), append(ri, -1)
				}
				continue
			}
			for _, r := range rows[start[gid]:start[gid+1]] {
				li, ri = append(li, int32(i)), append(ri, r)
				matched[r] = true
			}
		}
		if keepRight {
			for r, m := range matched {
				if !m {
					li, ri = append(li, -1), append(ri, int32(r))
				}
			}
		}
	} else {
		// Probe right, then order the pairs by left row (a stable
		// counting sort), so that the output is the same either way.
		matched := make([]bool, nl)
		var pl, pr, rOnly []int32
		for r := range nr {
			gid := int32(-1)
			if !probe.anyNull(r) {
				gid = g.find(probe, r)
			}
			if gid < 0 {
				if keepRight {
					rOnly = append(rOnly, int32(r))
				}
				continue
			}
			for _, l := range rows[start[gid]:start[gid+1]] {
				pl, pr = append(pl, l), append(pr, int32(r))
				matched[l] = true
			}
		}
		if keepLeft {
			for l, m := range matched {
				if !m {
					pl, pr = append(pl, int32(l)), append(pr, -1)
				}
			}
		}
		cnt := make([]int32, nl+1)
		for _, l := range pl {
			cnt[l+1]++
		}
		for l := range nl {
			cnt[l+1] += cnt[l]
		}
		li, ri = make([]int32, len(pl)), make([]int32, len(pl))
		for k, l := range pl {
			li[cnt[l]], ri[cnt[l]] = l, pr[k]
			cnt[l]++
		}
		for _, r := range rOnly {
			li, ri = append(li, -1), append(ri, r)
		}
	}
	if err := checkRows(int64(len(li))); err != nil {
		return nil, err
	}
	return joinOutput(L, R, lk, rk, leftKeys, rightKeys, li, ri, rightSuffix)
}

// joinOutput gathers the joined rows: li[k], ri[k] are the left and right
// rows of output row k, -1 for none.
func joinOutput(L, R arrow.Record, lk, rk *Keys, leftKeys, rightKeys []string, li, ri []int32, suffix string) (arrow.Record, error) {
	n := len(li)
	idxOf := func(ix []int32) (arrow.Array, bool) {
		var valid []bool
		for k, x := range ix {
			if x < 0 {
				if valid == nil {
					valid = make([]bool, n)
					for j := range k {
						valid[j] = true
					}
				}
				ix[k] = 0
			} else if valid != nil {
				valid[k] = true
			}
		}
		return int32Array(ix, valid), valid != nil
	}
	// The keys: from the left, or from the right where no left row.
	coalesce := make([]int32, n)
	for k := range n {
		if li[k] >= 0 {
			coalesce[k] = li[k]
		} else {
			coalesce[k] = int32(L.NumRows()) + ri[k]
		}
	}
	lIdx, _ := idxOf(li)
	defer lIdx.Release()
	rIdx, _ := idxOf(ri)
	defer rIdx.Release()
	cIdx := int32Array(coalesce, nil)
	defer cIdx.Release()

	var fields []arrow.Field
	var out []arrow.Array
	defer func() { releaseAll(out) }()
	taken := map[string]bool{}
	add := func(f arrow.Field, src arrow.Array, idx arrow.Array) error {
		c, err := take(src, idx)
		if err != nil {
			return err
		}
		out = append(out, c)
		f.Nullable = true
		fields = append(fields, f)
		taken[f.Name] = true
		return nil
	}
	isKey := func(names []string, name string) bool {
		for _, k := range names {
			if k == name {
				return true
			}
		}
		return false
	}
	for i, name := range leftKeys {
		both, err := concatArrays([]arrow.Array{lk.cols[i], rk.cols[i]})
		if err != nil {
			return nil, err
		}
		f := L.Schema().Field(L.Schema().FieldIndices(name)[0])
		err = add(f, both, cIdx)
		both.Release()
		if err != nil {
			return nil, err
		}
	}
	for c, f := range L.Schema().Fields() {
		if isKey(leftKeys, f.Name) {
			continue
		}
		if err := add(f, L.Column(c), lIdx); err != nil {
			return nil, err
		}
	}
	for c, f := range R.Schema().Fields() {
		if isKey(rightKeys, f.Name) {
			continue
		}
		if taken[f.Name] {
			if suffix == "" || taken[f.Name+suffix] {
				return nil, badArg("join: column %q is on both sides; give a right suffix that makes it unique", f.Name)
			}
			f.Name += suffix
		}
		if err := add(f, R.Column(c), rIdx); err != nil {
			return nil, err
		}
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), out, int64(n)), nil
}

// Unique returns the distinct values of column over recs, in order of
// first appearance, a null once if there is one: Ray Data's
// Dataset.unique.
func Unique(recs []arrow.Record, column string) (_ arrow.Array, err error) {
	defer guard(&err)
	if len(recs) == 0 {
		return nil, badArg("unique of no records")
	}
	var g *grouper
	var pieces []arrow.Array
	defer func() { releaseAll(pieces) }()
	var gids []int32
	for _, r := range recs {
		k, err := NewKeys(r, []string{column})
		if err != nil {
			return nil, err
		}
		if g == nil {
			g = newGrouper(k.enc == nil, 0)
		} else if !arrow.TypeEqual(k.cols[0].DataType(), pieces[0].DataType()) {
			return nil, &ColumnError{Err: ErrSchemaMismatch, Column: column, Detail: k.cols[0].DataType().String() + " against " + pieces[0].DataType().String()}
		}
		gids = grow(gids[:0], k.n)
		newRows := g.group(k, gids)
		ia := int32Array(newRows, nil)
		p, err := take(k.cols[0], ia)
		ia.Release()
		if err != nil {
			return nil, err
		}
		pieces = append(pieces, p)
	}
	return concatArrays(pieces)
}
