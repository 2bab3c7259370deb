// Package source reads rayo Data's file sources: Parquet, CSV, JSON lines,
// text, binary files and images, as Ray Data's read_parquet, read_csv,
// read_json, read_text, read_binary_files and read_images datasources do.
//
// It is the code that rayo Data's read tasks run inside a worker process,
// and it does not import rayo: Plan lists the read units of a set of paths
// (one per Parquet row group, one per file for the other formats), pruning
// Parquet row groups whose statistics prove that no row can pass the
// filter (pushdown) and whole units whose hive partition values fail it;
// Read reads one unit into Arrow record batches, applying the projection
// and the filter row-exactly, so that pushdown changes the work done, never
// the result.
//
// Paths are on the local file system only (no object stores): files,
// directories (walked recursively in lexical order, skipping names that
// start with "." or "_", as Spark and Ray Data do) and filepath.Glob
// patterns (no "**").
//
// Hive partitioning: every directory name of the form key=value in a
// file's path becomes a column key (the value URI-decoded), appended after
// the file's columns; it is int64 when every value of the read parses as
// one, string otherwise. Every file must have the same keys, and a key
// may not repeat a column of the file (ErrSchemaMismatch).
//
// CSV, JSON lines and text files whose names end in .gz or .zst are
// decompressed (Ray Data infers the compression from the extension too),
// and a leading UTF-8 byte order mark is skipped.
//
// CSV and JSON lines carry no schema: each file's column types are
// inferred from its first 1000 rows (int64, float64, bool, string; JSON
// also lists and objects), so two files can disagree; Options.Types fixes
// the types by name for every file.
//
// Images decode PNG and JPEG into a tensor column "image" of type
// fixed_size_list<uint8>[height*width*channels], the pixels in row-major
// height, width, channel order, beside int32 columns "height", "width"
// and "channels"; Options.Mode "RGB" (the default) gives 3 channels, "L"
// (8-bit grey) 1; Options.Width and Height resize (Catmull-Rom) when both
// are positive. Without a resize each file's record has its own list size.
//
// Every error wraps one of the sentinels in errors.go inside an *Error
// naming the file; a panic inside arrow-go on damaged input becomes
// ErrCorrupt.
package source
