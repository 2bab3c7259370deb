package data

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/rayo-dev/rayo/data/internal/source"
)

// sourceSpec is a source as a plan holds it.
type sourceSpec struct {
	Kind        string `msgpack:"k"` // "range" or "files"
	N           int64  `msgpack:"n,omitempty"`
	Parallelism int    `msgpack:"p,omitempty"`
	// files
	Format  source.Format  `msgpack:"f,omitempty"`
	Paths   []string       `msgpack:"ps,omitempty"`
	Options source.Options `msgpack:"o"`
}

// units splits the source into read tasks' shares; cpus (the cluster's)
// sizes a range's.
func (s *sourceSpec) units(ctx context.Context, cpus float64) ([]sourceUnit, error) {
	switch s.Kind {
	case "range":
		n := s.N
		parts := s.Parallelism
		if parts <= 0 {
			parts = max(int(cpus)*2, int(n/(8<<20))+1)
			parts = min(parts, int(n/4096)+1)
		}
		parts = int(max(1, min(int64(parts), n)))
		units := make([]sourceUnit, 0, parts)
		for i := range parts {
			lo, hi := n*int64(i)/int64(parts), n*int64(i+1)/int64(parts)
			if hi > lo {
				units = append(units, sourceUnit{Kind: "range", Start: lo, End: hi, Rows: hi - lo, Bytes: 8 * (hi - lo)})
			}
		}
		return units, nil
	case "files":
		files, _, err := source.Plan(ctx, s.Format, s.Paths, s.Options)
		if err != nil {
			return nil, err
		}
		units := make([]sourceUnit, len(files))
		for i, f := range files {
			rows := f.Rows
			if len(s.Options.Filter) > 0 {
				rows = -1 // the filter drops an unknown number
			}
			units[i] = sourceUnit{Kind: "files", Rows: rows, Bytes: f.Bytes, File: &files[i], Format: s.Format, Options: &s.Options}
		}
		return units, nil
	}
	return nil, fmt.Errorf("%w: unknown source %q", ErrInvalidArgument, s.Kind)
}

// sourceUnit is one read task's share of a source, as it travels.
type sourceUnit struct {
	Kind  string `msgpack:"k"`           // "range" or "files"
	Start int64  `msgpack:"a,omitempty"` // range: the first id
	End   int64  `msgpack:"e,omitempty"` // range: one past the last
	Rows  int64  `msgpack:"r"`           // rows the unit yields, -1 when unknown
	Bytes int64  `msgpack:"y"`           // estimated bytes, 0 when unknown
	// files
	File    *source.Unit    `msgpack:"u,omitempty"`
	Format  source.Format   `msgpack:"f,omitempty"`
	Options *source.Options `msgpack:"o,omitempty"`
}

// rangeChunk is how many ids a range read produces per record.
const rangeChunk = 1 << 20

var rangeSchema = arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)

// read produces the unit's records.
func (u sourceUnit) read(ctx context.Context, emit func(arrow.RecordBatch) error) error {
	switch u.Kind {
	case "range":
		for lo := u.Start; lo < u.End; lo += rangeChunk {
			if err := ctx.Err(); err != nil {
				return err
			}
			hi := min(lo+rangeChunk, u.End)
			b := array.NewInt64Builder(memory.DefaultAllocator)
			b.Reserve(int(hi - lo))
			for v := lo; v < hi; v++ {
				b.UnsafeAppend(v)
			}
			col := b.NewArray()
			b.Release()
			if err := emit(array.NewRecordBatch(rangeSchema, []arrow.Array{col}, hi-lo)); err != nil {
				return err
			}
		}
		return nil
	case "files":
		if u.File == nil || u.Options == nil {
			return fmt.Errorf("%w: a file unit without its file", ErrInvalidArgument)
		}
		// The reader lends its records; the chain may keep them (a
		// batch across records), so each is retained (Go's collector
		// frees it).
		return source.Read(ctx, u.Format, *u.File, *u.Options, func(rec arrow.RecordBatch) error {
			rec.Retain()
			return emit(rec)
		})
	}
	return fmt.Errorf("%w: unknown source unit %q", ErrInvalidArgument, u.Kind)
}
