package node

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rayo-dev/rayo/internal/objstore"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// The node daemon serves its shared-memory store to the processes of its
// machine (create, seal, get, release: they map the store's files and
// read and write the bytes themselves) and to other nodes (chunked reads
// for transfers). Pins belong to connections, so a process that dies
// releases everything it held.

// Transfer tuning: chunk size and chunks in flight per object.
const (
	pullChunk    = 8 << 20
	pullParallel = 4
)

type storeState struct {
	mu      sync.Mutex
	peers   map[*rpc.Peer]bool         // connections whose pins are released on close
	pullers map[string]map[string]bool // object -> nodes that copied it from here
	pulls   map[string]*pull           // transfers in progress, for dedup
	owners  map[string]string          // object -> owner address (rayo memory, owner watch)
	watches map[string]*ownerWatch     // owner address -> its objects here (owners.go)
	clients *rpc.Pool                  // other nodes and the head

	sentBytes, receivedBytes, pullsDone atomic.Int64 // transfer counters (rayo memory, benchmarks)
}

type pull struct {
	done chan struct{}
	err  error
}

func storeErr(err error) error {
	switch {
	case errors.Is(err, objstore.ErrObjectTooLarge):
		return rpc.Errorf(protocol.CodeObjectTooLarge, "%v", err)
	case errors.Is(err, objstore.ErrNotFound):
		return rpc.Errorf(protocol.CodeObjectNotFound, "%v", err)
	case errors.Is(err, objstore.ErrObjectExists):
		return rpc.Errorf(protocol.CodeObjectExists, "%v", err)
	}
	return err
}

// holder names the connection a call came on, and makes sure its pins go
// when it closes.
func (n *Node) holder(ctx context.Context) string {
	p := rpc.PeerFrom(ctx)
	if p == nil {
		return "local"
	}
	h := "conn-" + strconv.FormatUint(p.ID, 10)
	st := n.objs
	st.mu.Lock()
	if !st.peers[p] {
		st.peers[p] = true
		p.OnClose(func() {
			n.store.ReleaseAll(h)
			st.mu.Lock()
			delete(st.peers, p)
			st.mu.Unlock()
		})
	}
	st.mu.Unlock()
	return h
}

func toLoc(l objstore.Location) protocol.StoreLocation {
	return protocol.StoreLocation{Path: l.Path, Offset: l.Offset, Size: l.Size}
}

func (n *Node) createObject(ctx context.Context, req *protocol.CreateObjectRequest) (*protocol.CreateObjectReply, error) {
	if req.ObjectID == "" || req.Size < 0 {
		return nil, rpc.Errorf(rpc.CodeBadRequest, "node: create needs an object ID and a size ≥ 0")
	}
	loc, err := n.store.Create(req.ObjectID, req.Size, true, n.holder(ctx))
	if err != nil {
		return nil, storeErr(err)
	}
	if req.Owner != "" {
		n.objs.mu.Lock()
		n.recordOwnerLocked(req.ObjectID, req.Owner)
		n.objs.mu.Unlock()
	}
	st := n.store.Stats()
	return &protocol.CreateObjectReply{Loc: toLoc(loc), Pressure: st.Used > st.Capacity*8/10}, nil
}

func (n *Node) sealObject(ctx context.Context, req *protocol.ObjectIDRequest) (*protocol.Empty, error) {
	if err := n.store.Seal(req.ObjectID, n.holder(ctx)); err != nil {
		return nil, storeErr(err)
	}
	return &protocol.Empty{}, nil
}

// abortObject drops an unsealed object the caller created and gave up.
func (n *Node) abortObject(ctx context.Context, req *protocol.ObjectIDRequest) (*protocol.Empty, error) {
	if n.store.AbortBy(req.ObjectID, n.holder(ctx)) {
		n.objs.mu.Lock()
		n.forgetOwnerLocked(req.ObjectID)
		n.objs.mu.Unlock()
	}
	return &protocol.Empty{}, nil
}

