package cols

import (
	"reflect"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// number: the Go types of fixed-width numeric columns. G below is the
// field's element kind's type (a named element type has its layout), A
// the Arrow column's (int and uint are 64-bit columns).
type number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 |
		~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

func readNum(f *field, a arrow.Array, dst unsafe.Pointer) {
	ptr := f.how == asNumPtr
	switch f.num {
	case reflect.Int8:
		readNums[int8, int8](a, dst, ptr)
	case reflect.Int16:
		readNums[int16, int16](a, dst, ptr)
	case reflect.Int32:
		readNums[int32, int32](a, dst, ptr)
	case reflect.Int64:
		readNums[int64, int64](a, dst, ptr)
	case reflect.Int:
		readNums[int64, int](a, dst, ptr)
	case reflect.Uint8:
		readNums[uint8, uint8](a, dst, ptr)
	case reflect.Uint16:
		readNums[uint16, uint16](a, dst, ptr)
	case reflect.Uint32:
		readNums[uint32, uint32](a, dst, ptr)
	case reflect.Uint64:
		readNums[uint64, uint64](a, dst, ptr)
	case reflect.Uint:
		readNums[uint64, uint](a, dst, ptr)
	case reflect.Float32:
		readNums[float32, float32](a, dst, ptr)
	case reflect.Float64:
		readNums[float64, float64](a, dst, ptr)
	}
}

// values is a's value buffer as a []A, in place when the buffer is
// aligned for A (Arrow IPC aligns buffers to 8 bytes; a slice at an odd
// offset into a foreign buffer may not be), else a copy.
func values[A number](a arrow.Array) (vals []A, inPlace bool) {
	n := a.Len()
	size := int(unsafe.Sizeof(A(0)))
	buf := a.Data().Buffers()[1]
	if buf == nil { // all nulls, from a producer that wrote no values
		return make([]A, n), false
	}
	b := buf.Bytes()[a.Data().Offset()*size:][:n*size]
	p := unsafe.Pointer(unsafe.SliceData(b))
	if uintptr(p)%unsafe.Alignof(A(0)) == 0 {
		return unsafe.Slice((*A)(p), n), true
	}
	vals = make([]A, n)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(vals))), n*size), b)
	return vals, false
}

// readNums sets the []G (or []*G) at dst from column a, of Arrow type A.
func readNums[A, G number](a arrow.Array, dst unsafe.Pointer, ptr bool) {
	vals, _ := values[A](a)
	n := len(vals)
	if ptr {
		// One backing array for all the values, not one allocation each.
		back := make([]G, n)
		out := make([]*G, n)
		for i, v := range vals {
			if a.IsValid(i) {
				back[i] = G(v)
				out[i] = &back[i]
			}
		}
		*(*[]*G)(dst) = out
		return
	}
	if a.NullN() == 0 && unsafe.Sizeof(A(0)) == unsafe.Sizeof(G(0)) {
		// In place (inPlace), or the aligned copy values made.
		*(*[]G)(dst) = unsafe.Slice((*G)(unsafe.Pointer(unsafe.SliceData(vals))), n)
		return
	}
	out := make([]G, n)
	for i, v := range vals {
		out[i] = G(v)
	}
	if a.NullN() > 0 {
		// A null slot's value is unspecified in Arrow: zero it.
		for i := range out {
			if a.IsNull(i) {
				out[i] = 0
			}
		}
	}
	*(*[]G)(dst) = out
}

func writeNum(mem memory.Allocator, f *field, src unsafe.Pointer, n int) arrow.Array {
	ptr := f.how == asNumPtr
	switch f.num {
	case reflect.Int8:
		return writeNums[int8, int8](mem, f.dt, src, n, ptr)
	case reflect.Int16:
		return writeNums[int16, int16](mem, f.dt, src, n, ptr)
	case reflect.Int32:
		return writeNums[int32, int32](mem, f.dt, src, n, ptr)
	case reflect.Int64:
		return writeNums[int64, int64](mem, f.dt, src, n, ptr)
	case reflect.Int:
		return writeNums[int64, int](mem, f.dt, src, n, ptr)
	case reflect.Uint8:
		return writeNums[uint8, uint8](mem, f.dt, src, n, ptr)
	case reflect.Uint16:
		return writeNums[uint16, uint16](mem, f.dt, src, n, ptr)
	case reflect.Uint32:
		return writeNums[uint32, uint32](mem, f.dt, src, n, ptr)
	case reflect.Uint64:
		return writeNums[uint64, uint64](mem, f.dt, src, n, ptr)
	case reflect.Uint:
		return writeNums[uint64, uint](mem, f.dt, src, n, ptr)
	case reflect.Float32:
		return writeNums[float32, float32](mem, f.dt, src, n, ptr)
	default: // reflect.Float64
		return writeNums[float64, float64](mem, f.dt, src, n, ptr)
	}
}

// writeNums builds the column from the []G (or []*G) at src: one buffer
// allocated from mem and filled with one copy, no builder.
func writeNums[A, G number](mem memory.Allocator, dt arrow.DataType, src unsafe.Pointer, n int, ptr bool) arrow.Array {
	size := int(unsafe.Sizeof(A(0)))
	buf := memory.NewResizableBuffer(mem)
	defer buf.Release()
	buf.Resize(n * size)
	var out []A
	if n > 0 {
		out = unsafe.Slice((*A)(unsafe.Pointer(unsafe.SliceData(buf.Bytes()))), n)
	}
	var valid *memory.Buffer
	nulls := 0
	if ptr {
		in := *(*[]*G)(src)
		valid = memory.NewResizableBuffer(mem)
		defer valid.Release()
		valid.Resize(int(bitutil.BytesForBits(int64(n))))
		bits := valid.Bytes()
		clear(bits)
		for i, p := range in {
			if p == nil {
				out[i] = 0
				nulls++
				continue
			}
			out[i] = A(*p)
			bitutil.SetBit(bits, i)
		}
	} else if in := *(*[]G)(src); unsafe.Sizeof(A(0)) == unsafe.Sizeof(G(0)) {
		copy(out, unsafe.Slice((*A)(unsafe.Pointer(unsafe.SliceData(in))), n))
	} else {
		for i, v := range in {
			out[i] = A(v)
		}
	}
	if nulls == 0 {
		valid = nil
	}
	data := array.NewData(dt, n, []*memory.Buffer{valid, buf}, nil, nulls, 0)
	defer data.Release()
	return array.MakeFromData(data)
}
