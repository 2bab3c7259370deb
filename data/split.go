package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"runtime"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/data/internal/block"
)

// Split materializes the dataset and splits it into n datasets (Ray's
// split): by whole blocks, as even in rows as blocks allow, or, with
// equal, into exactly total/n rows each (the remainder dropped, as Ray
// does).
func (d *Dataset) Split(ctx context.Context, n int, equal bool) ([]*Dataset, error) {
	if n < 1 {
		return nil, errorf("Split(%d): n must be 1 or more", n)
	}
	m, err := d.Materialize(ctx)
	if err != nil {
		return nil, err
	}
	blocks := m.n.Blocks
	var total int64
	for _, b := range blocks {
		total += b.Meta.Rows
	}
	out := make([]*Dataset, n)
	if equal {
		per := total / int64(n)
		cfg, err := d.config(ctx)
		if err != nil {
			return nil, err
		}
		for i := range n {
			part, err := sliceRows(ctx, blocks, int64(i)*per, per, cfg.targetBlock)
			if err != nil {
				return nil, err
			}
			for j := range part {
				part[j].borrowed = false // the split's own (or shared: GC frees them)
			}
			out[i] = &Dataset{n: &node{Kind: nodeBlocks, Label: fmt.Sprintf("Split[%d/%d]", i, n), Blocks: part}, exec: d.exec}
		}
		return out, nil
	}
	// Whole blocks, greedily to the split with the fewest rows.
	parts := make([][]blockRef, n)
	rowsOf := make([]int64, n)
	for _, b := range blocks {
		k := 0
		for i := range rowsOf {
			if rowsOf[i] < rowsOf[k] {
				k = i
			}
		}
		parts[k] = append(parts[k], b)
		rowsOf[k] += b.Meta.Rows
	}
	for i := range n {
		out[i] = &Dataset{n: &node{Kind: nodeBlocks, Label: fmt.Sprintf("Split[%d/%d]", i, n), Blocks: parts[i]}, exec: d.exec}
	}
	return out, nil
}

// StreamingSplit splits the dataset into n iterators that consume one
// shared, streaming run at their own pace (Ray's streaming_split): the
// run happens in a coordinator actor, and each DataIterator, passable to
// another process (a Train worker), pulls its blocks from it. With equal,
// every iterator gets exactly total/n rows (the remainder dropped), else
// blocks go to whichever iterator asks first. Iterating again starts a
// new epoch: a new run, once every iterator finished the last one.
func (d *Dataset) StreamingSplit(ctx context.Context, n int, equal bool) ([]*DataIterator, error) {
	if d.err != nil {
		return nil, d.err
	}
	if n < 1 {
		return nil, errorf("StreamingSplit(%d): n must be 1 or more", n)
	}
	spec := splitSpec{Plan: d.n, Exec: d.exec, N: n, Equal: equal}
	spec.Exec.Progress = ProgressQuiet // an actor has no terminal
	h, err := splitCoordinatorType.Options(rayo.NumCPUs(0), rayo.MaxConcurrency(2*n+2)).New(ctx, spec)
	if err != nil {
		return nil, err
	}
	if err := h.Ready(ctx); err != nil {
		return nil, err
	}
	its := make([]*DataIterator, n)
	for i := range its {
		its[i] = &DataIterator{Coordinator: h, Index: i, N: n}
	}
	return its, nil
}

// splitSpec is what a coordinator is built from.
type splitSpec struct {
	Plan  *node       `msgpack:"p"`
	Exec  execOptions `msgpack:"e"`
	N     int         `msgpack:"n"`
	Equal bool        `msgpack:"q"`
}

// DataIterator is one share of a StreamingSplit (Ray's DataIterator): a
// small value to pass to the process that consumes it.
type DataIterator struct {
	Coordinator rayo.ActorHandle[splitCoordinator] `msgpack:"c"`
	Index       int                                `msgpack:"i"`
	N           int                                `msgpack:"n"`
}

// splitItem is a coordinator's answer: a block for the iterator, or the
// end of its epoch.
type splitItem struct {
	Block blockRef `msgpack:"b"`
	Done  bool     `msgpack:"d"`
}

