package sink

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Part is the rows of one partition of a record batch: the partition
// columns' values (as they go in a hive path before escaping, "" for a
// null) and the rows, without the partition columns.
type Part struct {
	Values []string
	Rec    arrow.RecordBatch
}

// SplitByPartition groups rec's rows by the values of the partition
// columns cols, for a write with partition_cols as Ray's (hive-style)
// write_parquet: one Part per distinct combination of values, in the order
// of first appearance, each keeping its rows in order, with the partition
// columns dropped from the data (their values live in the directory
// names). Values are formatted as Arrow's ValueStr does (integers in
// decimal, dates as 2006-01-02); a null and an empty string both go to
// Hive's default partition. The caller releases each Part's Rec.
//
// A column not in rec fails with ErrNoColumn, a nested or binary
// partition column with ErrUnsupported, an empty, repeated or all-column
// cols with ErrInvalid.
func SplitByPartition(rec arrow.RecordBatch, cols []string) (parts []Part, err error) {
	if rec == nil {
		return nil, &Error{Op: "partition", Err: ErrInvalid, Detail: "nil record batch"}
	}
	if len(cols) == 0 {
		return nil, &Error{Op: "partition", Err: ErrInvalid, Detail: "no partition columns"}
	}
	schema := rec.Schema()
	isPart := make(map[int]bool, len(cols))
	keyCols := make([]arrow.Array, len(cols))
	for i, c := range cols {
		idx := schema.FieldIndices(c)
		if len(idx) == 0 {
			return nil, &Error{Op: "partition", Column: c, Err: ErrNoColumn}
		}
		if len(idx) > 1 {
			return nil, &Error{Op: "partition", Column: c, Err: ErrInvalid, Detail: "the data has several columns of that name"}
		}
		if isPart[idx[0]] {
			return nil, &Error{Op: "partition", Column: c, Err: ErrInvalid, Detail: "partition column listed twice"}
		}
		t := schema.Field(idx[0]).Type
		if !partitionType(t) {
			return nil, &Error{Op: "partition", Column: c, Err: ErrUnsupported,
				Detail: "a partition column must be a boolean, number, string, date or timestamp, not " + t.String()}
		}
		isPart[idx[0]] = true
		keyCols[i] = rec.Column(idx[0])
	}
	var keep []int
	var fields []arrow.Field
	for i, f := range schema.Fields() {
		if !isPart[i] {
			keep = append(keep, i)
			fields = append(fields, f)
		}
	}
	if len(keep) == 0 {
		return nil, &Error{Op: "partition", Err: ErrInvalid, Detail: "every column is a partition column: no data left to write"}
	}
	md := schema.Metadata()
	outSchema := arrow.NewSchema(fields, &md)
	dataCols := make([]arrow.Array, len(keep))
	for i, k := range keep {
		dataCols[i] = rec.Column(k)
	}

	// Group rows by their values, in order of first appearance.
	n := int(rec.NumRows())
	type group struct {
		values []string
		rows   []int64
	}
	var groups []*group
	byKey := map[string]*group{}
	var key strings.Builder
	vals := make([]string, len(cols))
	for r := 0; r < n; r++ {
		key.Reset()
		for j, c := range keyCols {
			vals[j] = partitionValue(c, r)
			key.WriteString(strconv.Itoa(len(vals[j])))
			key.WriteByte(':')
			key.WriteString(vals[j])
		}
		g := byKey[key.String()]
		if g == nil {
			g = &group{values: append([]string(nil), vals...)}
			byKey[key.String()] = g
			groups = append(groups, g)
		}
		g.rows = append(g.rows, int64(r))
	}

	defer func() {
		if r := recover(); r != nil {
			for _, p := range parts {
				p.Rec.Release()
			}
			parts, err = nil, &Error{Op: "partition", Err: ErrWrite, Detail: fmt.Sprintf("panic in arrow-go: %v", r)}
		}
	}()
	if len(groups) == 1 {
		return []Part{{Values: groups[0].values, Rec: array.NewRecordBatch(outSchema, dataCols, rec.NumRows())}}, nil
	}
	ctx := context.Background()
	for _, g := range groups {
		rec, err := takeRows(ctx, outSchema, dataCols, g.rows)
		if err != nil {
			for _, p := range parts {
				p.Rec.Release()
			}
			return nil, &Error{Op: "partition", Err: ErrWrite, Cause: err}
		}
		parts = append(parts, Part{Values: g.values, Rec: rec})
	}
	return parts, nil
}

// takeRows gathers rows of cols into a new record batch (arrow-go's Take).
func takeRows(ctx context.Context, schema *arrow.Schema, cols []arrow.Array, rows []int64) (arrow.RecordBatch, error) {
	ib := array.NewInt64Builder(memory.DefaultAllocator)
	ib.AppendValues(rows, nil)
	idx := ib.NewInt64Array()
	ib.Release()
	defer idx.Release()
	out := make([]arrow.Array, len(cols))
	release := func() {
		for _, a := range out {
			if a != nil {
				a.Release()
			}
		}
	}
	for i, c := range cols {
		a, err := compute.TakeArray(ctx, c, idx)
		if err != nil {
			release()
			return nil, err
		}
		out[i] = a
	}
	rec := array.NewRecordBatch(schema, out, int64(len(rows)))
	release() // the record holds its own references
	return rec, nil
}

// partitionType lists the types whose values can name a directory.
func partitionType(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.BOOL, arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64,
		arrow.STRING, arrow.LARGE_STRING, arrow.DATE32, arrow.DATE64, arrow.TIMESTAMP,
		arrow.DECIMAL128, arrow.DECIMAL256:
		return true
	}
	return false
}

// partitionValue is the directory value of row r of c, before escaping;
// "" for a null.
func partitionValue(c arrow.Array, r int) string {
	if c.IsNull(r) {
		return ""
	}
	switch a := c.(type) {
	case *array.String:
		return a.Value(r)
	case *array.LargeString:
		return a.Value(r)
	case *array.Int64:
		return strconv.FormatInt(a.Value(r), 10)
	case *array.Int32:
		return strconv.FormatInt(int64(a.Value(r)), 10)
	case *array.Float64:
		return strconv.FormatFloat(a.Value(r), 'g', -1, 64)
	case *array.Float32:
		return strconv.FormatFloat(float64(a.Value(r)), 'g', -1, 32)
	}
	return c.ValueStr(r)
}
