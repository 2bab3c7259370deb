package data

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/data/internal/block"
)

// The tasks Data runs in workers. Each streams its output blocks: for
// every block, first its metadata (small, so it travels inline to the
// driver) and then the block itself (stored in the producing node's
// shared-memory store). The driver thus learns rows and bytes without
// fetching a block, as Ray Data's BlockMetadata.

// blockMeta describes an output block.
type blockMeta struct {
	Rows  int64 `msgpack:"r"` // -1: not a block but the task's figures
	Bytes int64 `msgpack:"b"`
	CPU   int64 `msgpack:"c,omitempty"` // the figures: the task's CPU time (ns)
	Wall  int64 `msgpack:"w,omitempty"` // and wall time (ns)
}

// readSpec is a read task's work: a source unit, then the fused
// operators.
type readSpec struct {
	Source sourceUnit `msgpack:"s"`
	Ops    []opSpec   `msgpack:"o,omitempty"`
	Target int64      `msgpack:"t"` // target block bytes
}

// mapSpec is a map task's work on its input blocks.
type mapSpec struct {
	Ops    []opSpec `msgpack:"o"`
	Target int64    `msgpack:"t"`
}

var readTask = rayo.RegisterStream[[]byte]("rayo.data.read", func(ctx context.Context, spec readSpec) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		em := newEmitter(spec.Target, yield)
		chain, err := buildChain(spec.Ops, nil, em.add)
		if err == nil {
			err = spec.Source.read(ctx, func(rec arrow.RecordBatch) error { return chain.push(ctx, rec) })
			if errors.Is(err, errLimitReached) {
				err = nil
			}
			if err == nil {
				err = chain.finish(ctx)
			}
		}
		em.close(limitOK(err))
	}
})

var mapTask = rayo.RegisterStream[[]byte]("rayo.data.map", func(ctx context.Context, spec mapSpec, blocks ...[]byte) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		em := newEmitter(spec.Target, yield)
		em.close(runChain(ctx, spec.Ops, nil, blocks, em))
	}
})

// runChain decodes blocks in place and runs them through ops into em.
func runChain(ctx context.Context, ops []opSpec, state any, blocks [][]byte, em *emitter) error {
	chain, err := buildChain(ops, state, em.add)
	if err != nil {
		return err
	}
	for i, b := range blocks {
		rec, err := block.Decode(b)
		if err != nil {
			return fmt.Errorf("data: input block %d: %w", i, err)
		}
		err = chain.push(ctx, rec)
		if errors.Is(err, errLimitReached) {
			break
		}
		if err != nil {
			return err
		}
	}
	return limitOK(chain.finish(ctx))
}

// limitOK turns the end of a limit's rows into success.
func limitOK(err error) error {
	if errors.Is(err, errLimitReached) {
		return nil
	}
	return err
}

// emitter gathers a chain's output into blocks of about target bytes and
// yields each as a metadata item and a block item.
type emitter struct {
	started time.Time     // for the task's figures
	cpu0    time.Duration // the process's CPU time at the start
	target  int64
	yield   func([]byte, error) bool
	pending []arrow.RecordBatch
	bytes   int64
	stopped bool // the consumer went away
}

// errStopped ends a task whose consumer closed its stream.
var errStopped = errors.New("data: the stream's consumer went away")

func (e *emitter) add(_ context.Context, rec arrow.RecordBatch) error {
	if e.stopped {
		return errStopped
	}
	if rec.NumRows() == 0 {
		return nil
	}
	if len(e.pending) > 0 && !e.pending[0].Schema().Equal(rec.Schema()) {
		if err := e.flush(); err != nil {
			return err
		}
	}
	e.pending = append(e.pending, rec)
	e.bytes += recordBytes(rec)
	if e.bytes >= e.target {
		return e.flush()
	}
	return nil
}

// flush emits what is pending, split into blocks of at most target bytes.
func (e *emitter) flush() error {
	if len(e.pending) == 0 {
		return nil
	}
	rec, err := concatRecords(e.pending)
	if err != nil {
		return err
	}
	size := e.bytes
	e.pending, e.bytes = e.pending[:0], 0
	parts := int64(1)
	if e.target > 0 && size > e.target {
		parts = (size + e.target - 1) / e.target
	}
	rowsPer := (rec.NumRows() + parts - 1) / parts
	for off := int64(0); off < rec.NumRows(); off += rowsPer {
		end := min(off+rowsPer, rec.NumRows())
		if err := e.emit(rec.NewSlice(off, end)); err != nil {
			return err
		}
	}
	return nil
}

func (e *emitter) emit(rec arrow.RecordBatch) error {
	b, err := block.EncodeSized(rec, recordBytes(rec))
	if err != nil {
		return fmt.Errorf("data: encoding an output block: %w", err)
	}
	meta, err := msgpack.Marshal(blockMeta{Rows: rec.NumRows(), Bytes: int64(len(b))})
	if err != nil {
		return err
	}
	if !e.yield(meta, nil) || !e.yield(b, nil) {
		e.stopped = true
		return errStopped
	}
	return nil
}

// newEmitter starts the output of a task.
func newEmitter(target int64, yield func([]byte, error) bool) *emitter {
	return &emitter{started: time.Now(), cpu0: processCPU(), target: target, yield: yield}
}

// close flushes and ends the stream, with err if the work failed, or
// else with the task's figures.
func (e *emitter) close(err error) {
	if err == nil {
		err = e.flush()
	}
	if err != nil {
		if !errors.Is(err, errStopped) && !e.stopped {
			e.yield(nil, err)
		}
		return
	}
	figures, err := msgpack.Marshal(blockMeta{Rows: -1, CPU: int64(processCPU() - e.cpu0), Wall: int64(time.Since(e.started))})
	if err == nil {
		e.yield(figures, nil)
	}
}

// processCPU is the process's user and system CPU time: a worker runs
// one task at a time, so the difference over a task is the task's.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
