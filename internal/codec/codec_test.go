package codec

import (
	"bytes"
	"math"
	"reflect"
	"testing"
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
