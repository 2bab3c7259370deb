package source

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
)

// Plan lists the read units of paths (files, directories, globs on the
// local file system) in format: one per Parquet row group, one per file
// for the other formats, as Ray Data's datasources make one read task per
// file fragment. Parquet row groups whose statistics prove that no row
// passes opts.Filter are left out (pushdown), as are the units whose hive
// partition values fail it.
//
// The schema is Read's output schema where it is known before reading:
// Parquet's (the first file's after projection; every other file must
// agree, or Plan fails with ErrSchemaMismatch), binary files', text's,
// and images' when opts sets both Width and Height; nil for CSV and JSON,
// whose schema comes with the records (inferred per file unless
// opts.Types fixes it).
func Plan(ctx context.Context, format Format, paths []string, opts Options) (units []Unit, schema *arrow.Schema, err error) {
	defer recovered("", &err)
	opts, err = opts.validate()
	if err != nil {
		return nil, nil, err
	}
	if format < Parquet || format > Images {
		return nil, nil, newErr(ErrUnsupported, "", "format %s", format)
	}
	files, err := expand(format, paths)
	if err != nil {
		return nil, nil, err
	}
	parts := make([][]KV, len(files))
	if opts.Partitioning {
		if parts, err = partitions(files); err != nil {
			return nil, nil, err
		}
	}
	if format == Parquet {
		return planParquet(ctx, files, parts, opts)
	}
	raw, known := rawSchema(format, opts)
	for i, f := range files {
		u := Unit{Path: f.path, Partition: parts[i], Rows: -1, Bytes: f.size}
		if raw == nil {
			// CSV and JSON: the columns come with the read, but the
			// partition and path predicates can be decided now.
			sh, err := newShaper(ctx, u, virtualOnly(u, opts), arrow.NewSchema(nil, nil))
			if err != nil {
				return nil, nil, err
			}
			if !sh.pass {
				continue
			}
		} else {
			sh, err := newShaper(ctx, u, opts, raw)
			if err != nil {
				return nil, nil, err
			}
			if i == 0 && known {
				schema = sh.schema
			}
			if !sh.pass {
				continue // the partition or the path fails the filter
			}
		}
		if format == Binary {
			u.Rows = 1
		}
		units = append(units, u)
	}
	return units, schema, nil
}

// virtualOnly is opts with no projection and only the predicates on
// partition keys and the path.
func virtualOnly(u Unit, opts Options) Options {
	names := virtualNames(u, opts)
	o := opts
	o.Columns = nil
	o.Filter = nil
	for _, p := range opts.Filter {
		if slices.Contains(names, p.Column) {
			o.Filter = append(o.Filter, p)
		}
	}
	return o
}

// rawSchema is the raw schema of the formats whose columns do not depend
// on the file's contents, and whether it is exactly what Read gives:
// images without a resize have one list size per file, so their schema is
// only a model (good for checking names and the filter); CSV and JSON
// have none before the read, and Read checks their projection and filter.
func rawSchema(format Format, opts Options) (*arrow.Schema, bool) {
	switch format {
	case Binary:
		return binarySchema, true
	case Text:
		return textSchema, true
	case Images:
		if opts.Width > 0 && opts.Height > 0 {
			return imageSchema(opts.Height, opts.Width, channels(opts.Mode)), true
		}
		return imageSchema(1, 1, channels(opts.Mode)), false
	}
	return nil, false
}

// Read reads unit (from Plan, possibly after a trip through msgpack) and
// calls emit with its rows: the projection in opts.Columns' order, the
// filter applied row-exactly, then the partition and path columns, in
// records of at most opts.TargetRows rows (the whole unit in one when 0).
// A unit whose rows all fail the filter emits one empty record, so that
// its schema is known. emit borrows the record: Read releases it when
// emit returns (Retain it to keep it); an error from emit stops the read
// and is returned as it is.
//
// Parquet is read with arrow-go's pqarrow, CSV with its csv reader (types
// inferred from the first 1000 rows: int64, float64, bool or string; an
// empty cell is null in a non-string column), JSON lines with its JSON
// reader (types inferred from the first 1000 lines), text one row per
// non-empty line (column "text", as Ray Data's read_text drops empty
// lines), binary files one row per file (column "bytes"), images as the
// package comment says.
func Read(ctx context.Context, format Format, unit Unit, opts Options, emit func(arrow.RecordBatch) error) (err error) {
	defer recovered(unit.Path, &err)
	opts, err = opts.validate()
	if err != nil {
		return err
	}
	if !opts.Partitioning {
		unit.Partition = nil
	}
	if format != Parquet {
		if _, err := os.Stat(unit.Path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return wrapErr(ErrNotFound, unit.Path, err, "")
			}
			return wrapErr(ErrNotFound, unit.Path, err, "cannot stat")
		}
	}
	switch format {
	case Parquet:
		return readParquet(ctx, unit, opts, emit)
	case CSV:
		return readCSV(ctx, unit, opts, emit)
	case JSON:
		return readJSON(ctx, unit, opts, emit)
	case Text:
		return readText(ctx, unit, opts, emit)
	case Binary:
		return readBinary(ctx, unit, opts, emit)
	case Images:
		return readImage(ctx, unit, opts, emit)
	}
	return newErr(ErrUnsupported, unit.Path, "format %s", format)
}
