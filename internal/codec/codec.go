package codec

import (
	"bytes"
	"fmt"
	"io"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// RefExtID is the msgpack extension type of an object reference.
const RefExtID int8 = 1

var encPool = sync.Pool{New: func() any { return msgpack.NewEncoder(nil) }}

// getEncoder returns a pooled encoder writing to w. Reset clears the
// encoder's options, so they are set after it: without UseCompactInts an
// int64 or uint16 takes its full width, unlike an int (golden fixtures
// pin the compact form for every integer type).
func getEncoder(w io.Writer) *msgpack.Encoder {
	enc := encPool.Get().(*msgpack.Encoder)
	enc.Reset(w)
	enc.UseCompactInts(true)
	return enc
}

// Marshal encodes v.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := getEncoder(&buf)
	err := enc.Encode(v)
	enc.Reset(nil)
	encPool.Put(enc)
	if err != nil {
		return nil, fmt.Errorf("codec: encoding %T: %w", v, err)
	}
	return buf.Bytes(), nil
}

// Unmarshal decodes b into the value ptr points to. A raw value (see
// RawView) decodes without copying: the slice aliases b.
func Unmarshal(b []byte, ptr any) error {
	if IsRaw(b) {
		return decodeRaw(b, ptr)
	}
	if err := msgpack.Unmarshal(b, ptr); err != nil {
		if holdsExt(b, PythonExtID) {
			return fmt.Errorf("codec: decoding into %T: %w", ptr, ErrPythonObject)
		}
		return fmt.Errorf("codec: decoding into %T: %w", ptr, err)
	}
	return nil
}
