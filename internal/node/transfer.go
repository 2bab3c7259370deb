package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/rayo-dev/rayo/internal/objstore"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// Transfers between nodes. The node that wants an object asks the node of
// its primary copy for a plan (distribute.go): the nodes to read it from.
// It then opens a few streams (rpc.DialStream) to them and reads the
// object in chunks straight into its own store: the bytes go from the
// source's shared memory to its socket and from the socket into this
// node's shared memory, with no copy in between and no message encoding.
// A source that fails mid-way is replaced by the primary's node; chunks
// it owed are read again from there.
//
// While it receives an object, a node serves the chunks it already has
// to nodes that the plan sent to it (chunkserve.go), so that an object
// read by many nodes at once spreads as a tree instead of leaving its
// source once per reader.

// Transfer tuning.
const (
	// chunkSize is the unit of a transfer and of passing on a partial
	// copy: small enough that a tree of relays pipelines well, large
	// enough that a request per chunk costs nothing.
	chunkSize = 4 << 20
	// transferStreams is the number of streams one transfer reads with,
	// spread over its sources.
	transferStreams = 4
	// chunkTimeout bounds the wait for one chunk: a relay that stalls is
	// replaced by the primary's node.
	chunkTimeout = time.Minute
)

// pull is a transfer in progress. Other pullers of the same object here
// wait for it; other nodes may read its received chunks (chunkserve.go).
type pull struct {
	id   string
	done chan struct{}
	err  error

	mu   sync.Mutex
	cond *sync.Cond // broadcast on a chunk received, dst set, the end, a server leaving
	size int64
	dst  []byte // the object's bytes in the store, once created
	// created: size, dst and have are set.
	created bool
	have    []bool // received chunks
	// ended: the object is sealed (failed false) or the transfer gave
	// up (failed true).
	ended, failed bool
	// servers counts streams reading dst; conns are theirs, closed when
	// the transfer fails so that they stop at once.
	servers int
	conns   map[net.Conn]bool
	// pinned: the creator's pin, kept across the seal (SealKeep) until
	// the last server is done.
	pinned bool
}

func newPull(id string) *pull {
	p := &pull{id: id, done: make(chan struct{}), conns: map[net.Conn]bool{}}
	p.cond = sync.NewCond(&p.mu)
	return p
}

// transferHolder is the store holder of an object being received.
func transferHolder(id string) string { return "transfer:" + id }

func chunkCount(size int64) int { return int((size + chunkSize - 1) / chunkSize) }

func chunkRange(c int, size int64) (off, end int64) {
	off = int64(c) * chunkSize
	return off, min(off+chunkSize, size)
}

