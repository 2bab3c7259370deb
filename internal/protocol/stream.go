package protocol

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// OwnerStreamItem reports one item of a streaming task or actor call to
// its owner (a StreamItemRequest), as Ray's ReportGeneratorItemReturns.
// The owner answers once it holds the item and its consumer is less than
// the stream's backpressure behind, so the producer's yield blocks while
// the consumer lags (Ray's _generator_backpressure_num_objects).
const OwnerStreamItem = "core.StreamItem"

// StreamSpec marks a task (TaskSpec.Stream) or an actor call
// (ActorCallRequest.Stream) as streaming: the function yields items, each
// reported to the owner as its own object (StreamItemID), and the reply
// carries the number of items (StreamEnd) instead of a value.
type StreamSpec struct {
	// Skip is the number of leading items the owner already holds: a
	// retried attempt runs the function again and drops those items
	// unreported, so the consumer sees each index once (as Ray does).
	Skip int `msgpack:"skip,omitempty"`
	// ItemBase, when set, is the task whose items this run makes again
	// (lineage reconstruction of a lost item): items are named after it
	// and reported to its stream at the owner, not this task's.
	ItemBase string `msgpack:"base,omitempty"`
}

// StreamItemID names the i-th item (from 0) of the stream of task taskID.
// The task's own ID is the stream's.
func StreamItemID(taskID string, i int) string { return ReturnID(taskID, i+1) }

// StreamItemRequest is one item of a stream: inline or stored, as a
// task's result (PushTaskReply).
type StreamItemRequest struct {
	TaskID  string `msgpack:"task"`
	Index   int    `msgpack:"i"`
	Attempt int    `msgpack:"att,omitempty"`
	// Rebuild: the item comes from a lineage re-run (StreamSpec.ItemBase)
	// and goes to the object waiting for it, not to the stream.
	Rebuild bool            `msgpack:"rb,omitempty"`
	Value   []byte          `msgpack:"v,omitempty"`
	Loc     *ObjectLocation `msgpack:"loc,omitempty"`
	// Nested are the references the item holds; the worker registered the
	// owner as their borrower.
	Nested []NestedRef `msgpack:"nested,omitempty"`
}

// StreamItemReply answers a StreamItemRequest.
type StreamItemReply struct {
	// Stop: the stream is closed (its consumer dropped it, or cancelled
	// it): the producer stops, and the item was not taken.
	Stop bool `msgpack:"stop,omitempty"`
	// Dup: the owner already held this index (from an earlier attempt);
	// the item was dropped.
	Dup bool `msgpack:"dup,omitempty"`
}

// StreamEnd is the value a streaming task replies with: how many items it
// produced. The owner ends the stream once it holds all of them.
type StreamEnd struct {
	Items int `msgpack:"n"`
}

// encodeStream writes a StreamSpec in the hand-written forms (codec.go):
// 0 for none, else Skip+1, or [Skip, ItemBase] for a reconstruction.
func encodeStream(enc *msgpack.Encoder, s *StreamSpec) error {
	if s == nil {
		return enc.EncodeInt(0)
	}
	if s.ItemBase == "" {
		return enc.EncodeInt(int64(s.Skip) + 1)
	}
	if err := enc.EncodeArrayLen(2); err != nil {
		return err
	}
	if err := enc.EncodeInt(int64(s.Skip)); err != nil {
		return err
	}
	return enc.EncodeString(s.ItemBase)
}

// decodeStream reads what encodeStream writes.
func decodeStream(dec *msgpack.Decoder) (*StreamSpec, error) {
	c, err := dec.PeekCode()
	if err != nil {
		return nil, err
	}
	if msgpcode.IsFixedArray(c) {
		if n, err := dec.DecodeArrayLen(); err != nil || n != 2 {
			return nil, fmt.Errorf("protocol: a stream spec of %d fields: %v", n, err)
		}
		skip, err := dec.DecodeInt()
		if err != nil {
			return nil, err
		}
		base, err := dec.DecodeString()
		if err != nil {
			return nil, err
		}
		return &StreamSpec{Skip: skip, ItemBase: base}, nil
	}
	n, err := dec.DecodeInt()
	if err != nil || n <= 0 {
		return nil, err
	}
	return &StreamSpec{Skip: n - 1}, nil
}
