package source

import (
	"context"
	stdcsv "encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	arrowcsv "github.com/apache/arrow-go/v18/arrow/csv"
)

// inferRows is how many rows (CSV) or lines (JSON) type inference reads:
// pyarrow infers from its first block in the same way. A later value that
// does not fit the inferred type fails the read with ErrCorrupt naming
// its rows.
const inferRows = 1000

// readCSV infers the columns' types from the first rows, then reads the
// file with arrow-go's csv reader given those types.
func readCSV(ctx context.Context, u Unit, opts Options, emit func(arrow.RecordBatch) error) error {
	f, err := openStream(u.Path)
	if err != nil {
		return err
	}
	delim := opts.Delimiter
	if delim == 0 {
		delim = ','
	}
	names, types, err := inferCSV(u.Path, f, delim, opts.Header)
	f.Close()
	if err != nil {
		return err
	}
	for i, n := range names {
		if t := typeNamed(opts.Types[n]); t != nil {
			types[i] = t
		}
	}
	if names == nil { // an empty file: no columns, no rows
		sh, err := newShaper(ctx, u, opts, arrow.NewSchema(nil, nil))
		if err != nil {
			return err
		}
		return sh.finish(emit)
	}
	if err := collision(u, opts, names); err != nil {
		return err
	}
	need, err := wanted(u.Path, names, u, opts)
	if err != nil {
		return err
	}
	if need == nil {
		need = names
	}
	// The second pass: the file again from its start.
	if f, err = openStream(u.Path); err != nil {
		return err
	}
	defer f.Close()
	chunk := -1
	if opts.TargetRows > 0 {
		chunk = opts.TargetRows
	}
	colTypes := make(map[string]arrow.DataType, len(names))
	for i, n := range names {
		colTypes[n] = types[i]
	}
	var sh *shaper
	if len(need) == 0 {
		// Only partition or path columns: count the rows.
		return csvCountOnly(ctx, u, opts, f, delim, emit)
	}
	r := arrowcsv.NewInferringReader(f,
		arrowcsv.WithComma(delim),
		arrowcsv.WithHeader(opts.Header),
		arrowcsv.WithColumnTypes(colTypes),
		arrowcsv.WithIncludeColumns(need),
		arrowcsv.WithChunk(chunk),
		arrowcsv.WithNullReader(false, ""),
	)
	defer r.Release()
	var done int64
	for r.Next() {
		rec := r.RecordBatch()
		if err := r.Err(); err != nil {
			e := wrapErr(ErrCorrupt, u.Path, err, "")
			e.FirstRow, e.LastRow = done, done+rec.NumRows()-1
			var pe *stdcsv.ParseError
			if errors.As(err, &pe) {
				e.LastRow++ // a row that does not split stops the chunk before it
			}
			return e
		}
		if sh == nil {
			if sh, err = newShaper(ctx, u, opts, r.Schema()); err != nil {
				return err
			}
		}
		done += rec.NumRows()
		if err := sh.push(rec, emit); err != nil {
			return err
		}
	}
	if err := r.Err(); err != nil {
		e := wrapErr(ErrCorrupt, u.Path, err, "")
		e.FirstRow = done
		return e
	}
	if sh == nil { // a header and no rows
		if sh, err = newShaper(ctx, u, opts, csvSchema(names, types, need)); err != nil {
			return err
		}
	}
	return sh.finish(emit)
}

func csvSchema(names []string, types []arrow.DataType, need []string) *arrow.Schema {
	var fs []arrow.Field
	for _, n := range need {
		for i, m := range names {
			if m == n {
				fs = append(fs, arrow.Field{Name: n, Type: types[i], Nullable: true})
				break
			}
		}
	}
	return arrow.NewSchema(fs, nil)
}

// csvCountOnly reads a CSV file for its row count alone.
func csvCountOnly(ctx context.Context, u Unit, opts Options, f io.Reader, delim rune, emit func(arrow.RecordBatch) error) error {
	cr := stdcsv.NewReader(f)
	cr.Comma = delim
	cr.ReuseRecord = true
	var n int64
	for {
		_, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			e := wrapErr(ErrCorrupt, u.Path, err, "")
			e.FirstRow = n
			return e
		}
		n++
	}
	if opts.Header && n > 0 {
		n--
	}
	return pushCount(ctx, u, opts, n, emit)
}

// inferCSV reads the header (or counts the first row's fields) and the
// first inferRows rows, and types each column: int64 if every non-empty
// value parses as one, else float64, else bool (true/false), else
// string. It returns nil names for an empty file.
func inferCSV(path string, r io.Reader, delim rune, header bool) ([]string, []arrow.DataType, error) {
	cr := stdcsv.NewReader(r)
	cr.Comma = delim
	first, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, nil
	}
	if err != nil {
		e := wrapErr(ErrCorrupt, path, err, "")
		e.FirstRow = 0
		return nil, nil, e
	}
	names := make([]string, len(first))
	kinds := make([]kind, len(first))
	for i := range first {
		if header {
			names[i] = first[i]
		} else {
			names[i] = fmt.Sprintf("f%d", i) // arrow-go's names
			kinds[i] = kinds[i].widen(first[i])
		}
	}
	for n := 0; n < inferRows; n++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			e := wrapErr(ErrCorrupt, path, err, "")
			e.FirstRow = int64(n)
			return nil, nil, e
		}
		for i, v := range rec {
			kinds[i] = kinds[i].widen(v)
		}
	}
	types := make([]arrow.DataType, len(kinds))
	for i, k := range kinds {
		types[i] = k.arrow()
	}
	return names, types, nil
}

// kind is a CSV column's inferred type, widened value by value.
type kind int

const (
	kUnknown kind = iota // only empty values so far
	kInt
	kFloat
	kBool
	kString
)

func (k kind) widen(v string) kind {
	if v == "" || k == kString {
		return k
	}
	isInt := func() bool { _, err := strconv.ParseInt(v, 10, 64); return err == nil }
	isFloat := func() bool { _, err := strconv.ParseFloat(v, 64); return err == nil }
	isBool := v == "true" || v == "false" || v == "True" || v == "False" || v == "TRUE" || v == "FALSE"
	switch k {
	case kUnknown:
		switch {
		case isInt():
			return kInt
		case isFloat():
			return kFloat
		case isBool:
			return kBool
		}
	case kInt:
		switch {
		case isInt():
			return kInt
		case isFloat():
			return kFloat
		}
	case kFloat:
		if isFloat() {
			return kFloat
		}
	case kBool:
		if isBool {
			return kBool
		}
	}
	return kString
}

func (k kind) arrow() arrow.DataType {
	switch k {
	case kInt:
		return arrow.PrimitiveTypes.Int64
	case kFloat:
		return arrow.PrimitiveTypes.Float64
	case kBool:
		return arrow.FixedWidthTypes.Boolean
	}
	return arrow.BinaryTypes.String
}
