package gcs

import (
	"github.com/vmihailenco/msgpack/v5"
)

// heartbeatReply is what head.Heartbeat sends: protocol.HeartbeatReply's
// wire form (the same map, keys and order as the library writes for that
// struct), with the node list already encoded. Every reply until the view
// is rebuilt shares those bytes: encoding the list once per reply made
// the idle head's CPU grow with the square of the nodes (each of N nodes
// gets N states five times a second). TestHeartbeatReplyWire pins the
// equivalence.
type heartbeatReply struct {
	unknown bool
	// nodes is rpc.Marshal of the []protocol.NodeState (nil: none, as
	// when the node's view is current).
	nodes       msgpack.RawMessage
	viewVersion uint64
	deadJobs    []string
}

// EncodeMsgpack writes {"unknown"?, "nodes", "viewv"?, "deadjobs"?},
// omitting the omitempty fields as the struct's encoding does.
func (r *heartbeatReply) EncodeMsgpack(enc *msgpack.Encoder) error {
	n := 1
	if r.unknown {
		n++
	}
	if r.viewVersion != 0 {
		n++
	}
	if len(r.deadJobs) > 0 {
		n++
	}
	if err := enc.EncodeMapLen(n); err != nil {
		return err
	}
	if r.unknown {
		if err := enc.EncodeString("unknown"); err != nil {
			return err
		}
		if err := enc.EncodeBool(true); err != nil {
			return err
		}
	}
	if err := enc.EncodeString("nodes"); err != nil {
		return err
	}
	if r.nodes == nil {
		if err := enc.EncodeNil(); err != nil {
			return err
		}
	} else if err := r.nodes.EncodeMsgpack(enc); err != nil {
		return err
	}
	if r.viewVersion != 0 {
		if err := enc.EncodeString("viewv"); err != nil {
			return err
		}
		if err := enc.EncodeUint(r.viewVersion); err != nil {
			return err
		}
	}
	if len(r.deadJobs) > 0 {
		if err := enc.EncodeString("deadjobs"); err != nil {
			return err
		}
		return enc.Encode(r.deadJobs)
	}
	return nil
}