func (n *Node) getStoreObject(ctx context.Context, req *protocol.GetStoreObjectRequest) (*protocol.StoreObjectReply, error) {
	if req.WaitMillis > 0 {
		wctx, cancel := context.WithTimeout(ctx, time.Duration(req.WaitMillis)*time.Millisecond)
		err := n.store.WaitSealed(wctx, req.ObjectID)
		cancel()
		if err != nil {
			return nil, storeErr(err)
		}
	}
	loc, err := n.store.Get(req.ObjectID, n.holder(ctx))
	if err != nil {
		return nil, storeErr(err)
	}
	return &protocol.StoreObjectReply{Loc: toLoc(loc)}, nil
}

func (n *Node) releaseObjects(ctx context.Context, req *protocol.ReleaseObjectsRequest) (*protocol.Empty, error) {
	h := n.holder(ctx)
	for _, id := range req.ObjectIDs {
		n.store.Release(id, h)
	}
	return &protocol.Empty{}, nil
}

// deleteObjects frees objects whose owner holds no reference any more,
// here and on every node that copied them from here.
func (n *Node) deleteObjects(_ context.Context, req *protocol.DeleteObjectsRequest) (*protocol.Empty, error) {
	forward := map[string][]string{}
	n.objs.mu.Lock()
	for _, id := range req.ObjectIDs {
		for addr := range n.objs.pullers[id] {
			forward[addr] = append(forward[addr], id)
		}
		delete(n.objs.pullers, id)
		n.forgetOwnerLocked(id)
	}
	n.objs.mu.Unlock()
	for _, id := range req.ObjectIDs {
		n.store.Delete(id)
	}
	for addr, ids := range forward {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if c, err := n.peerNode(ctx, addr); err == nil {
				_ = c.Call(ctx, protocol.NodeDeleteObjects, &protocol.DeleteObjectsRequest{ObjectIDs: ids}, nil)
			}
		}()
	}
	return &protocol.Empty{}, nil
}

func (n *Node) peerNode(ctx context.Context, addr string) (*rpc.Client, error) {
	return n.objs.clients.Get(ctx, addr)
}

// pullObject makes sure this node has a copy (pulling it from the node
// that has the primary one), then pins it for the caller.
func (n *Node) pullObject(ctx context.Context, req *protocol.PullObjectRequest) (*protocol.StoreObjectReply, error) {
	h := n.holder(ctx)
	if loc, err := n.store.Get(req.ObjectID, h); err == nil {
		return &protocol.StoreObjectReply{Loc: toLoc(loc)}, nil
	}
	if req.From == "" || req.From == n.Addr() {
		// The object should be here: wait for its seal.
		return n.getStoreObject(ctx, &protocol.GetStoreObjectRequest{ObjectID: req.ObjectID, WaitMillis: 60_000})
	}
	if err := n.pullOnce(ctx, req); err != nil {
		return nil, err
	}
	loc, err := n.store.Get(req.ObjectID, h)
	if err != nil {
		return nil, storeErr(err)
	}
	return &protocol.StoreObjectReply{Loc: toLoc(loc)}, nil
}

// pullOnce copies an object from another node; concurrent pulls of the
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
		p = &pull{done: make(chan struct{})}
		st.pulls[req.ObjectID] = p
		st.mu.Unlock()
		p.err = n.transfer(req)
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

