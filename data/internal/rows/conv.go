package rows

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// appendFn appends one Go value to the builder it was made for.
type appendFn func(v reflect.Value)

// readFn reads element i of the array it was made for into dst. It is
// only made after the array's type was checked compatible with the
// converter's, so its type assertions hold.
type readFn func(i int, dst reflect.Value) error

// conv converts one Go type to and from one Arrow type. The builder and
// array are type-asserted once per column, not once per value.
type conv interface {
	dataType() arrow.DataType
	appender(b array.Builder) appendFn
	reader(a arrow.Array, path string) readFn
}

// notNull wraps the reader of a non-pointer field: a null there has no Go
// value to become.
func notNull(a arrow.Array, path string, rd readFn) readFn {
	if a.NullN() == 0 {
		return rd
	}
	return func(i int, dst reflect.Value) error {
		if a.IsNull(i) {
			return fmt.Errorf("%s: %w (make the field a pointer)", path, ErrNull)
		}
		return rd(i, dst)
	}
}

type scalarConv struct{ kind reflect.Kind }

func (c scalarConv) dataType() arrow.DataType {
	switch c.kind {
	case reflect.Bool:
		return arrow.FixedWidthTypes.Boolean
	case reflect.Int8:
		return arrow.PrimitiveTypes.Int8
	case reflect.Int16:
		return arrow.PrimitiveTypes.Int16
	case reflect.Int32:
		return arrow.PrimitiveTypes.Int32
	case reflect.Int, reflect.Int64:
		return arrow.PrimitiveTypes.Int64
	case reflect.Uint8:
		return arrow.PrimitiveTypes.Uint8
	case reflect.Uint16:
		return arrow.PrimitiveTypes.Uint16
	case reflect.Uint32:
		return arrow.PrimitiveTypes.Uint32
	case reflect.Uint, reflect.Uint64:
		return arrow.PrimitiveTypes.Uint64
	case reflect.Float32:
		return arrow.PrimitiveTypes.Float32
	case reflect.Float64:
		return arrow.PrimitiveTypes.Float64
	default: // reflect.String
		return arrow.BinaryTypes.String
	}
}

func (c scalarConv) appender(b array.Builder) appendFn {
	switch c.kind {
	case reflect.Bool:
		bb := b.(*array.BooleanBuilder)
		return func(v reflect.Value) { bb.Append(v.Bool()) }
	case reflect.Int8:
		bb := b.(*array.Int8Builder)
		return func(v reflect.Value) { bb.Append(int8(v.Int())) }
	case reflect.Int16:
		bb := b.(*array.Int16Builder)
		return func(v reflect.Value) { bb.Append(int16(v.Int())) }
	case reflect.Int32:
		bb := b.(*array.Int32Builder)
		return func(v reflect.Value) { bb.Append(int32(v.Int())) }
	case reflect.Int, reflect.Int64:
		bb := b.(*array.Int64Builder)
		return func(v reflect.Value) { bb.Append(v.Int()) }
	case reflect.Uint8:
		bb := b.(*array.Uint8Builder)
		return func(v reflect.Value) { bb.Append(uint8(v.Uint())) }
	case reflect.Uint16:
		bb := b.(*array.Uint16Builder)
		return func(v reflect.Value) { bb.Append(uint16(v.Uint())) }
	case reflect.Uint32:
		bb := b.(*array.Uint32Builder)
		return func(v reflect.Value) { bb.Append(uint32(v.Uint())) }
	case reflect.Uint, reflect.Uint64:
		bb := b.(*array.Uint64Builder)
		return func(v reflect.Value) { bb.Append(v.Uint()) }
	case reflect.Float32:
		bb := b.(*array.Float32Builder)
		return func(v reflect.Value) { bb.Append(float32(v.Float())) }
	case reflect.Float64:
		bb := b.(*array.Float64Builder)
		return func(v reflect.Value) { bb.Append(v.Float()) }
	default:
		bb := b.(*array.StringBuilder)
		return func(v reflect.Value) { bb.Append(v.String()) }
	}
}

