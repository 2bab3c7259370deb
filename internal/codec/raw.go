package codec

import (
	"fmt"
	"reflect"
	"unsafe"
)

// Raw values: []byte and slices of fixed-size numbers are stored as their
// memory, behind an 8-byte header, so that a reader on the same node gets
// them straight from shared memory without decoding or copying. The
// header starts with 0xc1, a byte msgpack never produces, so raw and
// msgpack values are told apart by their first byte:
//
//	0xc1, kind (1 = raw), element type (see below), 5 zero bytes, data
//
// Element types: 1 byte/uint8, 2 int8, 3 int16, 4 uint16, 5 int32,
// 6 uint32, 7 int64, 8 uint64, 9 float32, 10 float64. Data is
// little-endian (the only byte order rayo runs on).
const (
	rawMagic  = 0xc1
	rawKind   = 1
	RawHeader = 8
)

var rawElems = []reflect.Kind{0, reflect.Uint8, reflect.Int8, reflect.Int16, reflect.Uint16,
	reflect.Int32, reflect.Uint32, reflect.Int64, reflect.Uint64, reflect.Float32, reflect.Float64}

func rawElemCode(k reflect.Kind) byte {
	for i, e := range rawElems {
		if i > 0 && e == k {
			return byte(i)
		}
	}
	return 0
}

// RawView returns the header and a view of the memory of v if v is a
// []byte or a slice of fixed-size numbers (named element types included);
// ok is false for every other value.
func RawView(v any) (header [RawHeader]byte, data []byte, ok bool) {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || rv.Kind() != reflect.Slice {
		return header, nil, false
	}
	code := rawElemCode(rv.Type().Elem().Kind())
	if code == 0 {
		return header, nil, false
	}
	header = [RawHeader]byte{rawMagic, rawKind, code}
	n := rv.Len() * int(rv.Type().Elem().Size())
	if n == 0 {
		return header, nil, true
	}
	return header, unsafe.Slice((*byte)(rv.UnsafePointer()), n), true
}

// IsRaw reports whether b holds a raw value.
func IsRaw(b []byte) bool { return len(b) >= RawHeader && b[0] == rawMagic && b[1] == rawKind }

// decodeRaw points the slice ptr refers to at b's data, without copying:
// the result aliases b.
func decodeRaw(b []byte, ptr any) error {
	pv := reflect.ValueOf(ptr)
	if pv.Kind() != reflect.Pointer || pv.IsNil() {
		return fmt.Errorf("codec: decoding a raw value needs a non-nil pointer, got %T", ptr)
	}
	ev := pv.Elem()
	code := b[2]
	if int(code) >= len(rawElems) || code == 0 {
		return fmt.Errorf("codec: raw value with unknown element type %d", code)
	}
	if ev.Kind() == reflect.Interface && ev.NumMethod() == 0 {
		// Into an `any`: produce the natural slice type.
		t := reflect.SliceOf(kindType(rawElems[code]))
		s := reflect.New(t)
		if err := decodeRaw(b, s.Interface()); err != nil {
			return err
		}
		ev.Set(s.Elem())
		return nil
	}
	if ev.Kind() != reflect.Slice || ev.Type().Elem().Kind() != rawElems[code] {
		return fmt.Errorf("codec: the value is a slice of %v, not a %v", rawElems[code], ev.Type())
	}
	data := b[RawHeader:]
	size := int(ev.Type().Elem().Size())
	if len(data)%size != 0 {
		return fmt.Errorf("codec: raw value of %d bytes is not a whole number of %v", len(data), ev.Type().Elem())
	}
	n := len(data) / size
	if n == 0 {
		ev.Set(reflect.MakeSlice(ev.Type(), 0, 0))
		return nil
	}
	if uintptr(unsafe.Pointer(&data[0]))%uintptr(ev.Type().Elem().Align()) != 0 {
		// Misaligned (an inline value's heap copy): copy to aligned memory.
		s := reflect.MakeSlice(ev.Type(), n, n)
		copy(unsafe.Slice((*byte)(s.UnsafePointer()), len(data)), data)
		ev.Set(s)
		return nil
	}
	ev.Set(reflect.SliceAt(ev.Type().Elem(), unsafe.Pointer(&data[0]), n).Convert(ev.Type()))
	return nil
}

func kindType(k reflect.Kind) reflect.Type {
	switch k {
	case reflect.Uint8:
		return reflect.TypeFor[uint8]()
	case reflect.Int8:
		return reflect.TypeFor[int8]()
	case reflect.Int16:
		return reflect.TypeFor[int16]()
	case reflect.Uint16:
		return reflect.TypeFor[uint16]()
	case reflect.Int32:
		return reflect.TypeFor[int32]()
	case reflect.Uint32:
		return reflect.TypeFor[uint32]()
	case reflect.Int64:
		return reflect.TypeFor[int64]()
	case reflect.Uint64:
		return reflect.TypeFor[uint64]()
	case reflect.Float32:
		return reflect.TypeFor[float32]()
	default:
		return reflect.TypeFor[float64]()
	}
}

// MarshalRaw encodes v in the raw form if it has one (a fresh copy), else
// msgpack. Small values use msgpack; callers that write into shared
// memory use RawView to copy once.
func MarshalRaw(v any) ([]byte, error) {
	h, data, ok := RawView(v)
	if !ok {
		return Marshal(v)
	}
	out := make([]byte, RawHeader+len(data))
	copy(out, h[:])
	copy(out[RawHeader:], data)
	return out, nil
}
