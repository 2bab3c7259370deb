package core

import (
	"context"
	"sync"
	"time"

	"github.com/rayo-dev/rayo/internal/protocol"
)

// What a process owns outlives it in no store. Node daemons keep a
// connection to the owner of every object in their store and ask it which
// of them it still holds (serveHoldsObjects): an owner that cannot be
// reached has died, and its objects are deleted. A runtime that closes
// deletes its stored objects itself first (freeOwnedStored), so that a
// driver's Shutdown leaves nothing behind even for a moment.

// serveHoldsObjects answers a node daemon: which of these objects this
// process still owns.
func (rt *Runtime) serveHoldsObjects(_ context.Context, req *protocol.HoldsObjectsRequest) (*protocol.HoldsObjectsReply, error) {
	reply := &protocol.HoldsObjectsReply{Held: make([]string, 0, len(req.ObjectIDs))}
	for _, id := range req.ObjectIDs {
		if rt.store.get(id) != nil || rt.streamMayHold(id) {
			reply.Held = append(reply.Held, id)
		}
	}
	return reply, nil
}

// freeOwnedStoredTimeout bounds how long Close spends deleting this
// process's stored objects (the nodes' owner watch frees whatever it
// could not reach).
const freeOwnedStoredTimeout = 2 * time.Second

// freeOwnedStored deletes, node by node, the store copies of every object
// this process owns: nobody can use them once the owner is gone (readers
// get ErrOwnerDied from the owner's address, as in Ray).
func (rt *Runtime) freeOwnedStored() {
	byNode := map[string][]string{}
	rt.store.mu.Lock()
	for id, o := range rt.store.objs {
		if o.ready() && o.loc != nil {
			addr := o.loc.NodeAddr
			if o.loc.NodeID == rt.nodeID {
				addr = ""
			}
			byNode[addr] = append(byNode[addr], id)
		}
	}
	rt.store.mu.Unlock()
	if len(byNode) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), freeOwnedStoredTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for addr, ids := range byNode {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := rt.node
			if addr != "" {
				var err error
				if c, err = rt.clients.Get(ctx, addr); err != nil {
					return // the node is gone, and the copies with it
				}
			}
			_ = c.Call(ctx, protocol.NodeDeleteObjects, &protocol.DeleteObjectsRequest{ObjectIDs: ids}, nil)
		}()
	}
	wg.Wait()
}
