package proc

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// align is where each column's bytes start in a batch's payload (a
// multiple of it), so that numpy's and torch's views of them are aligned.
const align = 64

var zeros [align]byte

// numpyTypes names the numpy dtype of each fixed-width arrow type sent
// as raw bytes (native byte order on both sides: one machine).
var numpyTypes = map[arrow.Type]string{
	arrow.INT8: "int8", arrow.INT16: "int16", arrow.INT32: "int32", arrow.INT64: "int64",
	arrow.UINT8: "uint8", arrow.UINT16: "uint16", arrow.UINT32: "uint32", arrow.UINT64: "uint64",
	arrow.FLOAT16: "float16", arrow.FLOAT32: "float32", arrow.FLOAT64: "float64",
}

// wireColumn is one column of a batch as the script receives it: raw
// bytes at Offset in the payload with Dtype and Shape, or, for strings
// (Dtype "str"), Values in the header itself (null as JSON null).
type wireColumn struct {
	Name   string `json:"name"`
	Dtype  string `json:"dtype"`
	Shape  []int  `json:"shape,omitempty"`
	Offset int    `json:"offset"`
	Values *[]any `json:"values,omitempty"`
}

// wireBatch is a shard_next reply's header; the payload follows it.
type wireBatch struct {
	Rows    int64        `json:"rows"`
	Columns []wireColumn `json:"columns"`
	Epoch   int64        `json:"epoch"`
}

// encodeBatch turns rec into the header and the pieces of its payload
// (in order: padding and column bytes, nbytes in all). The pieces alias
// rec's buffers where they can: they must be written before rec is
// released.
func encodeBatch(rec arrow.RecordBatch) (hdr *wireBatch, pieces [][]byte, nbytes int, err error) {
	hdr = &wireBatch{Rows: rec.NumRows(), Columns: make([]wireColumn, 0, rec.NumCols())}
	for i, col := range rec.Columns() {
		name := rec.ColumnName(i)
		if vals, ok := stringValues(col); ok {
			hdr.Columns = append(hdr.Columns, wireColumn{Name: name, Dtype: "str", Values: &vals})
			continue
		}
		dtype, shape, data, err := numeric(name, col)
		if err != nil {
			return nil, nil, 0, err
		}
		if pad := (align - nbytes%align) % align; pad > 0 {
			pieces = append(pieces, zeros[:pad])
			nbytes += pad
		}
		hdr.Columns = append(hdr.Columns, wireColumn{Name: name, Dtype: dtype, Shape: shape, Offset: nbytes})
		if len(data) > 0 {
			pieces = append(pieces, data)
			nbytes += len(data)
		}
	}
	return hdr, pieces, nbytes, nil
}

// stringValues returns a string column's values (nil for null).
func stringValues(col arrow.Array) ([]any, bool) {
	type strings interface {
		arrow.Array
		Value(int) string
	}
	var s strings
	switch a := col.(type) {
	case *array.String:
		s = a
	case *array.LargeString:
		s = a
	default:
		return nil, false
	}
	vals := make([]any, s.Len())
	for i := range vals {
		if !s.IsNull(i) {
			vals[i] = s.Value(i)
		}
	}
	return vals, true
}

// numeric returns a column as a numpy array's dtype, shape (rows first)
// and bytes: fixed-width numbers as they are (nulls of floats as NaN),
// booleans one byte each, fixed-size lists as one more dimension.
func numeric(name string, col arrow.Array) (dtype string, shape []int, data []byte, err error) {
	n := col.Len()
	switch a := col.(type) {
	case *array.Boolean:
		if a.NullN() > 0 {
			return "", nil, nil, nullsErr(name, col)
		}
		data = make([]byte, n)
		for i := range n {
			if a.Value(i) {
				data[i] = 1
			}
		}
		return "bool", []int{n}, data, nil
	case *array.FixedSizeList:
		if a.NullN() > 0 {
			return "", nil, nil, nullsErr(name, col)
		}
		size := int(a.DataType().(*arrow.FixedSizeListType).Len())
		var start int64
		if n > 0 {
			start, _ = a.ValueOffsets(0)
		}
		values := array.NewSlice(a.ListValues(), start, start+int64(n*size))
		defer values.Release()
		if _, isStr := stringValues(values); isStr {
			return "", nil, nil, unsupported(name, col)
		}
		dtype, inner, data, err := numeric(name, values)
		if err != nil {
			return "", nil, nil, err
		}
		return dtype, append([]int{n, size}, inner[1:]...), data, nil
	}
	dtype, ok := numpyTypes[col.DataType().ID()]
	if !ok {
		return "", nil, nil, unsupported(name, col)
	}
	w := col.DataType().(arrow.FixedWidthDataType).BitWidth() / 8
	if n > 0 {
		off := col.Data().Offset()
		data = col.Data().Buffers()[1].Bytes()[off*w : (off+n)*w]
	}
	if col.NullN() > 0 {
		switch col.DataType().ID() {
		case arrow.FLOAT32:
			data = append([]byte(nil), data...)
			for i := range n {
				if col.IsNull(i) {
					binary.NativeEndian.PutUint32(data[i*4:], math.Float32bits(float32(math.NaN())))
				}
			}
		case arrow.FLOAT64:
			data = append([]byte(nil), data...)
			for i := range n {
				if col.IsNull(i) {
					binary.NativeEndian.PutUint64(data[i*8:], math.Float64bits(math.NaN()))
				}
			}
		default:
			return "", nil, nil, nullsErr(name, col)
		}
	}
	return dtype, []int{n}, data, nil
}

func unsupported(name string, col arrow.Array) error {
	return fmt.Errorf("%w: column %q has type %s; the script gets int8-64, uint8-64, float16-64, bool, "+
		"fixed_size_list of those, string and large_string", ErrUnsupportedColumn, name, col.DataType())
}

func nullsErr(name string, col arrow.Array) error {
	return fmt.Errorf("%w: column %q (%s) has %d nulls, which numpy cannot hold for its type (only floats, as NaN, "+
		"and strings, as None): fill them first", ErrUnsupportedColumn, name, col.DataType(), col.NullN())
}
