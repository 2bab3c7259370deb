package compute

import (
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// accum is one aggregation's running state over dense group ids.
type accum interface {
	// resize makes room for n groups (n never shrinks).
	resize(n int)
	// update folds raw values in: row i of vals into group gids[i].
	update(vals arrow.Array, gids []int32)
	// merge folds partial states in: row i of the state columns into
	// group gids[i].
	merge(states []arrow.Array, gids []int32)
	// states returns the state columns, one row per group.
	states() []arrow.Array
}

func grow[T any](s []T, n int) []T {
	if n <= len(s) {
		return s
	}
	if n <= cap(s) {
		return s[:n]
	}
	out := make([]T, n, max(n, 2*cap(s)))
	copy(out, s)
	return out
}

// countAcc: Ray's AggCount: rows (no column) or non-null values.
type countAcc struct{ cnt []int64 }

func (a *countAcc) resize(n int) { a.cnt = grow(a.cnt, n) }
func (a *countAcc) update(vals arrow.Array, gids []int32) {
	cnt := a.cnt
	if vals == nil || vals.NullN() == 0 {
		for _, g := range gids {
			cnt[g]++
		}
		return
	}
	for i, g := range gids {
		if vals.IsValid(i) {
			cnt[g]++
		}
	}
}
func (a *countAcc) merge(st []arrow.Array, gids []int32) {
	c := st[0].(*array.Int64).Int64Values()
	for i, g := range gids {
		a.cnt[g] += c[i]
	}
}
func (a *countAcc) states() []arrow.Array { return []arrow.Array{numArray(a.cnt, nil)} }

// sumAcc: Sum (T the column's state type) and Mean (T float64): the
// non-null count and the sum.
type sumAcc[T num] struct {
	cnt []int64
	sum []T
}

func (a *sumAcc[T]) resize(n int) { a.cnt, a.sum = grow(a.cnt, n), grow(a.sum, n) }
func (a *sumAcc[T]) update(vals arrow.Array, gids []int32) {
	v := valuesAs[T](vals)
	cnt, sum := a.cnt, a.sum
	if vals.NullN() == 0 {
		for i, g := range gids {
			cnt[g]++
			sum[g] += v[i]
		}
		return
	}
	for i, g := range gids {
		if vals.IsValid(i) {
			cnt[g]++
			sum[g] += v[i]
		}
	}
}
func (a *sumAcc[T]) merge(st []arrow.Array, gids []int32) {
	c, s := st[0].(*array.Int64).Int64Values(), valuesAs[T](st[1])
	for i, g := range gids {
		a.cnt[g] += c[i]
		a.sum[g] += s[i]
	}
}
func (a *sumAcc[T]) states() []arrow.Array {
	return []arrow.Array{numArray(a.cnt, nil), numArray(a.sum, nil)}
}

// minMaxAcc: Min and AggMax: the non-null count and the extreme.
type minMaxAcc[T num] struct {
	max bool
	cnt []int64
	val []T
}

func (a *minMaxAcc[T]) resize(n int) { a.cnt, a.val = grow(a.cnt, n), grow(a.val, n) }
func (a *minMaxAcc[T]) fold(g int32, c int64, x T) {
	if a.cnt[g] == 0 || (a.max && x > a.val[g]) || (!a.max && x < a.val[g]) {
		a.val[g] = x
	}
	a.cnt[g] += c
}
func (a *minMaxAcc[T]) update(vals arrow.Array, gids []int32) {
	v := valuesAs[T](vals)
	nulls := vals.NullN() > 0
	for i, g := range gids {
		if !nulls || vals.IsValid(i) {
			a.fold(g, 1, v[i])
		}
	}
}
func (a *minMaxAcc[T]) merge(st []arrow.Array, gids []int32) {
	c, v := st[0].(*array.Int64).Int64Values(), valuesAs[T](st[1])
	for i, g := range gids {
		if c[i] > 0 {
			a.fold(g, c[i], v[i])
		}
	}
}
func (a *minMaxAcc[T]) states() []arrow.Array {
	return []arrow.Array{numArray(a.cnt, nil), numArray(a.val, nil)}
}

// stdAcc: AggStd: count, mean and M2 (Welford), merged with Chan et al.'s
// formula, so that splitting the input changes nothing but rounding.
type stdAcc struct {
	cnt      []int64
	mean, m2 []float64
}

func (a *stdAcc) resize(n int) {
	a.cnt, a.mean, a.m2 = grow(a.cnt, n), grow(a.mean, n), grow(a.m2, n)
}
func (a *stdAcc) update(vals arrow.Array, gids []int32) {
	v := float64s(vals)
	nulls := vals.NullN() > 0
	for i, g := range gids {
		if nulls && vals.IsNull(i) {
			continue
		}
		a.cnt[g]++
		d := v[i] - a.mean[g]
		a.mean[g] += d / float64(a.cnt[g])
		a.m2[g] += d * (v[i] - a.mean[g])
	}
}
func (a *stdAcc) merge(st []arrow.Array, gids []int32) {
	c := st[0].(*array.Int64).Int64Values()
	m, m2 := float64s(st[1]), float64s(st[2])
	for i, g := range gids {
		if c[i] == 0 {
			continue
		}
		na, nb := float64(a.cnt[g]), float64(c[i])
		n := na + nb
		d := m[i] - a.mean[g]
		a.mean[g] += d * nb / n
		a.m2[g] += m2[i] + d*d*na*nb/n
		a.cnt[g] += c[i]
	}
}
func (a *stdAcc) states() []arrow.Array {
	return []arrow.Array{numArray(a.cnt, nil), numArray(a.mean, nil), numArray(a.m2, nil)}
}

// listAcc: Quantile (the values as float64) and Unique (the distinct
// values): each group's values kept as a list.
type listAcc struct {
	unique    bool
	keepNulls bool // Unique with NullsKeep: a null is a value
	elem      arrow.DataType
	n         int
	gids      []int32
	vals      []arrow.Array
}

func (a *listAcc) resize(n int) { a.n = n }
func (a *listAcc) add(vals arrow.Array, gids []int32) {
	a.gids = append(a.gids, gids...)
	a.vals = append(a.vals, vals)
}
func (a *listAcc) update(vals arrow.Array, gids []int32) {
	if a.unique {
		vals.Retain()
	} else {
		vals = numArray(float64s(vals), validOf(vals))
	}
	a.add(vals, gids)
}
func (a *listAcc) merge(st []arrow.Array, gids []int32) {
	l := st[0].(*array.List)
	off := listOffsets(l)
	eg := make([]int32, 0, off[len(off)-1]-off[0])
	for i, g := range gids {
		for range off[i+1] - off[i] {
			eg = append(eg, g)
		}
	}
	a.add(array.NewSlice(l.ListValues(), int64(off[0]), int64(off[len(gids)])), eg)
}

func validOf(a arrow.Array) []bool {
	if a.NullN() == 0 {
		return nil
	}
	v := make([]bool, a.Len())
	for i := range v {
		v[i] = a.IsValid(i)
	}
	return v
}

// states orders the kept values by group (stably), drops nulls and, for
// AggUnique, repeats, and returns them as one list per group.
func (a *listAcc) states() []arrow.Array {
	var all arrow.Array
	if len(a.vals) == 0 {
		all = array.MakeArrayOfNull(mem, a.elem, 0)
	} else {
		var err error
		if all, err = concatArrays(a.vals); err != nil {
			panic(err) // same type throughout: cannot fail
		}
	}
	releaseAll(a.vals)
	a.vals = nil
	defer all.Release()
	keep := make([]bool, len(a.gids))
	for i := range keep {
		keep[i] = a.keepNulls || all.IsValid(i)
	}
	if a.unique && len(a.gids) > 0 {
		ga := numArray(conv(a.gids, func(g int32) int64 { return int64(g) }), nil)
		k := &Keys{cols: []arrow.Array{ga, all}, n: len(a.gids)}
		k.enc = []keyEnc{encoderOf(ga), encoderOf(all)}
		first := newGrouper(false, len(a.gids)).group(k, make([]int32, len(a.gids)))
		ga.Release()
		uniq := make([]bool, len(a.gids))
		for _, r := range first {
			uniq[r] = true
		}
		for i := range keep {
			keep[i] = keep[i] && uniq[i]
		}
	}
	offsets := make([]int32, a.n+1)
	for i, g := range a.gids {
		if keep[i] {
			offsets[g+1]++
		}
	}
	for g := range a.n {
		offsets[g+1] += offsets[g]
	}
	pos := append([]int32(nil), offsets[:a.n]...)
	idx := make([]int32, offsets[a.n])
	for i, g := range a.gids {
		if keep[i] {
			idx[pos[g]] = int32(i)
			pos[g]++
		}
	}
	ia := int32Array(idx, nil)
	defer ia.Release()
	values, err := take(all, ia)
	if err != nil {
		panic(err) // indices are in range: cannot fail
	}
	defer values.Release()
	return []arrow.Array{listArray(values, offsets)}
}

// quantile is numpy's default (linear) interpolation of sorted v at q.
func quantile(v []float64, q float64) float64 {
	pos := q * float64(len(v)-1)
	lo := math.Floor(pos)
	hi := math.Ceil(pos)
	a, b := v[int(lo)], v[int(hi)]
	return a + (b-a)*(pos-lo)
}

// nullsAcc wraps an aggregation kept with NullsKeep: it counts each
// group's nulls beside the inner state, so that Finalize can make the
// result of a group with a null null (Ray's ignore_nulls=False).
type nullsAcc struct {
	inner accum
	nulls []int64
}

func (a *nullsAcc) resize(n int) { a.inner.resize(n); a.nulls = grow(a.nulls, n) }
func (a *nullsAcc) update(vals arrow.Array, gids []int32) {
	if vals.NullN() > 0 {
		for i, g := range gids {
			if vals.IsNull(i) {
				a.nulls[g]++
			}
		}
	}
	a.inner.update(vals, gids)
}
func (a *nullsAcc) merge(st []arrow.Array, gids []int32) {
	a.inner.merge(st[:len(st)-1], gids)
	for i, c := range st[len(st)-1].(*array.Int64).Int64Values() {
		a.nulls[gids[i]] += c
	}
}
func (a *nullsAcc) states() []arrow.Array {
	return append(a.inner.states(), numArray(a.nulls, nil))
}

// minMaxAnyAcc: Min and Max of a column that is not summed as a number
// (strings, binaries, dates, times, timestamps, durations, bools): each
// group's winning row is remembered as (input piece, row) and the values
// gathered at the end, so the result keeps the column's type. Values are
// compared through their order bits (fixed width) or bytes (strings).
type minMaxAnyAcc struct {
	max        bool
	t          arrow.DataType
	cnt        []int64
	piece, row []int32
	pieces     []arrow.Array
	bits       [][]uint64           // per piece, fixed-width types
	strs       []func(i int) string // per piece, strings and binaries
}

func (a *minMaxAnyAcc) resize(n int) {
	a.cnt, a.piece, a.row = grow(a.cnt, n), grow(a.piece, n), grow(a.row, n)
}

func (a *minMaxAnyAcc) fold(vals arrow.Array, counts []int64, gids []int32) {
	vals.Retain()
	p := int32(len(a.pieces))
	a.pieces = append(a.pieces, vals)
	fixed := isFixedKey(a.t)
	if fixed {
		a.bits = append(a.bits, orderBits(vals))
	} else {
		a.strs = append(a.strs, stringAt(vals))
	}
	better := func(i int, g int32) bool {
		var c int
		if fixed {
			x, y := a.bits[p][i], a.bits[a.piece[g]][a.row[g]]
			c = cmpU64(x, y)
		} else {
			c = strings.Compare(a.strs[p](i), a.strs[a.piece[g]](int(a.row[g])))
		}
		return (a.max && c > 0) || (!a.max && c < 0)
	}
	for i, g := range gids {
		c := int64(1)
		if counts != nil {
			c = counts[i]
		}
		if c == 0 || vals.IsNull(i) {
			continue
		}
		if a.cnt[g] == 0 || better(i, g) {
			a.piece[g], a.row[g] = p, int32(i)
		}
		a.cnt[g] += c
	}
}

func cmpU64(x, y uint64) int {
	if x < y {
		return -1
	}
	if x > y {
		return 1
	}
	return 0
}

func (a *minMaxAnyAcc) update(vals arrow.Array, gids []int32) { a.fold(vals, nil, gids) }
func (a *minMaxAnyAcc) merge(st []arrow.Array, gids []int32) {
	a.fold(st[1], st[0].(*array.Int64).Int64Values(), gids)
}

func (a *minMaxAnyAcc) states() []arrow.Array {
	n := len(a.cnt)
	var all arrow.Array
	if len(a.pieces) == 0 {
		all = array.MakeArrayOfNull(mem, a.t, 1)
	} else {
		var err error
		if all, err = concatArrays(a.pieces); err != nil {
			panic(err) // same type throughout: cannot fail
		}
	}
	defer all.Release()
	start := make([]int32, len(a.pieces)+1)
	for p, x := range a.pieces {
		start[p+1] = start[p] + int32(x.Len())
	}
	idx, valid := make([]int32, n), make([]bool, n)
	for g := range n {
		if a.cnt[g] > 0 {
			idx[g], valid[g] = start[a.piece[g]]+a.row[g], true
		}
	}
	releaseAll(a.pieces)
	a.pieces, a.bits, a.strs = nil, nil, nil
	ia := int32Array(idx, valid)
	defer ia.Release()
	vals, err := take(all, ia)
	if err != nil {
		panic(err) // indices are in range: cannot fail
	}
	return []arrow.Array{numArray(a.cnt, nil), vals}
}
