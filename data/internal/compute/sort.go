package compute

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// SortKey is one sort column: Ray Data's SortKey (key, descending).
// Nulls (and float NaNs) sort last in either direction, as pandas'
// na_position="last".
type SortKey struct {
	Column     string `msgpack:"column"`
	Descending bool   `msgpack:"descending,omitempty"`
}

// Sort returns the rows of recs (one schema) ordered by keys, stably:
// Ray Data's Dataset.sort within one task. One fixed-width key is
// radix-sorted; several keys or strings use a comparison sort with the
// row index as the last key.
func Sort(recs []arrow.Record, keys []SortKey) (_ arrow.Record, err error) {
	defer guard(&err)
	rec, err := Concat(recs)
	if err != nil {
		return nil, err
	}
	defer rec.Release()
	perm, err := sortIndices(rec, keys)
	if err != nil {
		return nil, err
	}
	return takeRecord(rec, perm)
}

// orderBits maps a fixed-width key column to uint64s whose unsigned order
// is the values' order.
func orderBits(a arrow.Array) []uint64 {
	bits := keyBits(a)
	switch a.DataType().ID() {
	case arrow.UINT64:
		return slices.Clone(bits) // keyBits gave the column itself
	case arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.BOOL:
		return bits
	}
	switch a.DataType().ID() {
	case arrow.INT64, arrow.TIMESTAMP, arrow.DURATION, arrow.DATE64, arrow.TIME64:
		bits = slices.Clone(bits) // keyBits gave the column itself
	}
	switch a.DataType().ID() {
	case arrow.FLOAT32, arrow.FLOAT64:
		for i, b := range bits {
			if b>>63 == 1 {
				bits[i] = ^b
			} else {
				bits[i] = b | 1<<63
			}
		}
	default:
		for i, b := range bits {
			bits[i] = b ^ 1<<63
		}
	}
	return bits
}

// nullish reports whether row i sorts as missing: null or NaN.
func nullish(a arrow.Array) func(i int) bool {
	switch f := a.(type) {
	case *array.Float64:
		v := f.Float64Values()
		return func(i int) bool { return f.IsNull(i) || math.IsNaN(v[i]) }
	case *array.Float32:
		v := f.Float32Values()
		return func(i int) bool { return f.IsNull(i) || v[i] != v[i] }
	}
	if a.NullN() == 0 {
		return func(int) bool { return false }
	}
	return a.IsNull
}

// sortColumns resolves keys in rec, checking each can be sorted on.
func sortColumns(rec arrow.Record, keys []SortKey) ([]arrow.Array, error) {
	if len(keys) == 0 {
		return nil, badArg("sort with no keys")
	}
	cols := make([]arrow.Array, len(keys))
	for i, k := range keys {
		c, _, err := column(rec, k.Column, "sort key")
		if err != nil {
			return nil, err
		}
		if !isKeyType(c.DataType()) {
			return nil, &ColumnError{Err: ErrUnsupported, Column: k.Column, Op: "sort key", Detail: "cannot sort on a " + c.DataType().String() + " column"}
		}
		cols[i] = c
	}
	return cols, nil
}

// rowCmp compares row i of a's key columns with row j of b's (the same
// types), with each key's direction and nulls last.
func rowCmp(a, b []arrow.Array, keys []SortKey) func(i, j int) int {
	cmps := make([]func(i, j int) int, len(keys))
	for c := range keys {
		vc := valueCmp(a[c], b[c])
		na, nb := nullish(a[c]), nullish(b[c])
		desc := keys[c].Descending
		cmps[c] = func(i, j int) int {
			an, bn := na(i), nb(j)
			if an || bn {
				switch {
				case an && bn:
					return 0
				case an:
					return 1
				}
				return -1
			}
			if desc {
				return -vc(i, j)
			}
			return vc(i, j)
		}
	}
	if len(cmps) == 1 {
		return cmps[0]
	}
	return func(i, j int) int {
		for _, c := range cmps {
			if r := c(i, j); r != 0 {
				return r
			}
		}
		return 0
	}
}

// valueCmp compares non-null values of two columns of one type.
func valueCmp(a, b arrow.Array) func(i, j int) int {
	if isFixedKey(a.DataType()) {
		ka := orderBits(a)
		kb := ka
		if a != b {
			kb = orderBits(b)
		}
		return func(i, j int) int {
			x, y := ka[i], kb[j]
			if x < y {
				return -1
			}
			if x > y {
				return 1
			}
			return 0
		}
	}
	va, vb := stringAt(a), stringAt(b)
	return func(i, j int) int { return strings.Compare(va(i), vb(j)) }
}

// sortIndices returns the permutation that sorts rec by keys, stably.
func sortIndices(rec arrow.Record, keys []SortKey) ([]int32, error) {
	cols, err := sortColumns(rec, keys)
	if err != nil {
		return nil, err
	}
	if err := checkRows(rec.NumRows()); err != nil {
		return nil, err
	}
	n := int(rec.NumRows())
	if len(cols) == 1 && isFixedKey(cols[0].DataType()) {
		bits := orderBits(cols[0])
		isNull := nullish(cols[0])
		idx := make([]int32, 0, n)
		ks := bits[:0] // compacted in place: orderBits' slice is a copy
		var nulls []int32
		for i, b := range bits {
			if isNull(i) {
				nulls = append(nulls, int32(i))
				continue
			}
			if keys[0].Descending {
				b = ^b
			}
			ks = append(ks, b)
			idx = append(idx, int32(i))
		}
		radixSort(ks, idx)
		return append(idx, nulls...), nil
	}
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(i)
	}
	cmp := rowCmp(cols, cols, keys)
	slices.SortFunc(idx, func(a, b int32) int {
		if c := cmp(int(a), int(b)); c != 0 {
			return c
		}
		return int(a - b)
	})
	return idx, nil
}

