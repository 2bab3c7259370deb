package compute

import (
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// num is the set of types aggregation states are kept in: every integer
// and bool column is summed and compared as int64 (uint64 as uint64),
// every float column as float64.
type num interface{ int64 | uint64 | float64 }

type numKind uint8

const (
	numNone numKind = iota
	numInt
	numUint
	numFloat
)

// numKindOf says which state type a column of type t aggregates in.
func numKindOf(t arrow.DataType) numKind {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.BOOL:
		return numInt
	case arrow.UINT64:
		return numUint
	case arrow.FLOAT32, arrow.FLOAT64, arrow.FLOAT16:
		return numFloat
	}
	return numNone
}

func valuesAs[T num](a arrow.Array) []T {
	var z T
	switch any(z).(type) {
	case int64:
		return any(int64s(a)).([]T)
	case uint64:
		v := a.(*array.Uint64).Uint64Values()
		return any(v).([]T)
	default:
		return any(float64s(a)).([]T)
	}
}

// int64s returns an integer or bool column as int64s (in place for int64).
func int64s(a arrow.Array) []int64 {
	switch a := a.(type) {
	case *array.Int64:
		return a.Int64Values()
	case *array.Int32:
		return conv(a.Int32Values(), func(v int32) int64 { return int64(v) })
	case *array.Int16:
		return conv(a.Int16Values(), func(v int16) int64 { return int64(v) })
	case *array.Int8:
		return conv(a.Int8Values(), func(v int8) int64 { return int64(v) })
	case *array.Uint32:
		return conv(a.Uint32Values(), func(v uint32) int64 { return int64(v) })
	case *array.Uint16:
		return conv(a.Uint16Values(), func(v uint16) int64 { return int64(v) })
	case *array.Uint8:
		return conv(a.Uint8Values(), func(v uint8) int64 { return int64(v) })
	case *array.Uint64:
		v := a.Uint64Values()
		return unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(v))), len(v))
	case *array.Boolean:
		out := make([]int64, a.Len())
		for i := range out {
			if a.Value(i) {
				out[i] = 1
			}
		}
		return out
	}
	return nil
}

// float64s returns a numeric column as float64s (in place for float64).
func float64s(a arrow.Array) []float64 {
	switch a := a.(type) {
	case *array.Float64:
		return a.Float64Values()
	case *array.Float32:
		return conv(a.Float32Values(), func(v float32) float64 { return float64(v) })
	case *array.Float16:
		out := make([]float64, a.Len())
		for i := range out {
			out[i] = float64(a.Value(i).Float32())
		}
		return out
	case *array.Uint64:
		return conv(a.Uint64Values(), func(v uint64) float64 { return float64(v) })
	}
	return conv(int64s(a), func(v int64) float64 { return float64(v) })
}

func conv[S, T any](v []S, f func(S) T) []T {
	out := make([]T, len(v))
	for i, x := range v {
		out[i] = f(x)
	}
	return out
}

// bitmap builds a validity bitmap from valid (nil: no nulls).
func bitmap(valid []bool) (*memory.Buffer, int) {
	if valid == nil {
		return nil, 0
	}
	bm := make([]byte, bitutil.BytesForBits(int64(len(valid))))
	nulls := 0
	for i, v := range valid {
		if v {
			bitutil.SetBit(bm, i)
		} else {
			nulls++
		}
	}
	if nulls == 0 {
		return nil, 0
	}
	return memory.NewBufferBytes(bm), nulls
}

// numArray wraps v (not copied) as an Arrow int64, uint64 or float64
// array, with nulls where valid is false.
func numArray[T num](v []T, valid []bool) arrow.Array {
	var z T
	var t arrow.DataType
	switch any(z).(type) {
	case int64:
		t = arrow.PrimitiveTypes.Int64
	case uint64:
		t = arrow.PrimitiveTypes.Uint64
	default:
		t = arrow.PrimitiveTypes.Float64
	}
	buf := memory.NewBufferBytes(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 8*len(v)))
	nb, nulls := bitmap(valid)
	data := array.NewData(t, len(v), []*memory.Buffer{nb, buf}, nil, nulls, 0)
	defer data.Release()
	return array.MakeFromData(data)
}

// listArray builds a list<elem> array of n rows whose row r holds
// values[offsets[r]:offsets[r+1]].
func listArray(values arrow.Array, offsets []int32) arrow.Array {
	buf := memory.NewBufferBytes(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(offsets))), 4*len(offsets)))
	data := array.NewData(arrow.ListOf(values.DataType()), len(offsets)-1, []*memory.Buffer{nil, buf}, []arrow.ArrayData{values.Data()}, 0, 0)
	defer data.Release()
	return array.MakeFromData(data)
}

// listOffsets returns l's n+1 offsets into l.ListValues(), minding l's
// own offset (arrow-go's Offsets is the whole buffer).
func listOffsets(l *array.List) []int32 {
	o := l.Data().Offset()
	return l.Offsets()[o : o+l.Len()+1]
}
