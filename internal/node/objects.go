package node

import (
	"context"
	"errors"
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

type storeState struct {
	mu      sync.Mutex
	peers   map[*rpc.Peer]bool         // connections whose pins are released on close
	pullers map[string]map[string]bool // object -> nodes that copied it from here
	pulls   map[string]*pull           // transfers in progress, for dedup and to serve from (transfer.go)
	dists   map[string]*distribution   // objects whose primary is here: who holds or is copying them (distribute.go)
	owners  map[string]string          // object -> owner address (rayo memory, owner watch)
	watches map[string]*ownerWatch     // owner address -> its objects here (owners.go)
	clients *rpc.Pool                  // other nodes and the head

	sentBytes, receivedBytes, pullsDone atomic.Int64 // transfer counters (rayo memory, benchmarks)
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
		delete(n.objs.dists, id)
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
