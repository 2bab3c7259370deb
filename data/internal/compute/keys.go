package compute

import (
	"bytes"
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/zeebo/xxh3"
)

// columnNames lists a schema's column names, for ErrNoColumn's message.
func columnNames(s *arrow.Schema) []string {
	names := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		names[i] = f.Name
	}
	return names
}

// column returns the column called name, or a *ColumnError wrapping
// ErrNoColumn that lists the record's columns.
func column(rec arrow.Record, name, op string) (arrow.Array, int, error) {
	idx := rec.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return nil, -1, &ColumnError{Err: ErrNoColumn, Column: name, Op: op, Columns: columnNames(rec.Schema())}
	}
	return rec.Column(idx[0]), idx[0], nil
}

// isFixedKey reports whether values of t fit in 64 bits as a key.
func isFixedKey(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT32, arrow.FLOAT64, arrow.BOOL,
		arrow.DATE32, arrow.DATE64, arrow.TIME32, arrow.TIME64,
		arrow.TIMESTAMP, arrow.DURATION:
		return true
	}
	return false
}

// isKeyType reports whether a column of type t can be a group, join,
// partition or sort key: primitives, bool, strings and binaries.
func isKeyType(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
		return true
	}
	return isFixedKey(t)
}

// keyBits returns a fixed-width key column's values as 64-bit patterns
// where equal keys have equal bits (floats: -0 is 0, every NaN the same).
// An int64-like column is returned in place; others are converted.
func keyBits(a arrow.Array) []uint64 {
	switch a := a.(type) {
	case *array.Int64:
		return i64AsU64(a.Int64Values())
	case *array.Uint64:
		return a.Uint64Values()
	case *array.Timestamp:
		v := a.TimestampValues()
		return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(v))), len(v))
	case *array.Duration:
		v := a.DurationValues()
		return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(v))), len(v))
	case *array.Date64:
		v := a.Date64Values()
		return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(v))), len(v))
	case *array.Time64:
		v := a.Time64Values()
		return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(v))), len(v))
	case *array.Float64:
		return convert(a.Float64Values(), func(f float64) uint64 { return floatBits(f) })
	case *array.Float32:
		return convert(a.Float32Values(), func(f float32) uint64 { return floatBits(float64(f)) })
	case *array.Int32:
		return convert(a.Int32Values(), func(v int32) uint64 { return uint64(int64(v)) })
	case *array.Int16:
		return convert(a.Int16Values(), func(v int16) uint64 { return uint64(int64(v)) })
	case *array.Int8:
		return convert(a.Int8Values(), func(v int8) uint64 { return uint64(int64(v)) })
	case *array.Uint32:
		return convert(a.Uint32Values(), func(v uint32) uint64 { return uint64(v) })
	case *array.Uint16:
		return convert(a.Uint16Values(), func(v uint16) uint64 { return uint64(v) })
	case *array.Uint8:
		return convert(a.Uint8Values(), func(v uint8) uint64 { return uint64(v) })
	case *array.Date32:
		return convert(a.Date32Values(), func(v arrow.Date32) uint64 { return uint64(int64(v)) })
	case *array.Time32:
		return convert(a.Time32Values(), func(v arrow.Time32) uint64 { return uint64(int64(v)) })
	case *array.Boolean:
		out := make([]uint64, a.Len())
		for i := range out {
			if a.Value(i) {
				out[i] = 1
			}
		}
		return out
	}
	return nil
}

func i64AsU64(v []int64) []uint64 {
	return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(v))), len(v))
}

func convert[T any](v []T, f func(T) uint64) []uint64 {
	out := make([]uint64, len(v))
	for i, x := range v {
		out[i] = f(x)
	}
	return out
}

func floatBits(f float64) uint64 {
	if f == 0 {
		return 0
	}
	if f != f {
		return 0x7ff8000000000001
	}
	return math.Float64bits(f)
}

// mix64 is a 64-bit finaliser (murmur3's fmix64): fixed, so that every
// process hashes a key the same way.
func mix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}

const nullHash = 0x9e3779b97f4a7c15

// Keys are the key columns of one record, ready to hash and compare: Ray
// Data's hash-shuffle key. A single fixed-width column is hashed from its
// 64-bit values; several columns, strings or binaries from a row encoding
// (per column: a null byte, then 8 value bytes or a length and the bytes).
// A null is a key value of its own, equal to every other null (pandas'
// dropna=False, Ray Data's groupby).
type Keys struct {
	Names []string // the key columns, in order
	cols  []arrow.Array
	n     int
	bits  []uint64 // the single fixed column's values; nil otherwise
	nulls bool     // the single fixed column has nulls
	enc   []keyEnc // one per column, for the encoded form
}

