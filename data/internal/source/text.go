package source

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var (
	// textSchema: Ray Data's read_text gives one string column "text".
	textSchema = arrow.NewSchema([]arrow.Field{{Name: "text", Type: arrow.BinaryTypes.String}}, nil)
	// binarySchema: read_binary_files gives one binary column "bytes".
	binarySchema = arrow.NewSchema([]arrow.Field{{Name: "bytes", Type: arrow.BinaryTypes.Binary}}, nil)
)

// maxTextBytes bounds the text of one record (Arrow's utf8 offsets are
// int32).
const maxTextBytes = 1 << 30

// readText reads one row per line, without its line ending; empty lines
// are left out as Ray Data's read_text(drop_empty_lines=True) does.
func readText(ctx context.Context, u Unit, opts Options, emit func(arrow.RecordBatch) error) error {
	f, err := openStream(u.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	sh, err := newShaper(ctx, u, opts, textSchema)
	if err != nil {
		return err
	}
	if !sh.pass {
		return sh.finish(emit)
	}
	br := f
	b := array.NewStringBuilder(memory.DefaultAllocator)
	defer b.Release()
	limit := opts.TargetRows
	flush := func() error {
		arr := b.NewArray()
		defer arr.Release()
		rec := array.NewRecordBatch(textSchema, []arrow.Array{arr}, int64(arr.Len()))
		defer rec.Release()
		return sh.push(rec, emit)
	}
	for {
		line, err := br.ReadBytes('\n')
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(line) > 0 {
			b.BinaryBuilder.Append(line)
			// A string column's offsets are int32: a record stops short
			// of maxTextBytes even when TargetRows asks for the whole file.
			if limit > 0 && b.Len() == limit || b.DataLen() >= maxTextBytes {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return readErr(u.Path, err)
		}
	}
	if b.Len() > 0 {
		if err := flush(); err != nil {
			return err
		}
	}
	return sh.finish(emit)
}

// readBinary reads the whole file as one row of column "bytes".
func readBinary(ctx context.Context, u Unit, opts Options, emit func(arrow.RecordBatch) error) error {
	sh, err := newShaper(ctx, u, opts, binarySchema)
	if err != nil {
		return err
	}
	if !sh.pass {
		return sh.finish(emit)
	}
	data, err := os.ReadFile(u.Path)
	if err != nil {
		return wrapErr(ErrNotFound, u.Path, err, "read")
	}
	b := array.NewBinaryBuilder(memory.DefaultAllocator, arrow.BinaryTypes.Binary)
	defer b.Release()
	b.Append(data)
	arr := b.NewArray()
	defer arr.Release()
	rec := array.NewRecordBatch(binarySchema, []arrow.Array{arr}, 1)
	defer rec.Release()
	if err := sh.push(rec, emit); err != nil {
		return err
	}
	return sh.finish(emit)
}

// pushCount emits n rows that have only partition and path columns.
func pushCount(ctx context.Context, u Unit, opts Options, n int64, emit func(arrow.RecordBatch) error) error {
	empty := arrow.NewSchema(nil, nil)
	sh, err := newShaper(ctx, u, opts, empty)
	if err != nil {
		return err
	}
	rec := array.NewRecordBatch(empty, nil, n)
	defer rec.Release()
	if err := sh.push(rec, emit); err != nil {
		return err
	}
	return sh.finish(emit)
}
