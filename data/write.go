package data

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/data/internal/block"
	"github.com/rayo-dev/rayo/data/internal/sink"
)

// Writes (Ray's write_parquet, write_csv, write_json). The driver runs the
// dataset and groups its blocks, in order, into files: with
// MaxRowsPerFile every file but the last has exactly that many rows (a
// file may start and end inside blocks); with only MinRowsPerFile whole
// blocks are gathered until a file has at least that many; otherwise
// each block is a file. Write tasks write the files under a hidden
// staging directory of the output directory; only when every task
// succeeded are they moved to their final names, so a failed write
// leaves no partial output. The output directory must be one file system
// every node of the cluster sees.

// writeOptions configure a write.
type writeOptions struct {
	minRows, maxRows int64
	partitionBy      []string
	mode             sink.Mode
	sink             sink.Options
	err              error
}

// WriteOption configures a write.
type WriteOption func(*writeOptions)

// MinRowsPerFile: every file but the last has at least n rows (Ray's
// min_rows_per_file).
func MinRowsPerFile(n int64) WriteOption {
	return func(o *writeOptions) {
		if n < 1 {
			o.err = errorf("MinRowsPerFile(%d): must be 1 or more", n)
		}
		o.minRows = n
	}
}

// MaxRowsPerFile: no file has more than n rows, and every file but the
// last exactly n (Ray's max_rows_per_file).
func MaxRowsPerFile(n int64) WriteOption {
	return func(o *writeOptions) {
		if n < 1 {
			o.err = errorf("MaxRowsPerFile(%d): must be 1 or more", n)
		}
		o.maxRows = n
	}
}

// PartitionBy writes hive-style directories col=value/... by the values
// of cols, which leave the files (Ray's partition_cols). Row counts per
// file then hold within each write task's share of a partition.
func PartitionBy(cols ...string) WriteOption {
	return func(o *writeOptions) { o.partitionBy = cols }
}

// SaveMode says what happens when the output directory has files: "error"
// (the default), "overwrite" or "append" (Ray's mode / SaveMode).
func SaveMode(mode string) WriteOption {
	return func(o *writeOptions) {
		m, err := sink.ParseMode(mode)
		if err != nil {
			o.err = err
		}
		o.mode = m
	}
}

// Compression sets a Parquet write's codec: "snappy" (default), "zstd",
// "gzip" or "none".
func Compression(codec string) WriteOption {
	return func(o *writeOptions) { o.sink.Compression = codec }
}

// ParquetDictionary turns a Parquet write's dictionary encoding on (the
// default, as pyarrow's use_dictionary) or off (faster for data with few
// repeated values, such as floats).
func ParquetDictionary(on bool) WriteOption {
	return func(o *writeOptions) { o.sink.NoDictionary = !on }
}

// FsyncFiles makes a write fsync every file before it is moved into
// place, so that a finished write survives a power cut (off by default,
// as pyarrow's writes; a failed or interrupted write leaves no partial
// file either way).
func FsyncFiles() WriteOption { return func(o *writeOptions) { o.sink.Sync = true } }

// CSVDelimiter sets a CSV write's field delimiter (default ',').
func CSVDelimiter(r rune) WriteOption { return func(o *writeOptions) { o.sink.Delimiter = r } }

// WriteParquet writes the dataset as Parquet files into dir, named
// part-000000.parquet, part-000001.parquet... in the dataset's order. It
// returns the files' paths.
func (d *Dataset) WriteParquet(ctx context.Context, dir string, opts ...WriteOption) ([]string, error) {
	return d.write(ctx, sink.Parquet, dir, opts)
}

// WriteCSV writes the dataset as CSV files (see WriteParquet).
func (d *Dataset) WriteCSV(ctx context.Context, dir string, opts ...WriteOption) ([]string, error) {
	return d.write(ctx, sink.CSV, dir, opts)
}

// WriteJSON writes the dataset as JSON-lines files (see WriteParquet).
func (d *Dataset) WriteJSON(ctx context.Context, dir string, opts ...WriteOption) ([]string, error) {
	return d.write(ctx, sink.JSON, dir, opts)
}

// writeSpec is one write task's work.
type writeSpec struct {
	Format      sink.Format  `msgpack:"f"`
	Dir         string       `msgpack:"d"`
	ID          string       `msgpack:"i"`
	Name        string       `msgpack:"n"`           // an unpartitioned file's name
	Task        int          `msgpack:"t"`           // a partitioned write's task index
	Offset      int64        `msgpack:"o"`           // rows of the first block to skip
	Rows        int64        `msgpack:"r"`           // rows to write; -1: all from Offset
	PartitionBy []string     `msgpack:"p,omitempty"` // hive columns
	MaxRows     int64        `msgpack:"m,omitempty"` // a partitioned write's rows per file
	Options     sink.Options `msgpack:"s"`
}

