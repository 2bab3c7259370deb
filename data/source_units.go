package data

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// sourceUnit is one read task's share of a source, as it travels.
type sourceUnit struct {
	Kind  string `msgpack:"k"`           // "range" or "files"
	Start int64  `msgpack:"a,omitempty"` // range: the first id
	End   int64  `msgpack:"e,omitempty"` // range: one past the last
	Rows  int64  `msgpack:"r"`           // rows the unit yields, -1 when unknown
	Bytes int64  `msgpack:"y"`           // estimated bytes, 0 when unknown
}

// rangeChunk is how many ids a range read produces per record.
const rangeChunk = 1 << 20

var rangeSchema = arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)

// read produces the unit's records.
func (u sourceUnit) read(ctx context.Context, emit func(arrow.RecordBatch) error) error {
	switch u.Kind {
	case "range":
		for lo := u.Start; lo < u.End; lo += rangeChunk {
			if err := ctx.Err(); err != nil {
				return err
			}
			hi := min(lo+rangeChunk, u.End)
			b := array.NewInt64Builder(memory.DefaultAllocator)
			b.Reserve(int(hi - lo))
			for v := lo; v < hi; v++ {
				b.UnsafeAppend(v)
			}
			col := b.NewArray()
			b.Release()
			if err := emit(array.NewRecordBatch(rangeSchema, []arrow.Array{col}, hi-lo)); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("%w: unknown source unit %q", ErrInvalidArgument, u.Kind)
}
