package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// serveChunks serves an object's bytes to another node over a stream
// (protocol.NodeChunkStream): from a sealed copy, pinned for the stream,
// or from a copy this node is still receiving, each chunk once it has
// arrived. The bytes are written from the store's mapping straight to
// the socket.
func (n *Node) serveChunks(ctx context.Context, body []byte, st *rpc.Stream) error {
	var req protocol.ChunkStreamRequest
	if err := rpc.Unmarshal(body, &req); err != nil {
		return rpc.Errorf(rpc.CodeBadRequest, "node: chunk stream: %v", err)
	}
	h := n.holder(ctx)
	if loc, err := n.store.Get(req.ObjectID, h); err == nil {
		defer n.store.Release(req.ObjectID, h)
		b, err := n.store.Bytes(loc)
		if err != nil {
			return err
		}
		n.notePuller(req)
		if err := st.Accept(&protocol.ChunkStreamReply{Size: loc.Size}); err != nil {
			return err
		}
		return n.writeRanges(st, req.ObjectID, loc.Size, func(off, end int64) ([]byte, error) { return b[off:end], nil })
	}
	p := n.partial(req.ObjectID, st)
	if p == nil {
		if _, err := n.store.Get(req.ObjectID, h); err == nil {
			// Sealed just now: serve it whole.
			n.store.Release(req.ObjectID, h)
			return n.serveChunks(ctx, body, st)
		}
		return rpc.Errorf(protocol.CodeObjectNotFound, "node: object %s is not here", req.ObjectID)
	}
	defer p.leave(n, st)
	// Wait for the object's bytes to exist here.
	p.mu.Lock()
	for !p.created && !p.ended {
		p.cond.Wait()
	}
	failed, size := p.failed || !p.created, p.size
	p.mu.Unlock()
	if failed {
		return rpc.Errorf(protocol.CodeObjectNotFound, "node: the copy of object %s here failed", req.ObjectID)
	}
	n.notePuller(req)
	if err := st.Accept(&protocol.ChunkStreamReply{Size: size}); err != nil {
		return err
	}
	return n.writeRanges(st, req.ObjectID, size, p.await)
}

// notePuller records the reading node, which is told when the object is
// deleted.
func (n *Node) notePuller(req protocol.ChunkStreamRequest) {
	if req.Puller == "" {
		return
	}
	n.objs.mu.Lock()
	if n.objs.pullers[req.ObjectID] == nil {
		n.objs.pullers[req.ObjectID] = map[string]bool{}
	}
	n.objs.pullers[req.ObjectID][req.Puller] = true
	n.objs.mu.Unlock()
}

// writeRanges answers range requests until the reader hangs up.
func (n *Node) writeRanges(st *rpc.Stream, id string, size int64, bytesOf func(off, end int64) ([]byte, error)) error {
	var msg [16]byte
	for {
		if _, err := io.ReadFull(st, msg[:]); err != nil {
			return nil // the reader is done (or gone)
		}
		off, l := int64(binary.BigEndian.Uint64(msg[:8])), int64(binary.BigEndian.Uint64(msg[8:]))
		if off < 0 || l <= 0 || off > size || l > size-off {
			return fmt.Errorf("node: range %d+%d outside object %s of %d bytes", off, l, id, size)
		}
		b, err := bytesOf(off, off+l)
		if err != nil {
			return err
		}
		if _, err := st.Write(b); err != nil {
			return nil
		}
		n.objs.sentBytes.Add(l)
	}
}

// partial joins the servers of the transfer of id in progress here, if
// there is one.
func (n *Node) partial(id string, st *rpc.Stream) *pull {
	n.objs.mu.Lock()
	p := n.objs.pulls[id]
	n.objs.mu.Unlock()
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended && p.failed {
		return nil
	}
	if p.ended && !p.pinned {
		// Sealed and its pin given back: a Get would have found it,
		// unless it went meanwhile.
		return nil
	}
	p.servers++
	p.conns[st.Conn()] = true
	return p
}

// leave ends one server of the pull; the last one after a seal gives
// the kept pin back.
func (p *pull) leave(n *Node, st *rpc.Stream) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, st.Conn())
	p.servers--
	p.cond.Broadcast()
	if p.servers == 0 && p.pinned {
		p.pinned = false
		n.store.Release(p.id, transferHolder(p.id))
	}
}

// await returns the bytes of [off, end) once every chunk they span has
// arrived; it fails if the transfer does.
func (p *pull) await(off, end int64) ([]byte, error) {
	first, last := int(off/chunkSize), int((end-1)/chunkSize)
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := first; c <= last; c++ {
		for !p.have[c] {
			if p.ended {
				return nil, fmt.Errorf("node: the copy of object %s here failed", p.id)
			}
			p.cond.Wait()
		}
	}
	return p.dst[off:end], nil
}