func (c scalarConv) reader(a arrow.Array, path string) readFn {
	var rd readFn
	switch c.kind {
	case reflect.Bool:
		arr := a.(*array.Boolean)
		rd = func(i int, dst reflect.Value) error { dst.SetBool(arr.Value(i)); return nil }
	case reflect.Int8:
		arr := a.(*array.Int8)
		rd = func(i int, dst reflect.Value) error { dst.SetInt(int64(arr.Value(i))); return nil }
	case reflect.Int16:
		arr := a.(*array.Int16)
		rd = func(i int, dst reflect.Value) error { dst.SetInt(int64(arr.Value(i))); return nil }
	case reflect.Int32:
		arr := a.(*array.Int32)
		rd = func(i int, dst reflect.Value) error { dst.SetInt(int64(arr.Value(i))); return nil }
	case reflect.Int, reflect.Int64:
		arr := a.(*array.Int64)
		rd = func(i int, dst reflect.Value) error { dst.SetInt(arr.Value(i)); return nil }
	case reflect.Uint8:
		arr := a.(*array.Uint8)
		rd = func(i int, dst reflect.Value) error { dst.SetUint(uint64(arr.Value(i))); return nil }
	case reflect.Uint16:
		arr := a.(*array.Uint16)
		rd = func(i int, dst reflect.Value) error { dst.SetUint(uint64(arr.Value(i))); return nil }
	case reflect.Uint32:
		arr := a.(*array.Uint32)
		rd = func(i int, dst reflect.Value) error { dst.SetUint(uint64(arr.Value(i))); return nil }
	case reflect.Uint, reflect.Uint64:
		arr := a.(*array.Uint64)
		rd = func(i int, dst reflect.Value) error { dst.SetUint(arr.Value(i)); return nil }
	case reflect.Float32:
		arr := a.(*array.Float32)
		rd = func(i int, dst reflect.Value) error { dst.SetFloat(float64(arr.Value(i))); return nil }
	case reflect.Float64:
		arr := a.(*array.Float64)
		rd = func(i int, dst reflect.Value) error { dst.SetFloat(arr.Value(i)); return nil }
	default:
		arr := a.(*array.String)
		// Clone: the array's bytes may be a block read in place from the
		// object store, which outlives neither the record nor the task.
		rd = func(i int, dst reflect.Value) error { dst.SetString(strings.Clone(arr.Value(i))); return nil }
	}
	return notNull(a, path, rd)
}

type binaryConv struct{}

func (binaryConv) dataType() arrow.DataType { return arrow.BinaryTypes.Binary }

func (binaryConv) appender(b array.Builder) appendFn {
	bb := b.(*array.BinaryBuilder)
	return func(v reflect.Value) { bb.Append(v.Bytes()) }
}

func (binaryConv) reader(a arrow.Array, path string) readFn {
	arr := a.(*array.Binary)
	return notNull(a, path, func(i int, dst reflect.Value) error {
		if b := arr.Value(i); len(b) > 0 {
			dst.SetBytes(slices.Clone(b)) // a copy, as for strings
		} else {
			dst.SetZero()
		}
		return nil
	})
}

type timeConv struct{}

func (timeConv) dataType() arrow.DataType { return timestampType }

func (timeConv) appender(b array.Builder) appendFn {
	bb := b.(*array.TimestampBuilder)
	return func(v reflect.Value) {
		var t time.Time
		if v.CanAddr() { // avoids Interface's allocation
			t = *(*time.Time)(v.Addr().UnsafePointer())
		} else {
			t = v.Interface().(time.Time)
		}
		bb.Append(arrow.Timestamp(t.UnixMicro()))
	}
}