// pullOnce copies an object from other nodes; concurrent pulls of the
// same object share one transfer.
func (n *Node) pullOnce(ctx context.Context, req *protocol.PullObjectRequest) error {
	st := n.objs
	st.mu.Lock()
	p := st.pulls[req.ObjectID]
	if p == nil {
		if n.store.Contains(req.ObjectID) {
			st.mu.Unlock()
			return nil
		}
		p = newPull(req.ObjectID)
		st.pulls[req.ObjectID] = p
		st.mu.Unlock()
		p.err = n.transfer(p, req)
		st.mu.Lock()
		delete(st.pulls, req.ObjectID)
		st.mu.Unlock()
		close(p.done)
		return p.err
	}
	st.mu.Unlock()
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// transfer receives the object into a new secondary copy.
func (n *Node) transfer(p *pull, req *protocol.PullObjectRequest) (err error) {
	ctx, cancel := n.stopContext(10 * time.Minute)
	defer cancel()
	if req.Size < 0 {
		p.finish(n, false)
		return rpc.Errorf(rpc.CodeBadRequest, "node: pull needs the object's size")
	}
	sources := n.planPull(ctx, req)
	holder := transferHolder(req.ObjectID)
	loc, err := n.store.Create(req.ObjectID, req.Size, false, holder)
	if err != nil {
		p.finish(n, false)
		n.reportPull(req, false, nil)
		return storeErr(err)
	}
	dst, err := n.store.Bytes(loc)
	if err != nil {
		p.finish(n, false)
		n.store.Abort(req.ObjectID)
		n.reportPull(req, false, nil)
		return err
	}
	p.mu.Lock()
	p.size, p.dst, p.have, p.created = req.Size, dst, make([]bool, chunkCount(req.Size)), true
	p.cond.Broadcast()
	p.mu.Unlock()

	go p.prefault()
	gone, err := n.receive(ctx, p, req, sources)
	if err != nil && ctx.Err() == nil {
		// Every error of receive is the primary's node failing to
		// serve (the other sources fall back to it): it died, its port
		// is someone else's now, or it has no copy any more.
		err = rpc.Errorf(protocol.CodeObjectLost, "rayo: object %s is gone from the node that held it: %v", req.ObjectID, err)
	}
	if err == nil {
		err = storeErr(n.store.SealKeep(req.ObjectID, holder))
	}
	if err != nil {
		p.finish(n, false)
		n.store.Abort(req.ObjectID)
		n.reportPull(req, false, gone)
		return err
	}
	p.finish(n, true)
	n.objs.mu.Lock()
	n.recordOwnerLocked(req.ObjectID, req.Owner)
	n.objs.mu.Unlock()
	n.objs.pullsDone.Add(1)
	n.reportPull(req, true, gone)
	return nil
}

// finish ends the pull for its servers: they stop at once if it failed
// (their connections are closed, then Abort may free the bytes, once they
// are all gone); after a seal they go on reading the sealed bytes, which
// the creator's kept pin holds in place until the last of them leaves.
func (p *pull) finish(n *Node, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ended, p.failed = true, !ok
	p.cond.Broadcast()
	if !ok {
		for c := range p.conns {
			_ = c.Close()
		}
		for p.servers > 0 {
			p.cond.Wait()
		}
		return
	}
	if p.servers > 0 {
		p.pinned = true
		return
	}
	n.store.Release(p.id, transferHolder(p.id))
}

// prefault maps in the pages of the chunks not received yet, in order,
// ahead of the streams (objstore.Prefault), until the transfer ends.
func (p *pull) prefault() {
	for c := range p.have {
		p.mu.Lock()
		skip, ended := p.have[c], p.ended
		p.mu.Unlock()
		if ended {
			return
		}
		if skip {
			continue
		}
		off, end := chunkRange(c, p.size)
		if !objstore.Prefault(p.dst[off:end]) {
			return
		}
	}
}

// planPull asks the primary's node where to read from; if it cannot say
// (an older node, say), the primary's node is the one source.
func (n *Node) planPull(ctx context.Context, req *protocol.PullObjectRequest) []string {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var plan protocol.PullPlanReply
	if c, err := n.peerNode(pctx, req.From); err == nil {
		if err := c.Call(pctx, protocol.NodePullPlan, &protocol.PullPlanRequest{ObjectID: req.ObjectID, Puller: n.Addr()}, &plan); err == nil && len(plan.Sources) > 0 {
			return plan.Sources
		}
	}
	return []string{req.From}
}

// reportPull tells the primary's node how the pull went, in the
// background.
func (n *Node) reportPull(req *protocol.PullObjectRequest, ok bool, gone []string) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		ctx, cancel := n.stopContext(10 * time.Second)
		defer cancel()
		if c, err := n.peerNode(ctx, req.From); err == nil {
			_ = c.Call(ctx, protocol.NodePullDone, &protocol.PullDoneRequest{ObjectID: req.ObjectID, Puller: n.Addr(), OK: ok, Gone: gone}, nil)
		}
	}()
}

// receiver hands out the chunks still to read to the transfer's streams.
type receiver struct {
	n   *Node
	p   *pull
	req *protocol.PullObjectRequest

	mu    sync.Mutex
	next  int   // the next chunk never handed out
	again []int // chunks handed back by a failed stream
	err   error // the first error that ends the transfer
	gone  map[string]bool
}

func (r *receiver) take() (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return 0, false
	}
	if k := len(r.again); k > 0 {
		c := r.again[k-1]
		r.again = r.again[:k-1]
		return c, true
	}
	if r.next < len(r.p.have) {
		r.next++
		return r.next - 1, true
	}
	return 0, false
}

func (r *receiver) giveBack(cs []int) {
	r.mu.Lock()
	r.again = append(r.again, cs...)
	r.mu.Unlock()
}

// sourceFailed marks a source gone; it reports whether another source
// (the primary's node) remains to try.
func (r *receiver) sourceFailed(src string, err error) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gone[src] = true
	if src == r.req.From {
		if r.err == nil {
			r.err = err
		}
		return false
	}
	return true
}

func (r *receiver) received(c int, size int64) {
	r.n.objs.receivedBytes.Add(size)
	p := r.p
	p.mu.Lock()
	p.have[c] = true
	p.cond.Broadcast()
	p.mu.Unlock()
}

