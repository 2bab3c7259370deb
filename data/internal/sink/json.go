package sink

import (
	"encoding/json"
	"io"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// jsonEncoder writes JSON lines: one object per row, keys in column order
// (arrow-go's RecordToJSON goes through a map and sorts them). Numbers,
// booleans and strings are formatted directly; other types go through
// arrow-go's GetOneForMarshal and encoding/json.
type jsonEncoder struct {
	w    io.Writer
	keys [][]byte // `"name":` per column, the first with '{' before it
	buf  []byte
}

func newJSONEncoder(w io.Writer, schema *arrow.Schema) *jsonEncoder {
	keys := make([][]byte, schema.NumFields())
	for i, f := range schema.Fields() {
		var k []byte
		if i == 0 {
			k = append(k, '{')
		} else {
			k = append(k, ',')
		}
		k = appendJSONString(k, f.Name)
		keys[i] = append(k, ':')
	}
	return &jsonEncoder{w: w, keys: keys}
}

// jsonFlushSize is how much JSON is built before it is written.
const jsonFlushSize = 256 << 10

func (e *jsonEncoder) write(rec arrow.RecordBatch) error {
	n := int(rec.NumRows())
	cols := rec.Columns()
	var err error
	for i := 0; i < n; i++ {
		if len(cols) == 0 {
			e.buf = append(e.buf, '{')
		}
		for j, c := range cols {
			e.buf = append(e.buf, e.keys[j]...)
			if e.buf, err = appendJSONValue(e.buf, c, i); err != nil {
				return &Error{Op: "write", Column: rec.ColumnName(j), Err: ErrWrite, Cause: err}
			}
		}
		e.buf = append(e.buf, '}', '\n')
		if len(e.buf) >= jsonFlushSize {
			if _, err := e.w.Write(e.buf); err != nil {
				return err
			}
			e.buf = e.buf[:0]
		}
	}
	return nil
}

func (e *jsonEncoder) close() error {
	if len(e.buf) > 0 {
		if _, err := e.w.Write(e.buf); err != nil {
			return err
		}
		e.buf = e.buf[:0]
	}
	return nil
}

func (e *jsonEncoder) abort() error { return nil }

// appendJSONValue appends row i of column c.
func appendJSONValue(b []byte, c arrow.Array, i int) ([]byte, error) {
	if c.IsNull(i) {
		return append(b, "null"...), nil
	}
	switch a := c.(type) {
	case *array.Boolean:
		return strconv.AppendBool(b, a.Value(i)), nil
	case *array.Int8:
		return strconv.AppendInt(b, int64(a.Value(i)), 10), nil
	case *array.Int16:
		return strconv.AppendInt(b, int64(a.Value(i)), 10), nil
	case *array.Int32:
		return strconv.AppendInt(b, int64(a.Value(i)), 10), nil
	case *array.Int64:
		return strconv.AppendInt(b, a.Value(i), 10), nil
	case *array.Uint8:
		return strconv.AppendUint(b, uint64(a.Value(i)), 10), nil
	case *array.Uint16:
		return strconv.AppendUint(b, uint64(a.Value(i)), 10), nil
	case *array.Uint32:
		return strconv.AppendUint(b, uint64(a.Value(i)), 10), nil
	case *array.Uint64:
		return strconv.AppendUint(b, a.Value(i), 10), nil
	case *array.Float32:
		return appendJSONFloat(b, float64(a.Value(i)), 32), nil
	case *array.Float64:
		return appendJSONFloat(b, a.Value(i), 64), nil
	case *array.String:
		return appendJSONString(b, a.Value(i)), nil
	case *array.LargeString:
		return appendJSONString(b, a.Value(i)), nil
	}
	v, err := json.Marshal(c.GetOneForMarshal(i))
	if err != nil {
		return b, err
	}
	return append(b, v...), nil
}

// appendJSONFloat writes NaN and infinities as null, as pandas' to_json
// (Ray's write_json) does: JSON has no literal for them.
func appendJSONFloat(b []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits)
}

// appendJSONString appends s as a JSON string: '"', '\\' and control
// characters escaped, invalid UTF-8 replaced by U+FFFD (as encoding/json).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