// writeResult is what a write task wrote: names relative to the output
// directory.
type writeResult struct {
	Files []string `msgpack:"f"`
	Rows  int64    `msgpack:"r"`
}

var writeTask = rayo.Register[writeResult]("rayo.data.write", func(ctx context.Context, spec writeSpec, blocks ...[]byte) (writeResult, error) {
	recs := make([]arrow.RecordBatch, 0, len(blocks))
	var schema *arrow.Schema
	var total int64
	for i, b := range blocks {
		rec, err := block.Decode(b)
		if err != nil {
			return writeResult{}, fmt.Errorf("data: write: input block %d: %w", i, err)
		}
		if schema == nil {
			schema = rec.Schema()
		} else if !schema.Equal(rec.Schema()) {
			return writeResult{}, fmt.Errorf("%w: blocks of one file have different schemas: %v and %v", sink.ErrSchemaMismatch, schema, rec.Schema())
		}
		recs = append(recs, rec)
		total += rec.NumRows()
	}
	if schema == nil {
		return writeResult{}, nil
	}
	n := spec.Rows
	if n < 0 {
		n = total - spec.Offset
	}
	recs, err := sink.SliceRows(recs, spec.Offset, n)
	if err != nil {
		return writeResult{}, err
	}
	if len(spec.PartitionBy) == 0 {
		rows, _, err := sink.WriteFile(ctx, spec.Format, sink.StagingPath(spec.Dir, spec.ID, spec.Name), schema, sink.Records(recs), spec.Options)
		return writeResult{Files: []string{spec.Name}, Rows: rows}, err
	}
	return writePartitioned(ctx, spec, recs)
})

// writePartitioned writes a task's rows into one file per partition (more
// when a partition has more than MaxRows rows).
func writePartitioned(ctx context.Context, spec writeSpec, recs []arrow.RecordBatch) (writeResult, error) {
	byDir := map[string][]arrow.RecordBatch{}
	values := map[string][]string{}
	var order []string
	for _, rec := range recs {
		parts, err := sink.SplitByPartition(rec, spec.PartitionBy)
		if err != nil {
			return writeResult{}, err
		}
		for _, p := range parts {
			key := sink.PartitionDir(spec.PartitionBy, p.Values)
			if _, ok := byDir[key]; !ok {
				order = append(order, key)
				values[key] = p.Values
			}
			byDir[key] = append(byDir[key], p.Rec)
		}
	}
	var res writeResult
	for _, key := range order {
		parts := byDir[key]
		var total int64
		for _, p := range parts {
			total += p.NumRows()
		}
		per := total
		if spec.MaxRows > 0 {
			per = spec.MaxRows
		}
		for seq, off := 0, int64(0); off < total; seq, off = seq+1, off+per {
			slice, err := sink.SliceRows(parts, off, min(per, total-off))
			if err != nil {
				return res, err
			}
			name := sink.PartitionFileName(spec.Format, spec.PartitionBy, values[key], spec.Task, seq)
			rows, _, err := sink.WriteFile(ctx, spec.Format, sink.StagingPath(spec.Dir, spec.ID, name), slice[0].Schema(), sink.Records(slice), spec.Options)
			if err != nil {
				return res, err
			}
			res.Files = append(res.Files, name)
			res.Rows += rows
		}
	}
	return res, nil
}

func init() { sink.RegisterErrors(rayo.RegisterError) }

// write runs the dataset into files.
func (d *Dataset) write(ctx context.Context, format sink.Format, dir string, opts []WriteOption) ([]string, error) {
	o := writeOptions{}
	for _, f := range opts {
		f(&o)
	}
	if o.err != nil {
		return nil, o.err
	}
	if o.minRows > 0 && o.maxRows > 0 && o.minRows > o.maxRows {
		return nil, errorf("MinRowsPerFile(%d) above MaxRowsPerFile(%d)", o.minRows, o.maxRows)
	}
	if err := o.sink.Validate(format); err != nil {
		return nil, err
	}
	if dir == "" {
		return nil, errorf("an empty output directory")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	idb := make([]byte, 8)
	_, _ = rand.Read(idb)
	id := hex.EncodeToString(idb)
	if err := sink.Begin(dir, id, o.mode); err != nil {
		return nil, err
	}
	ex, err := d.run(ctx)
	if err != nil {
		_ = sink.Abort(dir, id)
		return nil, err
	}
	w := &fileWriter{ctx: ctx, ex: ex, o: o, spec: writeSpec{Format: format, Dir: dir, ID: id, Options: o.sink,
		PartitionBy: o.partitionBy, MaxRows: o.maxRows}}
	files, err := w.run()
	if cerr := ex.close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = sink.Abort(dir, id)
		return nil, err
	}
	return sink.Commit(dir, id, files, o.mode)
}

