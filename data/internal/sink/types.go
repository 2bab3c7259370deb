package sink

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// checkSchema fails with ErrUnsupported, naming the column, if format f
// cannot hold one of schema's columns: checked before any byte is
// written, since arrow-go's writers panic on some of them.
func checkSchema(f Format, schema *arrow.Schema) (err error) {
	for _, fld := range schema.Fields() {
		if why := unsupported(f, fld); why != "" {
			return &Error{Op: "write", Column: fld.Name, Err: ErrUnsupported,
				Detail: f.String() + " cannot hold " + fld.Type.String() + why}
		}
	}
	return nil
}

// unsupported says why format f cannot hold field fld, or "" if it can.
func unsupported(f Format, fld arrow.Field) (why string) {
	switch f {
	case CSV:
		if !csvType(fld.Type) {
			return " (CSV holds only flat columns: numbers, strings, binary, dates, timestamps, decimals)"
		}
	case Parquet:
		defer func() {
			if r := recover(); r != nil {
				why = fmt.Sprintf(" (arrow-go's Parquet schema conversion failed: %v)", r)
			}
		}()
		props, aprops := parquetProps(Options{})
		if _, err := pqarrow.ToParquet(arrow.NewSchema([]arrow.Field{fld}, nil), props, aprops); err != nil {
			return ": " + err.Error()
		}
	case JSON:
		if !jsonType(fld.Type) {
			return " (JSON lines hold numbers, strings, binary, dates, times, decimals, lists, structs and maps)"
		}
	}
	return ""
}

// csvType lists the types arrow-go's CSV writer turns into one field each
// (its transformer panics on others, and writes lists in a form no CSV
// reader reads back, so lists are refused as pyarrow refuses them).
func csvType(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.BOOL, arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64,
		arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY, arrow.FIXED_SIZE_BINARY,
		arrow.DATE32, arrow.DATE64, arrow.TIMESTAMP, arrow.DECIMAL128, arrow.DECIMAL256, arrow.NULL:
		return true
	}
	return false
}

// jsonType lists the types the JSON lines encoder writes: arrow-go's
// GetOneForMarshal covers them, nested ones included.
func jsonType(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.DICTIONARY, arrow.SPARSE_UNION, arrow.DENSE_UNION, arrow.RUN_END_ENCODED, arrow.EXTENSION,
		arrow.INTERVAL_MONTHS, arrow.INTERVAL_DAY_TIME, arrow.INTERVAL_MONTH_DAY_NANO:
		return false
	case arrow.LIST, arrow.LARGE_LIST, arrow.FIXED_SIZE_LIST, arrow.LIST_VIEW, arrow.LARGE_LIST_VIEW:
		return jsonType(t.(arrow.ListLikeType).Elem())
	case arrow.MAP:
		m := t.(*arrow.MapType)
		return jsonType(m.KeyType()) && jsonType(m.ItemType())
	case arrow.STRUCT:
		for _, f := range t.(*arrow.StructType).Fields() {
			if !jsonType(f.Type) {
				return false
			}
		}
	}
	return true
}

// emptyRecord is a record batch of schema with no rows.
func emptyRecord(schema *arrow.Schema) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	return b.NewRecordBatch()
}
