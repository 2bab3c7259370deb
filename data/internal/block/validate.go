package block

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
)

// checkSchema refuses column types blocks do not carry: those whose
// buffers validate cannot check (dictionaries, unions, run-end encoding,
// views) and extension types.
func checkSchema(s *arrow.Schema) error {
	for _, f := range s.Fields() {
		if err := checkType(f.Type); err != nil {
			return fmt.Errorf("column %q: %w", f.Name, err)
		}
	}
	return nil
}

func checkType(dt arrow.DataType) error {
	switch t := dt.(type) {
	case *arrow.NullType, *arrow.BooleanType,
		*arrow.Int8Type, *arrow.Int16Type, *arrow.Int32Type, *arrow.Int64Type,
		*arrow.Uint8Type, *arrow.Uint16Type, *arrow.Uint32Type, *arrow.Uint64Type,
		*arrow.Float16Type, *arrow.Float32Type, *arrow.Float64Type,
		*arrow.Decimal128Type, *arrow.Decimal256Type,
		*arrow.Date32Type, *arrow.Date64Type, *arrow.Time32Type, *arrow.Time64Type,
		*arrow.TimestampType, *arrow.DurationType, *arrow.FixedSizeBinaryType,
		*arrow.BinaryType, *arrow.StringType, *arrow.LargeBinaryType, *arrow.LargeStringType:
		return nil
	case *arrow.ListType:
		return checkType(t.Elem())
	case *arrow.LargeListType:
		return checkType(t.Elem())
	case *arrow.FixedSizeListType:
		return checkType(t.Elem())
	case *arrow.MapType:
		return checkType(t.Elem())
	case *arrow.StructType:
		for _, f := range t.Fields() {
			if err := checkType(f.Type); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("%w: %s", ErrUnsupportedType, dt)
}

// validateRecord checks every column of rec against its length, so that
// reading any value of any column stays within its buffers.
func validateRecord(rec arrow.Record) error {
	for i, col := range rec.Columns() {
		if int64(col.Len()) != rec.NumRows() {
			return fmt.Errorf("column %q: %d rows, the batch has %d", rec.ColumnName(i), col.Len(), rec.NumRows())
		}
		if err := validateData(col.Data()); err != nil {
			return fmt.Errorf("column %q: %w", rec.ColumnName(i), err)
		}
	}
	return nil
}

// validateData checks one array's buffers and, recursively, its children.
func validateData(d arrow.ArrayData) error {
	off, n := int64(d.Offset()), int64(d.Len())
	if off < 0 || n < 0 {
		return fmt.Errorf("offset %d, length %d", off, n)
	}
	end := off + n
	if nulls := d.NullN(); nulls < 0 || int64(nulls) > n {
		return fmt.Errorf("%d nulls in %d values", nulls, n)
	}
	dt := d.DataType()
	if _, ok := dt.(*arrow.NullType); ok {
		return nil
	}
	bufs := d.Buffers()
	layout := dt.Layout()
	if len(bufs) < len(layout.Buffers) {
		return fmt.Errorf("%s: %d buffers, want %d", dt, len(bufs), len(layout.Buffers))
	}
	size := func(i int) int64 {
		if bufs[i] == nil {
			return 0
		}
		return int64(bufs[i].Len())
	}
	for i, spec := range layout.Buffers {
		switch spec.Kind {
		case arrow.KindBitmap:
			if i == 0 && bufs[0] == nil {
				if d.NullN() != 0 {
					return fmt.Errorf("%d nulls and no validity bitmap", d.NullN())
				}
				continue
			}
			if n > 0 && size(i) < (end+7)/8 {
				return fmt.Errorf("%s: bitmap %d of %d bytes for %d values", dt, i, size(i), end)
			}
		case arrow.KindFixedWidth:
			if n > 0 && size(i) < end*int64(spec.ByteWidth) {
				return fmt.Errorf("%s: buffer %d of %d bytes for %d values of %d bytes", dt, i, size(i), end, spec.ByteWidth)
			}
		}
	}
	children := d.Children()
	child := func(i int) (arrow.ArrayData, error) {
		if i >= len(children) || children[i] == nil {
			return nil, fmt.Errorf("%s: child %d missing", dt, i)
		}
		return children[i], nil
	}
	switch t := dt.(type) {
	case *arrow.BinaryType, *arrow.StringType:
		return checkOffsets32(bufs[1].Bytes(), off, n, size(2), "data")
	case *arrow.LargeBinaryType, *arrow.LargeStringType:
		return checkOffsets64(bufs[1].Bytes(), off, n, size(2), "data")
	case *arrow.ListType, *arrow.MapType:
		c, err := child(0)
		if err != nil {
			return err
		}
		if err := checkOffsets32(bufs[1].Bytes(), off, n, int64(c.Len()), "child"); err != nil {
			return err
		}
		return validateData(c)
	case *arrow.LargeListType:
		c, err := child(0)
		if err != nil {
			return err
		}
		if err := checkOffsets64(bufs[1].Bytes(), off, n, int64(c.Len()), "child"); err != nil {
			return err
		}
		return validateData(c)
	case *arrow.FixedSizeListType:
		c, err := child(0)
		if err != nil {
			return err
		}
		if want := end * int64(t.Len()); int64(c.Len()) < want {
			return fmt.Errorf("%s: child of %d values, want %d", dt, c.Len(), want)
		}
		return validateData(c)
	case *arrow.StructType:
		for i := range t.Fields() {
			c, err := child(i)
			if err != nil {
				return err
			}
			if int64(c.Len()) < end {
				return fmt.Errorf("%s: field %d of %d values, want %d", dt, i, c.Len(), end)
			}
			if err := validateData(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkOffsets32 checks the int32 offsets of values [off, off+n): present,
// non-negative, non-decreasing and within limit (the size of what they
// index).
func checkOffsets32(b []byte, off, n, limit int64, what string) error {
	if n == 0 {
		return nil
	}
	if int64(len(b)) < (off+n+1)*4 {
		return fmt.Errorf("offsets buffer of %d bytes for %d values", len(b), off+n)
	}
	o := arrow.Int32Traits.CastFromBytes(b)[off : off+n+1]
	return checkOffsets(len(o), func(i int) int64 { return int64(o[i]) }, limit, what)
}

// checkOffsets64 is checkOffsets32 for int64 offsets.
func checkOffsets64(b []byte, off, n, limit int64, what string) error {
	if n == 0 {
		return nil
	}
	if int64(len(b)) < (off+n+1)*8 {
		return fmt.Errorf("offsets buffer of %d bytes for %d values", len(b), off+n)
	}
	o := arrow.Int64Traits.CastFromBytes(b)[off : off+n+1]
	return checkOffsets(len(o), func(i int) int64 { return o[i] }, limit, what)
}

func checkOffsets(k int, at func(int) int64, limit int64, what string) error {
	prev := at(0)
	if prev < 0 {
		return fmt.Errorf("negative offset %d", prev)
	}
	for i := 1; i < k; i++ {
		v := at(i)
		if v < prev {
			return fmt.Errorf("offsets decrease at %d (%d after %d)", i, v, prev)
		}
		prev = v
	}
	if prev > limit {
		return fmt.Errorf("offset %d past the %s (%d)", prev, what, limit)
	}
	return nil
}