// IterBatches yields the iterator's rows in batches, as
// Dataset.IterBatches does, with its options. Each call is an epoch.
func (it *DataIterator) IterBatches(ctx context.Context, opts ...IterOption) iter.Seq2[arrow.RecordBatch, error] {
	o := iterOptions{BatchSize: 256, prefetch: 1}
	for _, f := range opts {
		f(&o)
	}
	return func(yield func(arrow.RecordBatch, error) bool) {
		prev := ""
		start := true // the coordinator counts this iterator's epochs
		// The block being read is valid while its ref is held: until the
		// next call.
		var cur rayo.ObjectRef[[]byte]
		next := func() (arrow.RecordBatch, error) {
			item, err := splitNext.Remote(it.Coordinator, it.Index, start, prev).Get(ctx)
			start = false
			if err != nil {
				return nil, err
			}
			if item.Done {
				return nil, io.EOF
			}
			prev, cur = item.Block.Ref.ID(), item.Block.Ref
			raw, err := cur.Get(ctx)
			if err != nil {
				return nil, err
			}
			return block.Decode(raw)
		}
		newBatcher(o).run(next, yield)
		runtime.KeepAlive(cur)
	}
}

// IterSplitRows yields an iterator's rows as T values (Ray's
// DataIterator.iter_rows).
func IterSplitRows[T any](ctx context.Context, it *DataIterator) iter.Seq2[T, error] {
	return rowsOf[T](it.IterBatches(ctx, IterBatchSize(0)))
}

// splitCoordinator runs a StreamingSplit's plan and hands its blocks out.
type splitCoordinator struct {
	spec splitSpec

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced when anything changes
	epoch     int
	ex        *executor
	exDone    bool  // the run's output is all in
	err       error // the run failed
	buffer    []blockRef
	seen      int64   // rows out of the run this epoch
	delivered []int64 // rows given to each iterator this epoch
	finished  []bool  // iterators that got their end of this epoch
	lent      map[string]blockRef
	pulling   bool
	iterEpoch []int // the epoch each iterator is in
}

var splitCoordinatorType = rayo.RegisterActor[splitCoordinator]("rayo.data.splitCoordinator", func(spec splitSpec) (*splitCoordinator, error) {
	if spec.Plan == nil || spec.N < 1 {
		return nil, errorf("a split coordinator without a plan")
	}
	c := &splitCoordinator{spec: spec, changed: make(chan struct{}), epoch: -1, lent: map[string]blockRef{},
		iterEpoch: make([]int, spec.N)}
	for i := range c.iterEpoch {
		c.iterEpoch[i] = -1
	}
	return c, nil
})

var splitNext = rayo.RegisterMethod[splitItem](splitCoordinatorType, "next", (*splitCoordinator).next)

// next gives iterator i its next block, releasing the one it had (prev);
// start begins the iterator's next epoch.
func (c *splitCoordinator) next(ctx context.Context, i int, start bool, prev string) (splitItem, error) {
	if i < 0 || i >= c.spec.N {
		return splitItem{}, errorf("iterator %d of %d", i, c.spec.N)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if start {
		// An iterator that left its last epoch early (a loop that broke
		// out) is done with it: the others need not wait for it.
		if c.ex != nil && c.iterEpoch[i] == c.epoch && !c.finished[i] {
			c.finished[i] = true
			c.signalLocked()
		}
		c.iterEpoch[i]++
	}
	epoch := c.iterEpoch[i]
	if b, ok := c.lent[prev]; ok {
		delete(c.lent, prev)
		c.ex.release(b)
	}
	for {
		if err := c.startEpochLocked(ctx, epoch); err != nil {
			return splitItem{}, err
		}
		if epoch < c.epoch || c.finished[i] {
			return splitItem{Done: true}, nil
		}
		if c.err != nil {
			return splitItem{}, c.err
		}
		if item, ok := c.takeLocked(ctx, i); ok {
			return item, nil
		}
		if c.exDone && !c.spec.Equal {
			c.finished[i] = true
			c.signalLocked()
			return splitItem{Done: true}, nil
		}
		if c.exDone && c.spec.Equal {
			item, err := c.topUpLocked(ctx, i)
			if err != nil {
				return splitItem{}, err
			}
			return item, nil
		}
		// Wait for more output (one caller pulls it) or for a change.
		if !c.pulling {
			c.pullLocked(ctx)
			continue
		}
		wait := c.changed
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			c.mu.Lock()
			return splitItem{}, ctx.Err()
		}
		c.mu.Lock()
	}
}

