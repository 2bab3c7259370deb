package data

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rayo-dev/rayo"
)

// Direct task runs, outside a plan's executor: the all-to-all operators'
// stages and the slicing of blocks for splits.

// takeBlocks drains a stream of Data's (metadata, block) pairs.
func takeBlocks(ctx context.Context, s *rayo.ObjectRefStream[[]byte]) ([]blockRef, error) {
	defer s.Close()
	var out []blockRef
	fail := func(err error) ([]blockRef, error) {
		for _, b := range out {
			b.release()
		}
		return nil, err
	}
	for {
		metaRef, err := s.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return fail(err)
		}
		mb, err := metaRef.Get(ctx)
		metaRef.Release()
		if err != nil {
			return fail(err)
		}
		var meta blockMeta
		if err := msgpack.Unmarshal(mb, &meta); err != nil {
			return fail(fmt.Errorf("data: a task's block metadata: %w", err))
		}
		if meta.Rows < 0 {
			continue // the task's figures
		}
		ref, err := s.Next(ctx)
		if err != nil {
			return fail(fmt.Errorf("data: a block after its metadata: %w", err))
		}
		out = append(out, blockRef{Ref: ref, Meta: meta})
	}
}

// mapBlocks runs ops over blocks in one task and returns its output.
func mapBlocks(ctx context.Context, ops []opSpec, target int64, blocks []blockRef) ([]blockRef, error) {
	args := make([]any, 0, len(blocks)+1)
	args = append(args, mapSpec{Ops: ops, Target: target})
	for _, b := range blocks {
		args = append(args, b.Ref)
	}
	return takeBlocks(ctx, mapTask.Remote(args...))
}

// sliceRows returns rows [skip, skip+n) of blocks (in order): the
// blocks themselves when the range is whole blocks, else one slicing
// task's output.
func sliceRows(ctx context.Context, blocks []blockRef, skip, n int64, target int64) ([]blockRef, error) {
	var cover []blockRef
	start := int64(-1) // the first covering block's first row
	covered := int64(0)
	at := int64(0)
	for _, b := range blocks {
		lo, hi := at, at+b.Meta.Rows
		at = hi
		if hi <= skip || lo >= skip+n || b.Meta.Rows == 0 {
			continue
		}
		if start < 0 {
			start = lo
		}
		cover = append(cover, b)
		covered += b.Meta.Rows
	}
	if len(cover) == 0 || n <= 0 {
		return nil, nil
	}
	if start == skip && covered == n {
		out := make([]blockRef, len(cover))
		for i, b := range cover {
			b.borrowed = true // still the source's
			out[i] = b
		}
		return out, nil
	}
	return mapBlocks(ctx, []opSpec{{Kind: opSlice, Label: "slice", Skip: skip - start, N: n}}, target, cover)
}
