package codec

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// RefExtID is the msgpack extension type of an object reference.
const RefExtID int8 = 1

var encPool = sync.Pool{New: func() any {
	e := msgpack.NewEncoder(nil)
	e.UseCompactInts(true)
	e.UseCompactFloats(false)
	return e
}}

// Marshal encodes v.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := encPool.Get().(*msgpack.Encoder)
	enc.Reset(&buf)
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
		return fmt.Errorf("codec: decoding into %T: %w", ptr, err)
	}
	return nil
}