func (timeConv) reader(a arrow.Array, path string) readFn {
	arr := a.(*array.Timestamp)
	return notNull(a, path, func(i int, dst reflect.Value) error {
		// dst is always addressable: an element of a slice FromRecord
		// made, or of a value made with reflect.New.
		*(*time.Time)(dst.Addr().UnsafePointer()) = time.UnixMicro(int64(arr.Value(i))).UTC()
		return nil
	})
}

type durationConv struct{}

func (durationConv) dataType() arrow.DataType { return arrow.FixedWidthTypes.Duration_ns }

func (durationConv) appender(b array.Builder) appendFn {
	bb := b.(*array.DurationBuilder)
	return func(v reflect.Value) { bb.Append(arrow.Duration(v.Int())) }
}

func (durationConv) reader(a arrow.Array, path string) readFn {
	arr := a.(*array.Duration)
	return notNull(a, path, func(i int, dst reflect.Value) error {
		dst.SetInt(int64(arr.Value(i)))
		return nil
	})
}

// ptrConv is a nullable column: a nil pointer is a null.
type ptrConv struct {
	elem     conv
	elemType reflect.Type
}

func (c *ptrConv) dataType() arrow.DataType { return c.elem.dataType() }

func (c *ptrConv) appender(b array.Builder) appendFn {
	inner := c.elem.appender(b)
	return func(v reflect.Value) {
		if v.IsNil() {
			b.AppendNull()
			return
		}
		inner(v.Elem())
	}
}

func (c *ptrConv) reader(a arrow.Array, path string) readFn {
	inner := c.elem.reader(a, path)
	return func(i int, dst reflect.Value) error {
		if a.IsNull(i) {
			dst.SetZero()
			return nil
		}
		p := reflect.New(c.elemType)
		if err := inner(i, p.Elem()); err != nil {
			return err
		}
		dst.Set(p)
		return nil
	}
}

// listConv is a slice: an Arrow list.
type listConv struct {
	elem   conv
	goType reflect.Type
}

func (c *listConv) dataType() arrow.DataType {
	return arrow.ListOfField(arrow.Field{Name: "item", Type: c.elem.dataType(), Nullable: c.goType.Elem().Kind() == reflect.Pointer})
}

func (c *listConv) appender(b array.Builder) appendFn {
	lb := b.(*array.ListBuilder)
	ea := c.elem.appender(lb.ValueBuilder())
	return func(v reflect.Value) {
		lb.Append(true)
		for k := 0; k < v.Len(); k++ {
			ea(v.Index(k))
		}
	}
}

func (c *listConv) reader(a arrow.Array, path string) readFn {
	la := a.(*array.List)
	er := c.elem.reader(la.ListValues(), path+"[]")
	return notNull(a, path, func(i int, dst reflect.Value) error {
		s, e := la.ValueOffsets(i)
		if s == e {
			dst.SetZero()
			return nil
		}
		n := int(e - s)
		sl := reflect.MakeSlice(c.goType, n, n)
		for k := 0; k < n; k++ {
			if err := er(int(s)+k, sl.Index(k)); err != nil {
				return err
			}
		}
		dst.Set(sl)
		return nil
	})
}

// arrayConv is a fixed-size array ([N]T): an Arrow fixed_size_list, the
// shape of a tensor column.
type arrayConv struct {
	elem conv
	n    int
}

func (c *arrayConv) dataType() arrow.DataType {
	return arrow.FixedSizeListOfField(int32(c.n), arrow.Field{Name: "item", Type: c.elem.dataType(), Nullable: isPtr(c.elem)})
}

func isPtr(c conv) bool { _, ok := c.(*ptrConv); return ok }

func (c *arrayConv) appender(b array.Builder) appendFn {
	fb := b.(*array.FixedSizeListBuilder)
	ea := c.elem.appender(fb.ValueBuilder())
	return func(v reflect.Value) {
		fb.Append(true)
		for k := 0; k < c.n; k++ {
			ea(v.Index(k))
		}
	}
}