// radixSort sorts keys ascending, stably, moving idx along: LSD radix
// with 8-bit digits (few enough write streams for the caches), skipping
// digits every key shares.
func radixSort(keys []uint64, idx []int32) {
	const bitsPer, buckets, passes = 8, 1 << 8, 8
	n := len(keys)
	if n < 2 {
		return
	}
	var hist [passes][buckets]int
	for _, k := range keys {
		for p := range passes {
			hist[p][(k>>(p*bitsPer))&(buckets-1)]++
		}
	}
	k2 := make([]uint64, n)
	i2 := make([]int32, n)
	src, dst, isrc, idst := keys, k2, idx, i2
	for p := range passes {
		h := &hist[p]
		if h[(keys[0]>>(p*bitsPer))&(buckets-1)] == n {
			continue // every key has this digit
		}
		sum := 0
		for b := range buckets {
			c := h[b]
			h[b] = sum
			sum += c
		}
		shift := uint(p * bitsPer)
		for i, k := range src {
			d := (k >> shift) & (buckets - 1)
			pos := h[d]
			h[d] = pos + 1
			dst[pos] = k
			idst[pos] = isrc[i]
		}
		src, dst, isrc, idst = dst, src, idst, isrc
	}
	if &src[0] != &keys[0] {
		copy(keys, src)
		copy(idx, isrc)
	}
}

// SampleBoundaries picks n-1 boundary rows from samples (records holding
// at least the key columns, e.g. Sample's output from every block), so
// that RangePartition by them splits the data into n parts of about equal
// size: Ray Data's sort sample_boundaries. The result holds the key
// columns only, sorted by keys; with no sample rows it has no rows.
func SampleBoundaries(samples []arrow.Record, keys []SortKey, n int) (_ arrow.Record, err error) {
	defer guard(&err)
	if n < 1 {
		return nil, badArg("%d parts: need at least 1", n)
	}
	proj := make([]arrow.Record, len(samples))
	defer func() {
		for _, p := range proj {
			if p != nil {
				p.Release()
			}
		}
	}()
	for i, s := range samples {
		if proj[i], err = project(s, keys); err != nil {
			return nil, err
		}
	}
	all, err := Concat(proj)
	if err != nil {
		return nil, err
	}
	defer all.Release()
	perm, err := sortIndices(all, keys)
	if err != nil {
		return nil, err
	}
	m := len(perm)
	var pick []int32
	if m > 0 {
		for i := 1; i < n; i++ {
			pick = append(pick, perm[min(m-1, i*m/n)])
		}
	}
	return takeRecord(all, pick)
}

// project keeps the sort key columns of rec.
func project(rec arrow.Record, keys []SortKey) (arrow.Record, error) {
	cols, err := sortColumns(rec, keys)
	if err != nil {
		return nil, err
	}
	fields := make([]arrow.Field, len(keys))
	for i, k := range keys {
		fields[i] = rec.Schema().Field(rec.Schema().FieldIndices(k.Column)[0])
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, rec.NumRows()), nil
}

// RangePartition splits rec into len(boundaries)+1 parts by the sort
// order of keys: part j holds the rows r with boundary j-1 <= r <
// boundary j, in their original order, so that sorting each part and
// concatenating the parts in order sorts the whole (Ray Data's sort map
// task). boundaries comes from SampleBoundaries with the same keys.
func RangePartition(rec arrow.Record, keys []SortKey, boundaries arrow.Record) (_ []arrow.Record, err error) {
	defer guard(&err)
	cols, err := sortColumns(rec, keys)
	if err != nil {
		return nil, err
	}
	bcols, err := sortColumns(boundaries, keys)
	if err != nil {
		return nil, err
	}
	for i := range cols {
		if !arrow.TypeEqual(cols[i].DataType(), bcols[i].DataType()) {
			return nil, &ColumnError{Err: ErrSchemaMismatch, Column: keys[i].Column, Op: "boundary", Detail: cols[i].DataType().String() + " against " + bcols[i].DataType().String()}
		}
	}
	if err := checkRows(rec.NumRows()); err != nil {
		return nil, err
	}
	nb := int(boundaries.NumRows())
	cmp := rowCmp(cols, bcols, keys)
	part := make([]int32, rec.NumRows())
	for i := range part {
		// the first boundary greater than row i
		lo, hi := 0, nb
		for lo < hi {
			m := (lo + hi) / 2
			if cmp(i, m) >= 0 {
				lo = m + 1
			} else {
				hi = m
			}
		}
		part[i] = int32(lo)
	}
	return splitByPart(rec, part, nb+1)
}

// Sample returns k rows of rec picked uniformly without replacement (all
// rows when k >= rows), in their original order, holding the key columns
// only: the per-block sample of Ray Data's sort. The same seed picks the
// same rows.
func Sample(rec arrow.Record, keys []SortKey, k int, seed uint64) (_ arrow.Record, err error) {
	defer guard(&err)
	if k < 0 {
		return nil, badArg("sample of %d rows", k)
	}
	if err := checkRows(rec.NumRows()); err != nil {
		return nil, err
	}
	p, err := project(rec, keys)
	if err != nil {
		return nil, err
	}
	defer p.Release()
	n := int(rec.NumRows())
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(i)
	}
	if k < n {
		r := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
		for i := range k { // a partial Fisher-Yates shuffle
			j := i + r.IntN(n-i)
			idx[i], idx[j] = idx[j], idx[i]
		}
		idx = idx[:k]
		slices.Sort(idx)
	}
	return takeRecord(p, idx)
}
