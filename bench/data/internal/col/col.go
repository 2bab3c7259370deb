// Package col wraps Go slices as Arrow arrays without copying, for the
// benchmark's generator and floor (arrow-go's builders copy every value,
// which would put a copy into the floor that the work does not need).
package col

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Float64 returns v as a null-free Arrow array sharing v's memory.
func Float64(v []float64) *array.Float64 {
	d := array.NewData(arrow.PrimitiveTypes.Float64, len(v),
		[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Float64Traits.CastToBytes(v))}, nil, 0, 0)
	defer d.Release()
	return array.NewFloat64Data(d)
}

// Int64 returns v as a null-free Arrow array sharing v's memory.
func Int64(v []int64) *array.Int64 {
	d := array.NewData(arrow.PrimitiveTypes.Int64, len(v),
		[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(v))}, nil, 0, 0)
	defer d.Release()
	return array.NewInt64Data(d)
}
