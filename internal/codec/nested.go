package codec

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// Values may contain references (to objects, to actors). Their encoders
// report themselves with Note, and MarshalCollect returns them, so that
// the runtime can count the references an encoded value holds.

var sessions sync.Map // *msgpack.Encoder -> *[]any

// Note records x in the collection of the encoding enc belongs to, if
// any (see MarshalCollect).
func Note(enc *msgpack.Encoder, x any) {
	if s, ok := sessions.Load(enc); ok {
		p := s.(*[]any)
		*p = append(*p, x)
	}
}

// MarshalCollect encodes v as msgpack and returns what its custom
// encoders noted.
func MarshalCollect(v any) ([]byte, []any, error) {
	var buf bytes.Buffer
	enc := getEncoder(&buf)
	var noted []any
	sessions.Store(enc, &noted)
	err := enc.Encode(v)
	sessions.Delete(enc)
	enc.Reset(nil)
	encPool.Put(enc)
	if err != nil {
		return nil, nil, fmt.Errorf("codec: encoding %T: %w", v, err)
	}
	return buf.Bytes(), noted, nil
}