// startEpochLocked starts the run of epoch when every iterator is done
// with the one before.
func (c *splitCoordinator) startEpochLocked(ctx context.Context, epoch int) error {
	for epoch > c.epoch {
		all := c.ex == nil
		if !all {
			all = true
			for _, f := range c.finished {
				all = all && f
			}
		}
		if all {
			if c.ex != nil {
				for _, b := range c.buffer {
					c.ex.release(b)
				}
				for id, b := range c.lent {
					c.ex.release(b)
					delete(c.lent, id)
				}
				_ = c.ex.close()
			}
			ex, err := (&Dataset{n: c.spec.Plan, exec: c.spec.Exec}).run(context.WithoutCancel(ctx))
			if err != nil {
				return err
			}
			c.ex, c.exDone, c.err, c.buffer, c.seen = ex, false, nil, nil, 0
			c.delivered, c.finished = make([]int64, c.spec.N), make([]bool, c.spec.N)
			c.epoch++
			c.signalLocked()
			continue
		}
		wait := c.changed
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			c.mu.Lock()
			return ctx.Err()
		}
		c.mu.Lock()
	}
	return nil
}

// takeLocked gives iterator i a buffered block it may have: any, or with
// Equal one that keeps it within the rows every iterator is sure to get.
func (c *splitCoordinator) takeLocked(ctx context.Context, i int) (splitItem, bool) {
	for k, b := range c.buffer {
		if c.spec.Equal && c.delivered[i]+b.Meta.Rows > c.seen/int64(c.spec.N) {
			continue
		}
		c.buffer = append(c.buffer[:k:k], c.buffer[k+1:]...)
		c.delivered[i] += b.Meta.Rows
		c.lent[b.Ref.ID()] = b
		return splitItem{Block: b}, true
	}
	return splitItem{}, false
}

// topUpLocked, at the end of an equal run, gives iterator i the rows it
// lacks of total/n, sliced from the buffer, then its end.
func (c *splitCoordinator) topUpLocked(ctx context.Context, i int) (splitItem, error) {
	want := c.seen/int64(c.spec.N) - c.delivered[i]
	if want <= 0 || len(c.buffer) == 0 {
		c.finished[i] = true
		c.signalLocked()
		return splitItem{Done: true}, nil
	}
	cfg := c.ex.cfg
	sliced, err := sliceRows(ctx, c.buffer, 0, want, cfg.targetBlock)
	if err != nil {
		return splitItem{}, err
	}
	// The buffer loses the rows given; what is left is sliced off too.
	var left int64
	for _, b := range c.buffer {
		left += b.Meta.Rows
	}
	rest, err := sliceRows(ctx, c.buffer, want, left-want, cfg.targetBlock)
	if err != nil {
		return splitItem{}, err
	}
	// Blocks kept whole stay counted; new slices join the run's holdings;
	// blocks that were sliced go.
	kept := append(append([]blockRef{}, sliced...), rest...)
	for _, b := range c.buffer {
		if !containsRef(kept, b) {
			c.ex.release(b)
		}
	}
	old := c.buffer
	c.buffer = nil
	for _, b := range kept {
		if !containsRef(old, b) {
			c.ex.adopt(b)
		}
		b.borrowed = false
		c.buffer = append(c.buffer, b)
	}
	// Now the wanted rows are whole blocks at the buffer's end: take them.
	item, ok := c.takeLocked(ctx, i)
	if !ok {
		return splitItem{}, fmt.Errorf("data: streaming split: %d rows for iterator %d not found after slicing", want, i)
	}
	return item, nil
}

func containsRef(bs []blockRef, b blockRef) bool {
	for _, x := range bs {
		if x.Ref.ID() == b.Ref.ID() {
			return true
		}
	}
	return false
}

// pullLocked takes the run's next block into the buffer, unlocked while
// it waits.
func (c *splitCoordinator) pullLocked(ctx context.Context) {
	c.pulling = true
	ex := c.ex
	c.mu.Unlock()
	b, err := ex.next(ctx)
	c.mu.Lock()
	c.pulling = false
	if ex != c.ex { // a new epoch began meanwhile
		if err == nil {
			ex.release(b)
		}
		return
	}
	switch {
	case errors.Is(err, io.EOF):
		c.exDone = true
	case err != nil:
		if ctx.Err() == nil {
			c.err = err
		}
	default:
		c.buffer = append(c.buffer, b)
		c.seen += b.Meta.Rows
	}
	c.signalLocked()
}

func (c *splitCoordinator) signalLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}
