package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/rayo-dev/rayo/data/internal/block"
	"github.com/rayo-dev/rayo/data/internal/rows"
)

// run starts the dataset's plan.
func (d *Dataset) run(ctx context.Context) (*executor, error) {
	if d.err != nil {
		return nil, d.err
	}
	cfg, err := d.config(ctx)
	if err != nil {
		return nil, err
	}
	p, err := d.physicalPlan(ctx, cfg.cpus)
	if err != nil {
		return nil, err
	}
	rep := newReporter(d.exec, p)
	last := d.lastRun()
	cfg.progress = func(s RunStats) {
		rep.update(s.Ops)
		last.set(s)
	}
	ex := newExecutor(ctx, p, cfg)
	ex.onClose = rep.close
	return ex, nil
}

// lastRun is where a dataset keeps its latest run's figures.
func (d *Dataset) lastRun() *runStats {
	if d.n == nil {
		return &runStats{}
	}
	d.n.statsOnce.Do(func() { d.n.stats = &runStats{} })
	return d.n.stats
}

// runStats holds the latest run's figures of a dataset.
type runStats struct {
	mu  sync.Mutex
	run RunStats
}

func (r *runStats) set(s RunStats) {
	r.mu.Lock()
	r.run = s
	r.mu.Unlock()
}

// RunStats are a run's figures (Ray's Dataset.stats()).
type RunStats struct {
	Ops       []OpStats // per operator, source first
	Budget    int64     // the run's object-store budget, bytes
	PeakBytes int64     // the most the run held (blocks and reservations)
}

// Stats returns the figures of the dataset's latest run (in progress or
// finished); zero before it ran.
func (d *Dataset) Stats() RunStats {
	r := d.lastRun()
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.run
	s.Ops = append([]OpStats(nil), s.Ops...)
	return s
}

// IterOption configures IterBatches.
type IterOption func(*iterOptions)

type iterOptions struct {
	BatchSize   int
	prefetch    int
	shuffleBuf  int
	shuffleSeed uint64
	dropLast    bool
}

// IterBatchSize sets the rows per batch (Ray's batch_size; default 256,
// as Ray's iter_batches). 0 gives whole blocks.
func IterBatchSize(n int) IterOption { return func(o *iterOptions) { o.BatchSize = n } }

// Prefetch sets how many blocks are fetched ahead of the consumer (Ray's
// prefetch_batches; default 1).
func Prefetch(blocks int) IterOption { return func(o *iterOptions) { o.prefetch = blocks } }

// LocalShuffle shuffles rows within a buffer of at least rows rows,
// seeded (Ray's local_shuffle_buffer_size and local_shuffle_seed).
func LocalShuffle(rows int, seed uint64) IterOption {
	return func(o *iterOptions) { o.shuffleBuf, o.shuffleSeed = rows, seed }
}

// DropLast drops a last batch smaller than the batch size (Ray's
// drop_last).
func DropLast() IterOption { return func(o *iterOptions) { o.dropLast = true } }

// IterBatches runs the dataset and yields its rows in batches (Ray's
// iter_batches). A batch may point into the object store's shared memory:
// it is valid until the loop's next iteration. Breaking out of the loop
// stops the run.
func (d *Dataset) IterBatches(ctx context.Context, opts ...IterOption) iter.Seq2[arrow.RecordBatch, error] {
	o := iterOptions{BatchSize: 256, prefetch: 1}
	for _, f := range opts {
		f(&o)
	}
	return func(yield func(arrow.RecordBatch, error) bool) {
		if o.BatchSize < 0 || o.prefetch < 0 || o.shuffleBuf < 0 {
			yield(nil, errorf("IterBatches: negative batch size, prefetch or shuffle buffer"))
			return
		}
		ex, err := d.run(ctx)
		if err != nil {
			yield(nil, err)
			return
		}
		it := newBlockIter(ctx, ex, o.prefetch)
		defer it.close()
		if !newBatcher(o).run(it.next, yield) {
			return
		}
		if err := it.close(); err != nil {
			yield(nil, err)
		}
	}
}

// blockIter fetches a run's output blocks ahead of the consumer and
// decodes them in place; each stays held until the consumer moves past it.
type blockIter struct {
	ex      *executor
	ch      chan fetched
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	current *blockRef
	closed  bool
	err     error
}