type keyEnc func(buf []byte, i int) []byte

// NewKeys takes the columns names of rec as keys (Ray Data's key
// columns of groupby, join and repartition(keys=...)). It fails with ErrNoColumn
// for a missing column, ErrUnsupported for a column that cannot be a key
// (lists, structs, maps...).
func NewKeys(rec arrow.Record, names []string) (*Keys, error) {
	if err := checkRows(rec.NumRows()); err != nil {
		return nil, err
	}
	k := &Keys{Names: names, n: int(rec.NumRows())}
	for _, name := range names {
		col, _, err := column(rec, name, "key")
		if err != nil {
			return nil, err
		}
		if !isKeyType(col.DataType()) {
			return nil, &ColumnError{Err: ErrUnsupported, Column: name, Op: "key", Detail: "a " + col.DataType().String() + " column cannot be a key"}
		}
		k.cols = append(k.cols, col)
	}
	if len(k.cols) == 1 && isFixedKey(k.cols[0].DataType()) {
		k.bits = keyBits(k.cols[0])
		k.nulls = k.cols[0].NullN() > 0
		return k, nil
	}
	for _, col := range k.cols {
		k.enc = append(k.enc, encoderOf(col))
	}
	return k, nil
}

// Len is the number of rows (a pyarrow table's num_rows).
func (k *Keys) Len() int { return k.n }

func encoderOf(col arrow.Array) keyEnc {
	withNull := func(f keyEnc) keyEnc {
		if col.NullN() == 0 {
			return func(buf []byte, i int) []byte { return f(append(buf, 1), i) }
		}
		return func(buf []byte, i int) []byte {
			if col.IsNull(i) {
				return append(buf, 0)
			}
			return f(append(buf, 1), i)
		}
	}
	if isFixedKey(col.DataType()) {
		bits := keyBits(col)
		return withNull(func(buf []byte, i int) []byte { return binary.LittleEndian.AppendUint64(buf, bits[i]) })
	}
	str := stringAt(col)
	return withNull(func(buf []byte, i int) []byte { return appendLen(buf, str(i)) })
}

// stringAt reads a string or binary column's values without copying.
func stringAt(col arrow.Array) func(i int) string {
	switch c := col.(type) {
	case *array.String:
		return c.Value
	case *array.LargeString:
		return c.Value
	case *array.Binary:
		return func(i int) string { return unsafeString(c.Value(i)) }
	case *array.LargeBinary:
		return func(i int) string { return unsafeString(c.Value(i)) }
	}
	return func(int) string { return "" } // unreachable: NewKeys checked isKeyType
}

func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func appendLen(buf []byte, v string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(v)))
	return append(buf, v...)
}

// encode appends row i's encoded key to buf.
func (k *Keys) encode(buf []byte, i int) []byte {
	for _, e := range k.enc {
		buf = e(buf, i)
	}
	return buf
}

// Hashes returns one 64-bit hash per row (into dst when it is long
// enough): equal keys hash equally in every process. It is what Ray
// Data's hash shuffle computes to pick a row's partition.
func (k *Keys) Hashes(dst []uint64) []uint64 {
	if cap(dst) < k.n {
		dst = make([]uint64, k.n)
	}
	dst = dst[:k.n]
	if k.bits != nil || (len(k.cols) == 1 && k.enc == nil) {
		for i, b := range k.bits {
			dst[i] = mix64(b)
		}
		if k.nulls {
			for i := range dst {
				if k.cols[0].IsNull(i) {
					dst[i] = nullHash
				}
			}
		}
		return dst
	}
	if len(k.cols) == 0 {
		for i := range dst {
			dst[i] = nullHash
		}
		return dst
	}
	var buf []byte
	for i := range dst {
		buf = k.encode(buf[:0], i)
		dst[i] = xxh3.Hash(buf)
	}
	return dst
}

// grouper assigns dense group ids (0, 1, ... in order of first appearance)
// to key rows, across any number of batches with the same key types: an
// open-addressing table with linear probing, keyed by the 64-bit value
// (one fixed-width key) or by the encoded row, whose bytes live in one
// arena (no allocation per row).
type grouper struct {
	n     int // groups so far
	fixed bool
	mask  uint64
	// one fixed-width key
	fslots  []fslot
	nullGid int32
	// encoded keys
	bslots []bslot
	arena  []byte
	ends   []int
	buf    []byte
}

type fslot struct {
	key uint64
	gid int32 // group id + 1; 0 is empty
}

type bslot struct {
	hash uint64
	gid  int32 // group id + 1; 0 is empty
}