func (c *arrayConv) reader(a arrow.Array, path string) readFn {
	fa := a.(*array.FixedSizeList)
	er := c.elem.reader(fa.ListValues(), path+"[]")
	return notNull(a, path, func(i int, dst reflect.Value) error {
		s, _ := fa.ValueOffsets(i)
		for k := 0; k < c.n; k++ {
			if err := er(int(s)+k, dst.Index(k)); err != nil {
				return err
			}
		}
		return nil
	})
}

// mapConv is a map with string keys: an Arrow map, written in key order
// so that equal maps give equal columns.
type mapConv struct {
	item   conv
	goType reflect.Type
}

func (c *mapConv) dataType() arrow.DataType {
	return arrow.MapOfFields(arrow.Field{Type: arrow.BinaryTypes.String},
		arrow.Field{Type: c.item.dataType(), Nullable: isPtr(c.item)})
}

func (c *mapConv) appender(b array.Builder) appendFn {
	mb := b.(*array.MapBuilder)
	kb := mb.KeyBuilder().(*array.StringBuilder)
	ia := c.item.appender(mb.ItemBuilder())
	return func(v reflect.Value) {
		mb.Append(true)
		keys := v.MapKeys()
		slices.SortFunc(keys, func(x, y reflect.Value) int { return strings.Compare(x.String(), y.String()) })
		for _, k := range keys {
			kb.Append(k.String())
			ia(v.MapIndex(k))
		}
	}
}

func (c *mapConv) reader(a arrow.Array, path string) readFn {
	ma := a.(*array.Map)
	keys := ma.Keys().(*array.String)
	ir := c.item.reader(ma.Items(), path+"[]")
	kt, it := c.goType.Key(), c.goType.Elem()
	return notNull(a, path, func(i int, dst reflect.Value) error {
		s, e := ma.ValueOffsets(i)
		if s == e {
			dst.SetZero()
			return nil
		}
		m := reflect.MakeMapWithSize(c.goType, int(e-s))
		for k := int(s); k < int(e); k++ {
			if keys.IsNull(k) {
				return fmt.Errorf("%s: %w (a null map key)", path, ErrNull)
			}
			kv := reflect.New(kt).Elem()
			kv.SetString(strings.Clone(keys.Value(k)))
			iv := reflect.New(it).Elem()
			if err := ir(k, iv); err != nil {
				return err
			}
			m.SetMapIndex(kv, iv)
		}
		dst.Set(m)
		return nil
	})
}

// fieldConv is one exported field of a struct.
type fieldConv struct {
	name     string  // the column name
	index    int     // the Go field index
	offset   uintptr // the Go field's offset in the struct
	conv     conv
	nullable bool
}

// structConv is a struct: an Arrow struct, or at the top a record batch.
type structConv struct {
	fields []fieldConv
	dt     arrow.DataType
}

func (c *structConv) dataType() arrow.DataType { return c.dt }

func (c *structConv) appender(b array.Builder) appendFn {
	sb := b.(*array.StructBuilder)
	apps := make([]appendFn, len(c.fields))
	for j, f := range c.fields {
		apps[j] = f.conv.appender(sb.FieldBuilder(j))
	}
	return func(v reflect.Value) {
		sb.Append(true)
		for j, f := range c.fields {
			apps[j](v.Field(f.index))
		}
	}
}

func (c *structConv) reader(a arrow.Array, path string) readFn {
	sa := a.(*array.Struct)
	rds := make([]readFn, len(c.fields))
	for j, f := range c.fields {
		// By position: the struct type was checked compatible, names included.
		rds[j] = f.conv.reader(sa.Field(j), path+"."+f.name)
	}
	return notNull(a, path, func(i int, dst reflect.Value) error {
		for j, f := range c.fields {
			if err := rds[j](i, dst.Field(f.index)); err != nil {
				return err
			}
		}
		return nil
	})
}
