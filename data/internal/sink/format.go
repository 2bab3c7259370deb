package sink

import (
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// Format is an output file format: Ray Data's write_parquet, write_csv
// and write_json. The zero Format is invalid.
type Format int

// The formats WriteFile writes.
const (
	Parquet Format = iota + 1 // Apache Parquet through arrow-go's pqarrow
	CSV                       // comma-separated values with a header row
	JSON                      // JSON lines: one object per row, as Ray's write_json
)

// Ext is the file name extension of f, without the dot: Ray's
// "parquet", "csv" and "json" (Ray's write_json also uses .json for
// JSON lines).
func (f Format) Ext() string {
	switch f {
	case Parquet:
		return "parquet"
	case CSV:
		return "csv"
	case JSON:
		return "json"
	}
	return ""
}

// String is the format's name ("parquet", "csv", "json").
func (f Format) String() string {
	if e := f.Ext(); e != "" {
		return e
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

func (f Format) valid() bool { return f.Ext() != "" }

// Options are a write's format options, the same for every file of the
// write; the driver sends them to its write tasks (msgpack-encodable).
// They stand for the pyarrow arguments Ray's writers pass on
// (arrow_parquet_args' compression and row_group_size, arrow_csv_args'
// delimiter and include_header). The zero Options are Ray's (pyarrow's)
// defaults.
type Options struct {
	// Compression of Parquet files: "snappy" (the default, as pyarrow's),
	// "zstd", "gzip" or "none".
	Compression string `msgpack:"compression,omitempty"`
	// RowGroupRows is the most rows in one Parquet row group; 0 means
	// 1Mi rows, pyarrow's default.
	RowGroupRows int64 `msgpack:"row_group_rows,omitempty"`
	// Delimiter of CSV fields; 0 means ','.
	Delimiter rune `msgpack:"delimiter,omitempty"`
	// NoHeader leaves out the CSV header row (pyarrow's
	// include_header=False); the zero value writes one, as Ray does.
	NoHeader bool `msgpack:"no_header,omitempty"`
	// NoDictionary turns Parquet's dictionary encoding off (pyarrow's
	// use_dictionary=False); the zero value keeps it on, as pyarrow does.
	NoDictionary bool `msgpack:"no_dictionary,omitempty"`
	// Sync fsyncs each file (and its directory) before it is renamed into
	// place, so that a committed write survives a power cut. Off by
	// default, as pyarrow's writes: the rename protocol alone keeps
	// partial files out of sight.
	Sync bool `msgpack:"sync,omitempty"`
}

// DefaultRowGroupRows is the number of rows in a Parquet row group when
// Options.RowGroupRows is 0: pyarrow's default.
const DefaultRowGroupRows = 1 << 20

// Validate checks o for format f: ErrInvalid for an unknown format or
// compression, a negative row group size or a delimiter CSV cannot use
// (pyarrow raises ArrowInvalid for the same).
func (o Options) Validate(f Format) error {
	if !f.valid() {
		return invalid("write", "", "unknown format %d", int(f))
	}
	switch o.Compression {
	case "", "snappy", "zstd", "gzip", "none", "uncompressed":
	default:
		return invalid("write", "", "unknown Parquet compression %q (want snappy, zstd, gzip or none)", o.Compression)
	}
	if o.RowGroupRows < 0 {
		return invalid("write", "", "negative row group size %d", o.RowGroupRows)
	}
	if d := o.Delimiter; d != 0 && (d == '"' || d == '\r' || d == '\n' || d == utf8.RuneError || !utf8.ValidRune(d)) {
		return invalid("write", "", "bad CSV delimiter %q", d)
	}
	return nil
}

// Mode says what a write does with a directory that already holds
// output: Ray's SaveMode ("error", "overwrite", "append").
type Mode int

// The write modes.
const (
	// ModeError (the default) fails with ErrExists if the directory
	// already holds output.
	ModeError Mode = iota
	// ModeOverwrite replaces the directory's old part-* files; the old
	// files go only after every new one is in place.
	ModeOverwrite
	// ModeAppend adds files beside the old ones; their names carry the
	// write ID (AppendName), so that they never collide.
	ModeAppend
)

// ParseMode parses Ray's mode names: "error" (or ""), "overwrite",
// "append".
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "", "error", "errorifexists":
		return ModeError, nil
	case "overwrite":
		return ModeOverwrite, nil
	case "append":
		return ModeAppend, nil
	}
	return 0, invalid("begin", "", "unknown write mode %q (want error, overwrite or append)", s)
}

// String is the mode's name as ParseMode reads it.
func (m Mode) String() string {
	switch m {
	case ModeError:
		return "error"
	case ModeOverwrite:
		return "overwrite"
	case ModeAppend:
		return "append"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

func (m Mode) valid() bool { return m >= ModeError && m <= ModeAppend }

// partPrefix starts every output file name.
const partPrefix = "part-"

// FileName is the name of file number index of an unpartitioned write:
// part-<index:06d>.<ext>. The driver assigns indexes in the dataset's
// order, so names are the same on every run. Ray's default names carry
// a random write UUID instead.
func FileName(f Format, index int) string {
	return fmt.Sprintf("%s%06d.%s", partPrefix, index, f.Ext())
}

// PartitionFileName (Ray's write_parquet with partition_cols) is the name, relative to the output directory, of file
// seq of write task task within the partition whose columns cols have the
// values values: <col>=<value>/.../part-<task:06d>-<seq:04d>.<ext>.
func PartitionFileName(f Format, cols, values []string, task, seq int) string {
	return path.Join(PartitionDir(cols, values), fmt.Sprintf("%s%06d-%04d.%s", partPrefix, task, seq, f.Ext()))
}

// AppendName is the final name of the staged file rel in a ModeAppend
// write with ID id: the write ID goes after "part-" in the base name
// (a=1/part-000003-0001.csv becomes a=1/part-<id>-000003-0001.csv), so
// that two appends to one directory never collide, as Ray's names carry
// a write UUID.
func AppendName(rel, id string) string {
	dir, base := path.Split(rel)
	if strings.HasPrefix(base, partPrefix) {
		base = partPrefix + id + "-" + strings.TrimPrefix(base, partPrefix)
	} else {
		base = id + "-" + base
	}
	return dir + base
}

// HiveDefaultPartition is the directory value of a null or empty
// partition value, as Hive's (and pyarrow's) default partition.
const HiveDefaultPartition = "__HIVE_DEFAULT_PARTITION__"

// PartitionDir is the hive directory path of a partition:
// <col>=<value>/... with names and values escaped by HiveEscape. A
// missing value (len(values) < len(cols)) counts as empty.
func PartitionDir(cols, values []string) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		v := ""
		if i < len(values) {
			v = values[i]
		}
		if v == "" {
			v = HiveDefaultPartition
		} else {
			v = HiveEscape(v)
		}
		parts[i] = HiveEscape(c) + "=" + v
	}
	return path.Join(parts...)
}

// HiveEscape escapes s for a path segment as Hive's
// FileUtils.escapePathName does: control characters and
// " # % ' * / : = ? \ DEL { [ ] ^ become %XX (upper-case hex); every other
// byte, UTF-8 included, stays.
func HiveEscape(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if hiveNeedsEscape(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if hiveNeedsEscape(c) {
			b = append(b, '%', hex[c>>4], hex[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

// HiveUnescape reverses HiveEscape (Hive's unescapePathName): %XX with two
// hex digits becomes the byte, anything else stays.
func HiveUnescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

func hiveNeedsEscape(c byte) bool {
	if c < 0x20 || c == 0x7F {
		return true
	}
	switch c {
	case '"', '#', '%', '\'', '*', '/', ':', '=', '?', '\\', '{', '[', ']', '^':
		return true
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
