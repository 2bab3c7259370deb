package source

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
)

// Format is a file format Plan and Read understand: Ray Data's read_*
// functions, one per format.
type Format int

const (
	Parquet Format = iota // Apache Parquet (read_parquet)
	CSV                   // comma-separated values with a header (read_csv)
	JSON                  // JSON lines: one object per line (read_json)
	Text                  // one row per line, column "text" (read_text)
	Binary                // one row per file, column "bytes" (read_binary_files)
	Images                // PNG and JPEG, column "image" (read_images)
)

// String names the format as Ray Data's read_* function does.
func (f Format) String() string {
	switch f {
	case Parquet:
		return "parquet"
	case CSV:
		return "csv"
	case JSON:
		return "json"
	case Text:
		return "text"
	case Binary:
		return "binary"
	case Images:
		return "images"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Predicate is one comparison of a filter: Column Op Value, as in Ray
// Data's read_parquet filter expressions (pyarrow's ("col", "op", value)
// tuples). Op is one of "==", "!=", "<", "<=", ">", ">="; Value is an
// int64, float64, string or bool (other Go integer and float types are
// taken as int64 and float64, as msgpack may decode them). A null never
// passes a predicate, as in SQL and pyarrow.
type Predicate struct {
	Column string
	Op     string
	Value  any
}

// Options configure a read. They are plain values so that they travel in
// a task spec (msgpack). Start from DefaultOptions: the zero value reads
// CSV without a header row and ignores partition directories.
type Options struct {
	// Columns projects the read to these columns, in this order (file
	// columns, partition keys, and "path" when IncludePaths); nil or
	// empty reads all (msgpack may turn one into the other). Ray Data's
	// columns=.
	Columns []string
	// Filter keeps the rows that pass every predicate (AND). Ray Data's
	// filter= on read_parquet; here every format honours it.
	Filter []Predicate
	// Partitioning turns hive key=value directories into columns
	// (Ray Data's partitioning=Partitioning("hive"), its default).
	Partitioning bool
	// IncludePaths adds a string column "path" with each row's file
	// (Ray Data's include_paths=).
	IncludePaths bool
	// Delimiter separates CSV fields; 0 means ','.
	Delimiter rune
	// Header: the CSV files' first row names the columns; without it they
	// are f0, f1, ... (arrow-go's naming).
	Header bool
	// Width and Height resize images when both are > 0 (Ray Data's
	// read_images size=(height, width)).
	Width, Height int
	// Mode is "RGB" (3 channels; "" means RGB) or "L" (1 channel).
	Mode string
	// TargetRows bounds the rows of each emitted record; 0 emits a unit
	// as one record.
	TargetRows int
	// Types fixes the types of CSV and JSON columns by name ("int64",
	// "float64", "bool" or "string") instead of inferring them from each
	// file's first rows, so that every file of a read gives one schema
	// (pyarrow's ConvertOptions.column_types). Names a file lacks are
	// ignored.
	Types map[string]string
}

// DefaultOptions are the options Ray Data reads with by default: hive
// partitioning on, CSV with a header row and ',' between fields.
func DefaultOptions() Options {
	return Options{Partitioning: true, Header: true, Delimiter: ','}
}

// KV is one hive partition directory, key=value: what Ray Data's
// Partitioning("hive") path parser gives for a directory. Int says that every
// value of Key in the read parses as an int64 (Plan decides it, so that
// every unit types the column alike).
type KV struct {
	Key   string
	Value string
	Int   bool
}

// Unit is one read task's worth of input: a Parquet file's row groups, or
// one whole file of the other formats. Ray Data's ReadTask.
type Unit struct {
	Path      string
	RowGroups []int // Parquet: the row groups to read; nil = all
	Partition []KV  // hive key=value directories, outermost first
	Rows      int64 // rows before the filter; -1 when unknown
	Bytes     int64 // Parquet: uncompressed size; others: file size
}

// validate checks opts and returns a copy with every predicate's Value
// normalised to int64, float64, string or bool.
func (o Options) validate() (Options, error) {
	if o.TargetRows < 0 {
		return o, newErr(ErrUnsupported, "", "TargetRows %d is negative", o.TargetRows)
	}
	if o.Width < 0 || o.Height < 0 {
		return o, newErr(ErrUnsupported, "", "image size %dx%d is negative", o.Width, o.Height)
	}
	switch o.Mode {
	case "", "RGB", "L":
	default:
		return o, newErr(ErrUnsupported, "", "image mode %q (want \"RGB\" or \"L\")", o.Mode)
	}
	if o.Delimiter == '\n' || o.Delimiter == '\r' || o.Delimiter == '"' || o.Delimiter < 0 || o.Delimiter == 0xFFFD {
		return o, newErr(ErrUnsupported, "", "CSV delimiter %q", o.Delimiter)
	}
	for col, t := range o.Types {
		if typeNamed(t) == nil {
			return o, &Error{Kind: ErrUnsupported, Column: col, FirstRow: -1, LastRow: -1,
				Detail: fmt.Sprintf("column type %q (want int64, float64, bool or string)", t)}
		}
	}
	fs := make([]Predicate, len(o.Filter))
	for i, p := range o.Filter {
		switch p.Op {
		case "==", "!=", "<", "<=", ">", ">=":
		default:
			return o, &Error{Kind: ErrUnsupported, Column: p.Column, FirstRow: -1, LastRow: -1,
				Detail: fmt.Sprintf("filter operator %q (want ==, !=, <, <=, >, >=)", p.Op)}
		}
		v, ok := normValue(p.Value)
		if !ok {
			return o, &Error{Kind: ErrUnsupported, Column: p.Column, FirstRow: -1, LastRow: -1,
				Detail: fmt.Sprintf("filter value %v of type %T (want int64, float64, string or bool)", p.Value, p.Value)}
		}
		fs[i] = Predicate{Column: p.Column, Op: p.Op, Value: v}
	}
	o.Filter = fs
	return o, nil
}

// normValue maps v to int64, float64, string or bool.
func normValue(v any) (any, bool) {
	switch x := v.(type) {
	case int64, float64, string, bool:
		return x, true
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint:
		if uint64(x) > math.MaxInt64 {
			return float64(x), true
		}
		return int64(x), true
	case uint64:
		if x > math.MaxInt64 {
			return float64(x), true
		}
		return int64(x), true
	case float32:
		return float64(x), true
	}
	return nil, false
}

// typeNamed is the Arrow type an Options.Types entry names, or nil.
func typeNamed(name string) arrow.DataType {
	switch name {
	case "int64":
		return arrow.PrimitiveTypes.Int64
	case "float64":
		return arrow.PrimitiveTypes.Float64
	case "bool":
		return arrow.FixedWidthTypes.Boolean
	case "string":
		return arrow.BinaryTypes.String
	}
	return nil
}