// receive reads every chunk of the object into p.dst with
// transferStreams streams spread over the sources, and returns the
// sources that failed.
func (n *Node) receive(ctx context.Context, p *pull, req *protocol.PullObjectRequest, sources []string) ([]string, error) {
	if req.Size == 0 {
		return nil, nil
	}
	if req.Size <= chunkSize {
		return n.receiveSmall(ctx, p, req, sources)
	}
	r := &receiver{n: n, p: p, req: req, gone: map[string]bool{}}
	streams := min(transferStreams, chunkCount(req.Size))
	var wg sync.WaitGroup
	for i := 0; i < streams; i++ {
		src := sources[i%len(sources)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				err := r.stream(ctx, src)
				if err == nil {
					return
				}
				if !r.sourceFailed(src, err) {
					return
				}
				n.log.Debug("transfer source failed; reading from the primary's node", "object", req.ObjectID, "source", src, "err", err)
				src = req.From
			}
		}()
	}
	wg.Wait()
	var gone []string
	for g := range r.gone {
		gone = append(gone, g)
	}
	if r.err != nil {
		return gone, r.err
	}
	if ctx.Err() != nil {
		return gone, ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for c, ok := range p.have {
		if !ok {
			return gone, fmt.Errorf("node: transfer of %s ended without chunk %d", req.ObjectID, c)
		}
	}
	return gone, nil
}

// receiveSmall reads an object of one chunk in one call on the pooled
// connection to a source: a stream's new connection (and its TLS
// handshake) would cost more than the bytes. A source that cannot serve
// it whole (one still receiving it, say) is replaced by the primary's
// node.
func (n *Node) receiveSmall(ctx context.Context, p *pull, req *protocol.PullObjectRequest, sources []string) ([]string, error) {
	var gone []string
	if !slices.Contains(sources, req.From) {
		sources = append(sources, req.From)
	}
	for _, src := range sources {
		var rc protocol.ReadChunkReply
		c, err := n.peerNode(ctx, src)
		if err == nil {
			err = c.Call(ctx, protocol.NodeReadChunk, &protocol.ReadChunkRequest{ObjectID: req.ObjectID, Len: req.Size, Puller: n.Addr()}, &rc)
		}
		if err == nil && int64(len(rc.Data)) != req.Size {
			err = fmt.Errorf("node: %s holds object %s of %d bytes, want %d", src, req.ObjectID, len(rc.Data), req.Size)
		}
		if err != nil {
			gone = append(gone, src)
			if src == req.From {
				return gone, err
			}
			continue
		}
		copy(p.dst, rc.Data)
		n.objs.receivedBytes.Add(req.Size)
		p.mu.Lock()
		p.have[0] = true
		p.cond.Broadcast()
		p.mu.Unlock()
		return gone, nil
	}
	return gone, fmt.Errorf("node: no source for object %s", req.ObjectID)
}

// stream reads chunks from one source until none are left (nil), or
// fails: the chunks it had asked for go back to the others.
func (r *receiver) stream(ctx context.Context, src string) error {
	req := r.req
	var reply protocol.ChunkStreamReply
	conn, err := r.n.objs.clients.DialStream(ctx, src, protocol.NodeChunkStream, &protocol.ChunkStreamRequest{ObjectID: req.ObjectID, Puller: r.n.Addr()}, &reply)
	if err != nil {
		return err
	}
	defer conn.Close()
	if reply.Size != req.Size {
		return fmt.Errorf("node: %s holds object %s of %d bytes, want %d", src, req.ObjectID, reply.Size, req.Size)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	// Two requests in flight: the source reads the next while this
	// node reads the current chunk's bytes.
	var inFlight []int
	var msg [16]byte
	ask := func() (bool, error) {
		c, ok := r.take()
		if !ok {
			return false, nil
		}
		off, end := chunkRange(c, req.Size)
		binary.BigEndian.PutUint64(msg[:8], uint64(off))
		binary.BigEndian.PutUint64(msg[8:], uint64(end-off))
		inFlight = append(inFlight, c)
		_, err := conn.Write(msg[:])
		return true, err
	}
	fail := func(err error) error {
		r.giveBack(inFlight)
		return err
	}
	for {
		for len(inFlight) < 2 {
			more, err := ask()
			if err != nil {
				return fail(err)
			}
			if !more {
				break
			}
		}
		if len(inFlight) == 0 {
			return nil
		}
		c := inFlight[0]
		off, end := chunkRange(c, req.Size)
		_ = conn.SetReadDeadline(time.Now().Add(chunkTimeout))
		if _, err := io.ReadFull(conn, r.p.dst[off:end]); err != nil {
			return fail(err)
		}
		inFlight = inFlight[1:]
		r.received(c, end-off)
	}
}