// transfer reads the object in chunks, several in flight, into a new
// secondary copy.
func (n *Node) transfer(req *protocol.PullObjectRequest) error {
	ctx, cancel := n.stopContext(10 * time.Minute)
	defer cancel()
	src, err := n.peerNode(ctx, req.From)
	if err != nil {
		return rpc.Errorf(protocol.CodeObjectLost, "rayo: the node holding object %s is unreachable: %v", req.ObjectID, err)
	}
	size := req.Size
	if size < 0 {
		return rpc.Errorf(rpc.CodeBadRequest, "node: pull needs the object's size")
	}
	const holder = "transfer"
	loc, err := n.store.Create(req.ObjectID, size, false, holder)
	if err != nil {
		return storeErr(err)
	}
	dst, err := n.store.Bytes(loc)
	if err != nil {
		n.store.Abort(req.ObjectID)
		return err
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  int64
	)
	for w := 0; w < pullParallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				off := next
				next += pullChunk
				failed := first != nil
				mu.Unlock()
				if failed || (off >= size && !(size == 0 && off == 0)) {
					return
				}
				var rc protocol.ReadChunkReply
				l := min(int64(pullChunk), size-off)
				err := src.Call(ctx, protocol.NodeReadChunk, &protocol.ReadChunkRequest{ObjectID: req.ObjectID, Offset: off, Len: l, Puller: n.Addr()}, &rc)
				if err == nil && int64(len(rc.Data)) != l {
					err = fmt.Errorf("node: short chunk of %s at %d: %d bytes, want %d", req.ObjectID, off, len(rc.Data), l)
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
				copy(dst[off:], rc.Data)
				n.objs.receivedBytes.Add(l)
				if size == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		n.store.Abort(req.ObjectID)
		if errors.Is(first, rpc.ErrClosed) || rpc.CodeOf(first) == protocol.CodeObjectNotFound {
			return rpc.Errorf(protocol.CodeObjectLost, "rayo: object %s is gone from the node that held it: %v", req.ObjectID, first)
		}
		return first
	}
	if err := n.store.Seal(req.ObjectID, holder); err != nil {
		return storeErr(err)
	}
	n.objs.mu.Lock()
	n.recordOwnerLocked(req.ObjectID, req.Owner)
	n.objs.mu.Unlock()
	n.objs.pullsDone.Add(1)
	return nil
}

// readChunk serves a range of a sealed object to another node.
func (n *Node) readChunk(ctx context.Context, req *protocol.ReadChunkRequest) (*protocol.ReadChunkReply, error) {
	h := n.holder(ctx)
	loc, err := n.store.Get(req.ObjectID, h)
	if err != nil {
		return nil, storeErr(err)
	}
	defer n.store.Release(req.ObjectID, h)
	b, err := n.store.Bytes(loc)
	if err != nil {
		return nil, err
	}
	if req.Offset < 0 || req.Offset > loc.Size || req.Len < 0 {
		return nil, rpc.Errorf(rpc.CodeBadRequest, "node: chunk %d+%d outside object %s of %d bytes", req.Offset, req.Len, req.ObjectID, loc.Size)
	}
	end := min(req.Offset+req.Len, loc.Size)
	if req.Puller != "" {
		n.objs.mu.Lock()
		if n.objs.pullers[req.ObjectID] == nil {
			n.objs.pullers[req.ObjectID] = map[string]bool{}
		}
		n.objs.pullers[req.ObjectID][req.Puller] = true
		n.objs.mu.Unlock()
	}
	// The reply is encoded before the pin is released (deferred above
	// runs after this copy).
	out := make([]byte, end-req.Offset)
	copy(out, b[req.Offset:end])
	n.objs.sentBytes.Add(int64(len(out)))
	return &protocol.ReadChunkReply{Data: out, Size: loc.Size}, nil
}

func (n *Node) listObjects(context.Context, *protocol.Empty) (*protocol.ListObjectsReply, error) {
	st := n.store.Stats()
	reply := &protocol.ListObjectsReply{NodeID: n.cfg.NodeID, Capacity: st.Capacity, Used: st.Used,
		SpilledBytes: st.SpilledBytes, SpilledObjects: st.SpilledObjects, FallbackBytes: st.FallbackBytes,
		Spills: st.Spills, Restores: st.Restores, SpillNanos: st.SpillNanos, RestoreNanos: st.RestoreNanos,
		SpillBytes: st.SpillBytes, RestoreBytes: st.RestoreBytes,
		SentBytes: n.objs.sentBytes.Load(), ReceivedBytes: n.objs.receivedBytes.Load(), Pulls: n.objs.pullsDone.Load()}
	n.objs.mu.Lock()
	owners := make(map[string]string, len(n.objs.owners))
	for k, v := range n.objs.owners {
		owners[k] = v
	}
	n.objs.mu.Unlock()
	for _, o := range n.store.List() {
		reply.Objects = append(reply.Objects, protocol.StoreObjectInfo{ObjectID: o.ID, Size: o.Size, Owner: owners[o.ID],
			Primary: o.Primary, Spilled: o.Spilled, Fallback: o.Fallback, Pins: o.Pins, Sealed: o.Sealed})
	}
	return reply, nil
}
