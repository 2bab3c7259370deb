package codec

import (
	"bytes"
	"math"
	"reflect"
	"testing"
	"unsafe"
)

type point struct {
	X, Y float64
	Tag  string `msgpack:"tag"`
}

func TestRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		in   any
		out  any // pointer to a zero value of the same type
	}{
		{"int", 42, new(int)},
		{"negative int64", int64(math.MinInt64), new(int64)},
		{"uint64 max", uint64(math.MaxUint64), new(uint64)},
		{"float64", 3.25, new(float64)},
		{"float32", float32(1.5), new(float32)},
		{"string", "héllo", new(string)},
		{"empty string", "", new(string)},
		{"bytes", []byte{0, 1, 2, 255}, new([]byte)},
		{"float slice", []float64{1, 2.5, -3}, new([]float64)},
		{"map", map[string]int{"a": 1, "b": 2}, new(map[string]int)},
		{"struct", point{X: 1, Y: -2, Tag: "p"}, new(point)},
		{"pointer struct", &point{X: 3}, new(*point)},
		{"nil slice", []int(nil), new([]int)},
		{"bool", true, new(bool)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := Marshal(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if err := Unmarshal(b, c.out); err != nil {
				t.Fatal(err)
			}
			got := reflect.ValueOf(c.out).Elem().Interface()
			if !reflect.DeepEqual(got, c.in) {
				t.Fatalf("round trip: got %#v, want %#v", got, c.in)
			}
		})
	}
}

func TestDocumentedWireForm(t *testing.T) {
	// Other languages rely on these exact bytes (docs/encoding.md).
	cases := []struct {
		in   any
		want []byte
	}{
		{1, []byte{0x01}},
		{300, []byte{0xcd, 0x01, 0x2c}},
		{"a", []byte{0xa1, 'a'}},
		{[]byte{7}, []byte{0xc4, 0x01, 0x07}},
		{true, []byte{0xc3}},
		{[]int{1, 2}, []byte{0x92, 0x01, 0x02}},
	}
	for _, c := range cases {
		b, err := Marshal(c.in)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, c.want) {
			t.Errorf("Marshal(%#v) = % x, want % x", c.in, b, c.want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	b, _ := Marshal("not a number")
	var n int
	if err := Unmarshal(b, &n); err == nil {
		t.Fatal("decoding a string into an int succeeded")
	}
	if err := Unmarshal([]byte{0xc1}, &n); err == nil {
		t.Fatal("decoding a reserved byte succeeded")
	}
	if _, err := Marshal(make(chan int)); err == nil {
		t.Fatal("encoding a channel succeeded")
	}
}

func TestRawValues(t *testing.T) {
	cases := []struct {
		in  any
		out any
	}{
		{[]byte{1, 2, 3}, new([]byte)},
		{[]float32{1.5, -2}, new([]float32)},
		{[]float64{3.25}, new([]float64)},
		{[]int64{-1, 1 << 40}, new([]int64)},
		{[]uint16{7, 65535}, new([]uint16)},
		{[]int32{}, new([]int32)},
	}
	for _, c := range cases {
		b, err := MarshalRaw(c.in)
		if err != nil {
			t.Fatal(err)
		}
		if !IsRaw(b) {
			t.Fatalf("%T: not raw", c.in)
		}
		if err := Unmarshal(b, c.out); err != nil {
			t.Fatal(err)
		}
		got := reflect.ValueOf(c.out).Elem().Interface()
		if reflect.ValueOf(c.in).Len() == 0 {
			if reflect.ValueOf(got).Len() != 0 {
				t.Fatalf("empty: got %v", got)
			}
			continue
		}
		if !reflect.DeepEqual(got, c.in) {
			t.Fatalf("raw round trip: got %v, want %v", got, c.in)
		}
	}
}

func TestRawIsZeroCopyWhenAligned(t *testing.T) {
	buf := make([]float64, 4) // 8-byte aligned backing memory
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), 32)
	h, _, _ := RawView([]float64{1, 2, 3})
	copy(raw, h[:])
	data := raw[RawHeader:]
	copy(data, unsafe.Slice((*byte)(unsafe.Pointer(&[]float64{1, 2, 3}[0])), 24))
	var out []float64
	if err := Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	if &out[0] != (*float64)(unsafe.Pointer(&data[0])) {
		t.Fatal("decoding an aligned raw value copied it")
	}
	out[0] = 42 // the view aliases the buffer
	if buf[1] != 42 {
		t.Fatalf("view does not alias: %v", buf)
	}
}

func TestRawTypeMismatch(t *testing.T) {
	b, _ := MarshalRaw([]float32{1})
	var f64 []float64
	if err := Unmarshal(b, &f64); err == nil {
		t.Fatal("decoding []float32 into []float64 succeeded")
	}
	var s string
	if err := Unmarshal(b, &s); err == nil {
		t.Fatal("decoding a raw slice into a string succeeded")
	}
	var a any
	if err := Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.([]float32); !ok {
		t.Fatalf("into any: %T", a)
	}
}
