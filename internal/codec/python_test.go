package codec

import (
	"errors"
	"testing"
)

// TestPythonObject: a value holding ext type 4 fails to decode with
// ErrPythonObject whatever the target and depth; other failures keep
// their own error.
func TestPythonObject(t *testing.T) {
	py := []byte{0xd4, 0x04, 0x00} // fixext 1, type 4
	type rec struct {
		A int
		B []any
	}
	cases := []struct {
		name   string
		data   []byte
		into   any
		python bool
	}{
		{"top level into any", py, new(any), true},
		{"top level into int", py, new(int), true},
		{"in an array", append([]byte{0x92, 0x01}, py...), new([]any), true},
		{"deep in a struct", append([]byte{0x82, 0xa1, 'A', 0x01, 0xa1, 'B', 0x91, 0x91}, py...), new(rec), true},
		{"a string into an int", []byte{0xa1, 'x'}, new(int), false},
		{"another extension", []byte{0xd4, 0x09, 0x00}, new(any), false},
		{"truncated extension", []byte{0x91, 0xc7, 0x05, 0x04}, new(any), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Unmarshal(c.data, c.into)
			if err == nil {
				t.Fatal("decoding succeeded")
			}
			if errors.Is(err, ErrPythonObject) != c.python {
				t.Fatalf("error %v: ErrPythonObject %v, want %v", err, !c.python, c.python)
			}
		})
	}
}