type fetched struct {
	b   blockRef
	rec arrow.RecordBatch
	err error
}

func newBlockIter(ctx context.Context, ex *executor, prefetch int) *blockIter {
	ctx, cancel := context.WithCancel(ctx)
	it := &blockIter{ex: ex, ch: make(chan fetched, max(prefetch, 0)), cancel: cancel}
	it.wg.Add(1)
	go func() {
		defer it.wg.Done()
		defer close(it.ch)
		for {
			b, err := ex.next(ctx)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					it.ch <- fetched{err: err}
				}
				return
			}
			raw, err := b.Ref.Get(ctx) // pulls a block from another node
			var rec arrow.RecordBatch
			if err == nil {
				rec, err = block.Decode(raw)
			}
			if err != nil {
				ex.release(b)
				it.ch <- fetched{err: err}
				return
			}
			select {
			case it.ch <- fetched{b: b, rec: rec}:
			case <-ctx.Done():
				ex.release(b)
				return
			}
		}
	}()
	return it
}

// next returns the next block's record, releasing the one before.
func (it *blockIter) next() (arrow.RecordBatch, error) {
	if it.current != nil {
		it.ex.release(*it.current)
		it.current = nil
	}
	f, ok := <-it.ch
	if !ok {
		return nil, io.EOF
	}
	if f.err != nil {
		return nil, f.err
	}
	it.current = &f.b
	return f.rec, nil
}

// close stops the run and releases what is held; it returns the run's
// failure, if any.
func (it *blockIter) close() error {
	if it.closed {
		return it.err
	}
	it.closed = true
	it.cancel()
	for f := range it.ch {
		if f.err == nil {
			it.ex.release(f.b)
		}
	}
	it.wg.Wait()
	if it.current != nil {
		it.ex.release(*it.current)
		it.current = nil
	}
	it.err = it.ex.close()
	return it.err
}

// batcher cuts a stream of records into batches of a size, through an
// optional shuffle buffer.
type batcher struct {
	o       iterOptions
	rng     *rand.Rand
	pending []arrow.RecordBatch
	rows    int64
}

func newBatcher(o iterOptions) *batcher {
	b := &batcher{o: o}
	if o.shuffleBuf > 0 {
		b.rng = rand.New(rand.NewPCG(o.shuffleSeed, o.shuffleSeed^0x9e3779b97f4a7c15))
	}
	return b
}

// run cuts the records next returns (io.EOF at the end) into batches for
// yield; it reports false when the loop stopped early or failed.
func (b *batcher) run(next func() (arrow.RecordBatch, error), yield func(arrow.RecordBatch, error) bool) bool {
	for {
		rec, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			yield(nil, err)
			return false
		}
		for batch, err := range b.add(rec) {
			if err != nil {
				yield(nil, err)
				return false
			}
			if !yield(batch, nil) {
				return false
			}
		}
	}
	for batch, err := range b.flush() {
		if err != nil {
			yield(nil, err)
			return false
		}
		if !yield(batch, nil) {
			return false
		}
	}
	return true
}

// add takes a record and yields the full batches it completes. A batch
// that spans records is a copy; one within a record a slice of it.
func (b *batcher) add(rec arrow.RecordBatch) iter.Seq2[arrow.RecordBatch, error] {
	return func(yield func(arrow.RecordBatch, error) bool) {
		if rec.NumRows() == 0 {
			return
		}
		if b.o.BatchSize == 0 && b.rng == nil {
			yield(rec, nil)
			return
		}
		b.pending = append(b.pending, rec)
		b.rows += rec.NumRows()
		// The rows that stay pending must not point into rec's block,
		// which the iterator releases next: only the last pending record
		// can (rec, or what is left of it), and it is copied out.
		fromRec := true
		own := func() bool {
			if fromRec && len(b.pending) > 0 {
				c, err := copyRecord(b.pending[len(b.pending)-1])
				if err != nil {
					yield(nil, err)
					return false
				}
				b.pending[len(b.pending)-1] = c
			}
			fromRec = false
			return true
		}
		if b.rng != nil {
			if b.rows < int64(b.o.shuffleBuf)+int64(b.o.BatchSize) {
				own()
				return
			}
			if err := b.shuffle(); err != nil { // a copy of every pending row
				yield(nil, err)
				return
			}
			fromRec = false
		}
		size := int64(b.o.BatchSize)
		if size == 0 {
			size = b.rows
		}
		for b.rows >= size && (b.rng == nil || b.rows >= int64(b.o.shuffleBuf)) {
			batch, rest, err := takeRows(b.pending, size)
			if err != nil {
				yield(nil, err)
				return
			}
			b.pending = rest
			b.rows -= size
			if !yield(batch, nil) {
				return
			}
		}
		own()
	}
}

