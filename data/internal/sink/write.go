package sink

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	arrowcsv "github.com/apache/arrow-go/v18/arrow/csv"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Records adapts a slice of record batches (a block list, SliceRows'
// result) to WriteFile's sequence, as Ray hands a write task its blocks.
func Records(recs []arrow.RecordBatch) iter.Seq2[arrow.RecordBatch, error] {
	return func(yield func(arrow.RecordBatch, error) bool) {
		for _, r := range recs {
			if !yield(r, nil) {
				return
			}
		}
	}
}

// WriteFile writes one output file at stagingPath (a StagingPath) in
// format f: exactly the rows of recs, in order, every batch with schema
// schema. It is what Ray's file datasinks do in a write task
// (write_block_to_file). It returns the rows written and the file's size
// in bytes. The caller keeps ownership of the batches.
//
// The file appears at stagingPath only when complete: it is written to a
// temporary name beside it, fsynced (with Options.Sync), made 0644 and
// renamed. On an error
// (a bad input, a full disk, ctx cancelled, a panic inside arrow-go) no
// file is left at stagingPath or at the temporary name. WriteFile creates
// the hive directories below the staging directory but never the staging
// directory itself: if it is gone (the write was aborted) it fails with
// ErrAborted.
//
// Parquet files carry the Arrow schema (pyarrow's store_schema), so
// arrow-go and pyarrow read the same types back. CSV files write nulls as
// empty fields and binary columns as base64; JSON lines write NaN and
// infinities as null, as Ray's (pandas') writer does.
func WriteFile(ctx context.Context, f Format, stagingPath string, schema *arrow.Schema,
	recs iter.Seq2[arrow.RecordBatch, error], opts Options) (rows, size int64, err error) {
	if err := opts.Validate(f); err != nil {
		return 0, 0, err
	}
	if schema == nil {
		return 0, 0, invalid("write", stagingPath, "nil schema")
	}
	if recs == nil {
		return 0, 0, invalid("write", stagingPath, "nil record sequence")
	}
	if err := checkSchema(f, schema); err != nil {
		e := err.(*Error)
		e.Path = stagingPath
		return 0, 0, e
	}
	if err := makeStagingDirs(stagingPath); err != nil {
		return 0, 0, err
	}
	base := filepath.Base(stagingPath)
	tmp, err := os.CreateTemp(filepath.Dir(stagingPath), "."+base+".tmp-*")
	if err != nil {
		return 0, 0, writeErr("write", stagingPath, err)
	}
	done := false
	defer func() {
		if r := recover(); r != nil {
			err = &Error{Op: "write", Path: stagingPath, Err: ErrWrite,
				Detail: fmt.Sprintf("panic in arrow-go or the record source: %v", r)}
			rows, size = 0, 0
		}
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()

	cw := &countingWriter{f: tmp}
	bw := bufio.NewWriterSize(cw, 1<<20)
	enc, err := newEncoder(f, bw, schema, opts)
	if err != nil {
		return 0, 0, &Error{Op: "write", Path: stagingPath, Err: ErrWrite, Cause: err}
	}
	fail := func(err error) (int64, int64, error) {
		_ = enc.abort()
		var se *Error
		if errors.As(err, &se) {
			if se.Path == "" {
				se.Path = stagingPath
			}
			return 0, 0, err
		}
		if cw.err != nil { // the OS error is the cause, not arrow-go's report of it
			err = cw.err
		}
		return 0, 0, writeErr("write", stagingPath, err)
	}
	for rec, rerr := range recs {
		if rerr != nil {
			return fail(&Error{Op: "write", Path: stagingPath, Err: ErrWrite, Cause: rerr,
				Detail: "the record source failed"})
		}
		if err := ctx.Err(); err != nil {
			return fail(&Error{Op: "write", Path: stagingPath, Err: ErrWrite, Cause: err})
		}
		if rec == nil {
			return fail(invalid("write", stagingPath, "nil record batch"))
		}
		if !rec.Schema().Equal(schema) {
			if err := sameColumns(rec.Schema(), schema); err != nil {
				err.Path = stagingPath
				return fail(err)
			}
			// Only metadata differs: the writers want the file's schema.
			rec = array.NewRecordBatch(schema, rec.Columns(), rec.NumRows())
			defer rec.Release()
		}
		if err := enc.write(rec); err != nil {
			return fail(err)
		}
		rows += rec.NumRows()
	}
	if err := ctx.Err(); err != nil {
		return fail(&Error{Op: "write", Path: stagingPath, Err: ErrWrite, Cause: err})
	}
	if err := enc.close(); err != nil {
		return fail(err)
	}
	if err := bw.Flush(); err != nil {
		return fail(err)
	}
	if opts.Sync {
		if err := tmp.Sync(); err != nil {
			return fail(err)
		}
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	done = true
	if err := os.Rename(tmp.Name(), stagingPath); err != nil {
		_ = os.Remove(tmp.Name())
		if errors.Is(err, fs.ErrNotExist) {
			return 0, 0, &Error{Op: "write", Path: stagingPath, Err: ErrAborted, Cause: err}
		}
		return 0, 0, writeErr("write", stagingPath, err)
	}
	if opts.Sync {
		if err := syncDir(filepath.Dir(stagingPath)); err != nil {
			return 0, 0, writeErr("write", stagingPath, err)
		}
	}
	return rows, cw.n, nil
}

// sameColumns checks that a batch's schema has the file's columns: names,
// types and nullability, in order (metadata may differ). The error names
// the first column that differs.
func sameColumns(got, want *arrow.Schema) *Error {
	if got.NumFields() != want.NumFields() {
		return &Error{Op: "write", Err: ErrSchemaMismatch,
			Detail: fmt.Sprintf("record batch has %d columns, the file %d", got.NumFields(), want.NumFields())}
	}
	for i := range got.Fields() {
		g, w := got.Field(i), want.Field(i)
		if g.Name != w.Name || g.Nullable != w.Nullable || !arrow.TypeEqual(g.Type, w.Type) {
			return &Error{Op: "write", Column: w.Name, Err: ErrSchemaMismatch,
				Detail: fmt.Sprintf("record batch column %d is %s, the file's %s", i, g, w)}
		}
	}
	return nil
}

// makeStagingDirs creates the directories between the staging directory
// in path and path's own directory (0700), one at a time so that a
// staging directory removed by Abort is never made again.
func makeStagingDirs(p string) error {
	dir := filepath.Dir(p)
	root := dir
	var below []string
	for !strings.HasPrefix(filepath.Base(root), stagingPrefix) {
		parent := filepath.Dir(root)
		if parent == root {
			return invalid("write", p, "path is not inside a staging directory (StagingPath)")
		}
		below = append(below, filepath.Base(root))
		root = parent
	}
	if _, err := os.Stat(root); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return &Error{Op: "write", Path: p, Err: ErrAborted, Cause: err}
		}
		return writeErr("write", p, err)
	}
	d := root
	for i := len(below) - 1; i >= 0; i-- {
		d = filepath.Join(d, below[i])
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			if errors.Is(err, fs.ErrNotExist) {
				return &Error{Op: "write", Path: p, Err: ErrAborted, Cause: err}
			}
			return writeErr("write", p, err)
		}
	}
	return nil
}