func newGrouper(fixed bool, hint int) *grouper {
	size := 16
	for size < 2*hint {
		size <<= 1
	}
	g := &grouper{fixed: fixed, nullGid: -1, mask: uint64(size - 1)}
	if fixed {
		g.fslots = make([]fslot, size)
	} else {
		g.bslots = make([]bslot, size)
	}
	return g
}

// group writes each row's group id to gids (len k.Len()) and returns the
// rows that started a new group, in order.
func (g *grouper) group(k *Keys, gids []int32) (newRows []int32) {
	if len(k.cols) == 0 { // global aggregation: one group
		if g.n == 0 && k.n > 0 {
			g.n = 1
			newRows = append(newRows, 0)
		}
		clear(gids)
		return newRows
	}
	if g.fixed {
		for i, key := range k.bits {
			if k.nulls && k.cols[0].IsNull(i) {
				if g.nullGid < 0 {
					g.nullGid = int32(g.n)
					g.n++
					newRows = append(newRows, int32(i))
				}
				gids[i] = g.nullGid
				continue
			}
			if 2*(g.n+1) > len(g.fslots) {
				g.growFixed()
			}
			s := mix64(key) & g.mask
			for {
				sl := &g.fslots[s]
				if sl.gid == 0 {
					sl.key = key
					sl.gid = int32(g.n) + 1
					gids[i] = int32(g.n)
					g.n++
					newRows = append(newRows, int32(i))
					break
				}
				if sl.key == key {
					gids[i] = sl.gid - 1
					break
				}
				s = (s + 1) & g.mask
			}
		}
		return newRows
	}
	for i := 0; i < k.n; i++ {
		g.buf = k.encode(g.buf[:0], i)
		h := xxh3.Hash(g.buf)
		if 2*(g.n+1) > len(g.bslots) {
			g.growBytes()
		}
		s := h & g.mask
		for {
			sl := &g.bslots[s]
			if sl.gid == 0 {
				sl.hash = h
				sl.gid = int32(g.n) + 1
				g.arena = append(g.arena, g.buf...)
				g.ends = append(g.ends, len(g.arena))
				gids[i] = int32(g.n)
				g.n++
				newRows = append(newRows, int32(i))
				break
			}
			if sl.hash == h {
				gid := int(sl.gid - 1)
				start := 0
				if gid > 0 {
					start = g.ends[gid-1]
				}
				if bytes.Equal(g.arena[start:g.ends[gid]], g.buf) {
					gids[i] = int32(gid)
					break
				}
			}
			s = (s + 1) & g.mask
		}
	}
	return newRows
}

func (g *grouper) growFixed() {
	old := g.fslots
	g.fslots = make([]fslot, 2*len(old))
	g.mask = uint64(len(g.fslots) - 1)
	for _, sl := range old {
		if sl.gid == 0 {
			continue
		}
		s := mix64(sl.key) & g.mask
		for g.fslots[s].gid != 0 {
			s = (s + 1) & g.mask
		}
		g.fslots[s] = sl
	}
}

func (g *grouper) growBytes() {
	old := g.bslots
	g.bslots = make([]bslot, 2*len(old))
	g.mask = uint64(len(g.bslots) - 1)
	for _, sl := range old {
		if sl.gid == 0 {
			continue
		}
		s := sl.hash & g.mask
		for g.bslots[s].gid != 0 {
			s = (s + 1) & g.mask
		}
		g.bslots[s] = sl
	}
}

// find returns the group of row i of k, or -1 when no such key was
// grouped (k has the key types the grouper was built with).
func (g *grouper) find(k *Keys, i int) int32 {
	if g.fixed {
		if k.nulls && k.cols[0].IsNull(i) {
			return g.nullGid
		}
		key := k.bits[i]
		for s := mix64(key) & g.mask; ; s = (s + 1) & g.mask {
			sl := &g.fslots[s]
			if sl.gid == 0 {
				return -1
			}
			if sl.key == key {
				return sl.gid - 1
			}
		}
	}
	g.buf = k.encode(g.buf[:0], i)
	h := xxh3.Hash(g.buf)
	for s := h & g.mask; ; s = (s + 1) & g.mask {
		sl := &g.bslots[s]
		if sl.gid == 0 {
			return -1
		}
		if sl.hash == h {
			gid := int(sl.gid - 1)
			start := 0
			if gid > 0 {
				start = g.ends[gid-1]
			}
			if bytes.Equal(g.arena[start:g.ends[gid]], g.buf) {
				return int32(gid)
			}
		}
	}
}

// anyNull reports whether any key column of row i is null.
func (k *Keys) anyNull(i int) bool {
	for _, c := range k.cols {
		if c.IsNull(i) {
			return true
		}
	}
	return false
}