// flush yields what is left: shuffled, cut into batches, the last one
// short unless DropLast.
func (b *batcher) flush() iter.Seq2[arrow.RecordBatch, error] {
	return func(yield func(arrow.RecordBatch, error) bool) {
		if b.rows == 0 {
			return
		}
		if b.rng != nil {
			if err := b.shuffle(); err != nil {
				yield(nil, err)
				return
			}
		}
		size := int64(b.o.BatchSize)
		if size == 0 {
			size = b.rows
		}
		for b.rows > 0 {
			n := min(size, b.rows)
			if n < size && b.o.dropLast {
				return
			}
			batch, rest, err := takeRows(b.pending, n)
			if err != nil {
				yield(nil, err)
				return
			}
			b.pending, b.rows = rest, b.rows-n
			if !yield(batch, nil) {
				return
			}
		}
	}
}

// shuffle permutes the pending rows (one record afterwards).
func (b *batcher) shuffle() error {
	all, err := concatRecords(b.pending)
	if err != nil {
		return err
	}
	idx := make([]int64, all.NumRows())
	for i := range idx {
		idx[i] = int64(i)
	}
	b.rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
	out, err := takeIndices(all, idx)
	if err != nil {
		return err
	}
	b.pending = []arrow.RecordBatch{out}
	return nil
}

// copyRecord copies rec's data into Go memory.
func copyRecord(rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, rec.NumCols())
	for i, c := range rec.Columns() {
		cp, err := array.Concatenate([]arrow.Array{c}, memory.DefaultAllocator)
		if err != nil {
			return nil, fmt.Errorf("data: copying column %q: %w", rec.Schema().Field(i).Name, err)
		}
		cols[i] = cp
	}
	return array.NewRecordBatch(rec.Schema(), cols, rec.NumRows()), nil
}

// IterRows runs the dataset and yields its rows as T values (Ray's
// iter_rows), T a struct whose fields name the columns it reads.
func IterRows[T any](ctx context.Context, d *Dataset) iter.Seq2[T, error] {
	return rowsOf[T](d.IterBatches(ctx, IterBatchSize(0)))
}

// rowsOf turns batches into T values.
func rowsOf[T any](batches iter.Seq2[arrow.RecordBatch, error]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		for batch, err := range batches {
			if err != nil {
				yield(zero, err)
				return
			}
			rs, err := rows.FromRecord[T](batch)
			if err != nil {
				yield(zero, err)
				return
			}
			for _, r := range rs {
				if !yield(r, nil) {
					return
				}
			}
		}
	}
}

// Take returns the first n rows as T values (Ray's take).
func Take[T any](ctx context.Context, d *Dataset, n int) ([]T, error) {
	if n < 0 {
		return nil, errorf("Take(%d): n must not be negative", n)
	}
	return TakeAll[T](ctx, d.Limit(int64(n)))
}

