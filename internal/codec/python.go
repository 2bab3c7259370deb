package codec

import (
	"bytes"
	"errors"
	"io"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// PythonExtID is the msgpack extension type of a Python object that has
// no shared form (a class instance, a set, a 2-D numpy array...): rayo's
// Python package pickles it (docs/encoding.md gives the payload's layout).
const PythonExtID int8 = 4

// ErrPythonObject is the error of decoding a value that holds a pickled
// Python object: Go cannot read a pickle.
var ErrPythonObject = errors.New("codec: a Python object (pickled by rayo's Python package) cannot be decoded in Go")

// holdsExt reports whether the msgpack value b holds extension id at any
// depth. It runs only after a decode failed, to name the cause: the
// decoder's own error ("unknown ext id=4", "invalid code=c9 decoding
// int64") would not say that the value came from Python.
func holdsExt(b []byte, id int8) bool {
	r := bytes.NewReader(b)
	dec := msgpack.NewDecoder(r) // reads r directly: a bytes.Reader needs no buffer
	// left counts the values still to visit, so nesting needs no recursion.
	for left := 1; left > 0; left-- {
		c, err := dec.PeekCode()
		if err != nil {
			return false
		}
		switch {
		case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
			n, err := dec.DecodeArrayLen()
			if err != nil {
				return false
			}
			left += n
		case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
			n, err := dec.DecodeMapLen()
			if err != nil {
				return false
			}
			left += 2 * n
		case msgpcode.IsExt(c):
			ext, n, err := dec.DecodeExtHeader()
			if err != nil {
				return false
			}
			if n > r.Len() {
				return false // truncated: the decoder's error says so
			}
			if ext == id {
				return true
			}
			if _, err := r.Seek(int64(n), io.SeekCurrent); err != nil {
				return false
			}
		default:
			if dec.Skip() != nil {
				return false
			}
		}
	}
	return false
}
