package data

import (
	"slices"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/data/internal/dataerr"
	"github.com/rayo-dev/rayo/data/internal/source"
)

// File sources (Ray's ray.data.read_*). Paths are files, directories
// (read recursively, in name order, skipping names that start with "." or
// "_") or globs, on a file system every node sees; a Parquet read has one
// task per row group, the other formats one per file. Files are listed
// when the dataset runs: a missing file fails the run with ErrNotFound
// naming it.

// The sources' errors, also matched through a task's error.
var (
	// ErrNotFound: a path or glob that names no file.
	ErrNotFound = source.ErrNotFound
	// ErrCorrupt: a file that does not parse (the error names it and,
	// where known, the rows).
	ErrCorrupt = source.ErrCorrupt
	// ErrSchemaMismatch: inputs that must share a schema do not (files of
	// one read, blocks of one file or one shuffle).
	ErrSchemaMismatch = dataerr.ErrSchemaMismatch
)

func init() { source.RegisterErrors(rayo.RegisterError) }

// ReadOption configures a source.
type ReadOption func(*readOptions)

type readOptions struct {
	parallelism int
	files       source.Options
}

// Parallelism sets how many read tasks a source is split into (Ray's
// override_num_blocks).
func Parallelism(n int) ReadOption { return func(o *readOptions) { o.parallelism = n } }

func newReadOptions(opts []ReadOption) readOptions {
	o := readOptions{files: source.DefaultOptions()}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Columns reads only these columns (Ray's columns=): pushed into the
// Parquet reader, which then decodes nothing else.
func Columns(cols ...string) ReadOption {
	return func(o *readOptions) { o.files.Columns = cols }
}

// Where keeps the rows where column op value holds, op one of ==, !=, <,
// <=, >, >= (Ray's filter= on read_parquet). Several Where are ANDed.
// Parquet row groups whose statistics rule every row out are not read.
func Where(column, op string, value any) ReadOption {
	return func(o *readOptions) {
		o.files.Filter = append(o.files.Filter, source.Predicate{Column: column, Op: op, Value: value})
	}
}

// IncludePaths adds a "path" column with each row's file (Ray's
// include_paths=).
func IncludePaths() ReadOption { return func(o *readOptions) { o.files.IncludePaths = true } }

// NoPartitioning reads key=value directories as plain directories
// (Ray's partitioning=None); by default they become columns.
func NoPartitioning() ReadOption { return func(o *readOptions) { o.files.Partitioning = false } }

// CSVNoHeader reads CSV files without a header row: columns f0, f1...
func CSVNoHeader() ReadOption { return func(o *readOptions) { o.files.Header = false } }

// Delimiter sets a CSV read's field delimiter (default ','); CSVDelimiter
// is the write option.
func Delimiter(r rune) ReadOption { return func(o *readOptions) { o.files.Delimiter = r } }

// ColumnTypes fixes the types of CSV and JSON columns by name ("int64",
// "float64", "bool" or "string") instead of inferring them per file.
func ColumnTypes(types map[string]string) ReadOption {
	return func(o *readOptions) { o.files.Types = types }
}

// ImageSize resizes images to width x height (Ray's size=(h, w)).
func ImageSize(width, height int) ReadOption {
	return func(o *readOptions) { o.files.Width, o.files.Height = width, height }
}

// ImageMode reads images as "RGB" (default) or "L" (grey).
func ImageMode(mode string) ReadOption { return func(o *readOptions) { o.files.Mode = mode } }

func readFiles(label string, format source.Format, paths []string, opts []ReadOption) *Dataset {
	if len(paths) == 0 {
		return failed(errorf("%s: no paths", label))
	}
	o := newReadOptions(opts)
	return &Dataset{n: &node{Kind: nodeRead, Label: label, Source: &sourceSpec{Kind: "files", Format: format,
		Paths: slices.Clone(paths), Options: o.files}}, exec: defaultExecOptions()}
}

// ReadParquet reads Parquet files (Ray's read_parquet) through arrow-go's
// pqarrow: one task per row group, with Columns and Where pushed down and
// hive partition directories as columns.
func ReadParquet(paths []string, opts ...ReadOption) *Dataset {
	return readFiles("ReadParquet", source.Parquet, paths, opts)
}

// ReadCSV reads CSV files with a header row (Ray's read_csv); column types
// are inferred from each file's first rows unless ColumnTypes fixes them.
func ReadCSV(paths []string, opts ...ReadOption) *Dataset {
	return readFiles("ReadCSV", source.CSV, paths, opts)
}

// ReadJSON reads JSON-lines files, one object per line (Ray's read_json
// with lines=True).
func ReadJSON(paths []string, opts ...ReadOption) *Dataset {
	return readFiles("ReadJSON", source.JSON, paths, opts)
}

// ReadText reads text files into a "text" column, one row per non-empty
// line (Ray's read_text).
func ReadText(paths []string, opts ...ReadOption) *Dataset {
	return readFiles("ReadText", source.Text, paths, opts)
}

// ReadBinaryFiles reads whole files into a "bytes" column, one row each
// (Ray's read_binary_files).
func ReadBinaryFiles(paths []string, opts ...ReadOption) *Dataset {
	return readFiles("ReadBinaryFiles", source.Binary, paths, opts)
}

// ReadImages decodes PNG and JPEG files into an "image" tensor column
// (fixed_size_list<uint8> of height*width*channels, row-major HWC) with
// "height", "width" and "channels" columns (Ray's read_images);
// ImageSize resizes them, ImageMode("L") reads grey.
func ReadImages(paths []string, opts ...ReadOption) *Dataset {
	return readFiles("ReadImages", source.Images, paths, opts)
}