// countingWriter counts the bytes written to the file and keeps the first
// OS error, so that ErrWrite wraps it (ENOSPC, EACCES) rather than a
// library's rewording.
type countingWriter struct {
	f   *os.File
	n   int64
	err error
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.n += int64(n)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

// encoder writes one format.
type encoder interface {
	write(arrow.RecordBatch) error
	close() error // completes the file
	abort() error // releases resources after a failure
}

func newEncoder(f Format, w io.Writer, schema *arrow.Schema, opts Options) (encoder, error) {
	switch f {
	case Parquet:
		return newParquetEncoder(w, schema, opts)
	case CSV:
		d := opts.Delimiter
		if d == 0 {
			d = ','
		}
		cw := arrowcsv.NewWriter(w, schema, arrowcsv.WithComma(d), arrowcsv.WithHeader(!opts.NoHeader),
			arrowcsv.WithNullWriter(""))
		return &csvEncoder{w: cw, header: !opts.NoHeader}, nil
	case JSON:
		return newJSONEncoder(w, schema), nil
	}
	return nil, invalid("write", "", "unknown format %d", int(f))
}

func compression(name string) compress.Compression {
	switch name {
	case "zstd":
		return compress.Codecs.Zstd
	case "gzip":
		return compress.Codecs.Gzip
	case "none", "uncompressed":
		return compress.Codecs.Uncompressed
	}
	return compress.Codecs.Snappy
}

func parquetProps(opts Options) (*parquet.WriterProperties, pqarrow.ArrowWriterProperties) {
	rg := opts.RowGroupRows
	if rg == 0 {
		rg = DefaultRowGroupRows
	}
	props := parquet.NewWriterProperties(
		parquet.WithCompression(compression(opts.Compression)),
		parquet.WithMaxRowGroupLength(rg),
		parquet.WithCreatedBy("rayo"),
		parquet.WithDictionaryDefault(!opts.NoDictionary),
	)
	return props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema())
}

type parquetEncoder struct {
	w        *pqarrow.FileWriter
	rowGroup int64 // rows a row group holds
	mode     int   // 0: not chosen yet; 1: Write; 2: WriteBuffered (pqarrow does not mix them)
}

func newParquetEncoder(w io.Writer, schema *arrow.Schema, opts Options) (*parquetEncoder, error) {
	props, aprops := parquetProps(opts)
	fw, err := pqarrow.NewFileWriter(schema, w, props, aprops)
	if err != nil {
		return nil, err
	}
	rg := opts.RowGroupRows
	if rg == 0 {
		rg = DefaultRowGroupRows
	}
	return &parquetEncoder{w: fw, rowGroup: rg}, nil
}

// write buffers small batches into row groups of RowGroupRows
// (WriteBuffered), so that many small batches do not make many small row
// groups. A file whose first batch holds at least half a row group (whole
// blocks) is written batch by batch with pqarrow's Write, a row group
// each (at most RowGroupRows): it encodes column by column, without the
// buffered writer's copies, which made whole-block writes a third slower.
func (e *parquetEncoder) write(rec arrow.RecordBatch) error {
	if e.mode == 0 {
		e.mode = 2
		if rec.NumRows() >= e.rowGroup/2 {
			e.mode = 1
		}
	}
	if e.mode == 1 {
		return e.w.Write(rec)
	}
	return e.w.WriteBuffered(rec)
}
func (e *parquetEncoder) close() error { return e.w.Close() }
func (e *parquetEncoder) abort() error { return e.w.Close() }

type csvEncoder struct {
	w      *arrowcsv.Writer
	header bool
	wrote  bool
}

func (e *csvEncoder) write(rec arrow.RecordBatch) error {
	if rec.NumRows() == 0 {
		return nil // the header comes with the first rows, or at close
	}
	e.wrote = true
	return e.w.Write(rec)
}

// close writes the header of a file with no rows: arrow-go writes it with
// the first batch only.
func (e *csvEncoder) close() error {
	if e.header && !e.wrote {
		rec := emptyRecord(e.w.Schema())
		defer rec.Release()
		if err := e.w.Write(rec); err != nil {
			return err
		}
	}
	return e.w.Flush()
}
func (e *csvEncoder) abort() error { return nil }