// fileWriter groups a run's blocks into files and runs their write tasks.
type fileWriter struct {
	ctx  context.Context
	ex   *executor
	o    writeOptions
	spec writeSpec

	pending []*heldBlock // blocks not yet wholly given to files, in order
	offset  int64        // rows of pending[0] already given to a file
	rows    int64        // rows in pending beyond offset
	files   int

	mu      sync.Mutex
	wg      sync.WaitGroup
	results map[int]writeResult
	err     error
	slots   chan struct{} // bounds the write tasks in flight
}

// heldBlock is a block some files are made of: the run holds it (and the
// budget counts it) until its last file's task is done.
type heldBlock struct {
	b       blockRef
	users   int  // write tasks running on it
	dropped bool // no later file uses it
}

func (w *fileWriter) run() ([]string, error) {
	w.results = map[int]writeResult{}
	w.slots = make(chan struct{}, max(1, int(w.ex.cfg.cpus)))
	err := w.consume()
	if err == nil {
		err = w.flush(true)
	}
	w.wg.Wait()
	for _, h := range w.pending {
		w.ex.release(h.b)
	}
	w.pending = nil
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		err = w.err
	}
	if err != nil {
		return nil, err
	}
	var files []string
	for i := range w.files {
		files = append(files, w.results[i].Files...)
	}
	return files, nil
}

func (w *fileWriter) consume() error {
	for {
		b, err := w.ex.next(w.ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if b.Meta.Rows == 0 {
			w.ex.release(b)
			continue
		}
		w.pending = append(w.pending, &heldBlock{b: b})
		w.rows += b.Meta.Rows
		if err := w.flush(false); err != nil {
			return err
		}
	}
}

// flush starts the write tasks of the files the pending blocks complete
// (of all of them at the end).
func (w *fileWriter) flush(last bool) error {
	for len(w.pending) > 0 {
		w.mu.Lock()
		err := w.err
		w.mu.Unlock()
		if err != nil {
			return err
		}
		var n int64 // rows of the next file
		switch {
		case w.o.maxRows > 0 && len(w.o.partitionBy) == 0:
			if w.rows < w.o.maxRows && !last {
				return nil
			}
			n = min(w.o.maxRows, w.rows)
		case w.o.minRows > 0:
			if w.rows < w.o.minRows && !last {
				return nil
			}
			n = w.rows
		default:
			n = w.pending[0].b.Meta.Rows - w.offset
		}
		if n <= 0 {
			return nil
		}
		// The blocks covering rows [offset, offset+n) of pending.
		var use []*heldBlock
		covered := -w.offset
		for _, h := range w.pending {
			use = append(use, h)
			covered += h.b.Meta.Rows
			if covered >= n {
				break
			}
		}
		if err := w.start(use, w.offset, n); err != nil {
			return err
		}
		// Drop the blocks the file used up; a partly used one stays.
		w.rows -= n
		end := w.offset + n
		for len(w.pending) > 0 && end >= w.pending[0].b.Meta.Rows {
			end -= w.pending[0].b.Meta.Rows
			w.drop(w.pending[0])
			w.pending = w.pending[1:]
		}
		w.offset = end
	}
	return nil
}

// drop notes that no later file uses h.
func (w *fileWriter) drop(h *heldBlock) {
	w.mu.Lock()
	h.dropped = true
	free := h.users == 0
	w.mu.Unlock()
	if free {
		w.ex.release(h.b)
	}
}

// start submits the write task of the next file.
func (w *fileWriter) start(use []*heldBlock, offset, n int64) error {
	select {
	case w.slots <- struct{}{}:
	case <-w.ctx.Done():
		return w.ctx.Err()
	}
	index := w.files
	w.files++
	spec := w.spec
	spec.Name, spec.Task, spec.Offset, spec.Rows = sink.FileName(spec.Format, index), index, offset, n
	args := []any{spec}
	w.mu.Lock()
	for _, h := range use {
		h.users++
		args = append(args, h.b.Ref)
	}
	w.mu.Unlock()
	ref := writeTask.Remote(args...)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		res, err := ref.Get(w.ctx)
		<-w.slots
		var free []blockRef
		w.mu.Lock()
		if err != nil && w.err == nil {
			w.err = fmt.Errorf("data: writing %s: %w", spec.Name, err)
		}
		w.results[index] = res
		for _, h := range use {
			if h.users--; h.users == 0 && h.dropped {
				free = append(free, h.b)
			}
		}
		w.mu.Unlock()
		for _, b := range free {
			w.ex.release(b)
		}
	}()
	return nil
}