// TakeAll returns every row as T values (Ray's take_all): mind the
// dataset's size.
func TakeAll[T any](ctx context.Context, d *Dataset) ([]T, error) {
	out := []T{}
	for r, err := range IterRows[T](ctx, d) {
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// TakeBatch returns the first n rows as one Arrow record in Go memory
// (Ray's take_batch).
func (d *Dataset) TakeBatch(ctx context.Context, n int) (arrow.RecordBatch, error) {
	if n < 0 {
		return nil, errorf("TakeBatch(%d): n must not be negative", n)
	}
	var recs []arrow.RecordBatch
	for batch, err := range d.Limit(int64(n)).IterBatches(ctx, IterBatchSize(0)) {
		if err != nil {
			return nil, err
		}
		c, err := copyRecord(batch)
		if err != nil {
			return nil, err
		}
		recs = append(recs, c)
	}
	if len(recs) == 0 {
		return nil, nil
	}
	return concatRecords(recs)
}

// Show writes the first n rows to w, one per line (Ray's show).
func (d *Dataset) Show(ctx context.Context, n int, w io.Writer) error {
	rec, err := d.TakeBatch(ctx, n)
	if err != nil || rec == nil {
		return err
	}
	names := columnNames(rec.Schema())
	for r := 0; r < int(rec.NumRows()); r++ {
		var sb strings.Builder
		sb.WriteString("{")
		for c, name := range names {
			if c > 0 {
				sb.WriteString(", ")
			}
			fmt.Fprintf(&sb, "%q: %s", name, rec.Column(c).ValueStr(r))
		}
		sb.WriteString("}\n")
		if _, err := io.WriteString(w, sb.String()); err != nil {
			return err
		}
	}
	return nil
}

// Count returns the number of rows (Ray's count): from the source's
// metadata when only limits follow it, else by running the plan and
// adding up its blocks' metadata, without fetching the blocks.
func (d *Dataset) Count(ctx context.Context) (int64, error) {
	if d.err != nil {
		return 0, d.err
	}
	if n, ok := d.countFromMetadata(ctx); ok {
		return n, nil
	}
	ex, err := d.run(ctx)
	if err != nil {
		return 0, err
	}
	var total int64
	for {
		b, err := ex.next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			_ = ex.close()
			return 0, err
		}
		total += b.Meta.Rows
		ex.release(b)
	}
	return total, ex.close()
}

// countFromMetadata counts without running, where the plan allows.
func (d *Dataset) countFromMetadata(ctx context.Context) (int64, bool) {
	ch := chain(d.n)
	var total int64
	switch src := ch[0]; src.Kind {
	case nodeBlocks:
		for _, b := range src.Blocks {
			total += b.Meta.Rows
		}
	case nodeRead:
		units, err := src.Source.units(ctx, 1) // the rows do not depend on the split
		if err != nil {
			return 0, false
		}
		for _, u := range units {
			if u.Rows < 0 {
				return 0, false
			}
			total += u.Rows
		}
	default:
		return 0, false
	}
	// Only limits may follow: any operator may fail on bad input, and a
	// count must not hide that.
	for _, n := range ch[1:] {
		if n.Kind != nodeLimit {
			return 0, false
		}
		total = min(total, n.Limit)
	}
	return total, true
}

// Schema returns the dataset's schema (Ray's schema): that of its first
// block, which it runs the plan to produce; nil for an empty dataset.
func (d *Dataset) Schema(ctx context.Context) (*arrow.Schema, error) {
	ex, err := d.Limit(1).run(ctx)
	if err != nil {
		return nil, err
	}
	defer ex.close()
	b, err := ex.next(ctx)
	if errors.Is(err, io.EOF) {
		return nil, ex.close()
	}
	if err != nil {
		return nil, err
	}
	defer ex.release(b)
	raw, err := b.Ref.Get(ctx)
	if err != nil {
		return nil, err
	}
	m, err := block.Stat(raw)
	if err != nil {
		return nil, err
	}
	return m.Schema, ex.close()
}

// Materialize runs the dataset and keeps its blocks in the object store,
// returning a dataset over them (Ray's materialize). They stay while the
// returned dataset is referenced; the budget does not bound them.
func (d *Dataset) Materialize(ctx context.Context) (*Dataset, error) {
	blocks, err := d.collect(ctx)
	if err != nil {
		return nil, err
	}
	return &Dataset{n: &node{Kind: nodeBlocks, Label: "Materialized", Blocks: blocks}, exec: d.exec}, nil
}

// collect runs the dataset and keeps every output block.
func (d *Dataset) collect(ctx context.Context) ([]blockRef, error) {
	ex, err := d.run(ctx)
	if err != nil {
		return nil, err
	}
	var blocks []blockRef
	for {
		b, err := ex.next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			_ = ex.close()
			for _, b := range blocks {
				b.release()
			}
			return nil, err
		}
		ex.keep(b)
		blocks = append(blocks, b)
	}
	if err := ex.close(); err != nil {
		for _, b := range blocks {
			b.release()
		}
		return nil, err
	}
	return blocks, nil
}
