package core

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/objstore"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// DefaultInlineLimit is the size above which a value goes to the node's
// shared-memory store instead of travelling inline (Ray's 100 KiB).
const DefaultInlineLimit = 100 << 10

// ErrObjectTooLarge is returned when a value is larger than the store and
// the disk together can hold.
var ErrObjectTooLarge = errs.ErrObjectTooLarge

// storeClient is this process's view of its node's store: the mappings of
// the store's files and the pins it holds.
type storeClient struct {
	mapper *objstore.Mapper
	// direct is false when the node's files cannot be mapped here (the
	// driver runs on another machine): bytes are then read over RPC.
	direct bool

	mu   sync.Mutex
	pins map[string]int

	gcMu   sync.Mutex
	lastGC time.Time
}

// PutBytes stores an encoded value owned by this process: inline when it
// is small, else in the node's store (written once, in place). The
// references nested in the value live as long as it does.
func (rt *Runtime) PutBytes(ctx context.Context, v Encoded) (Ref, error) {
	id := rt.nextID()
	o := rt.store.create(id)
	arg, err := rt.storeValue(ctx, id, v.Header, v.Data, rt.Addr())
	if err != nil {
		rt.store.delete(id)
		return Ref{}, err
	}
	o.completeArg(arg)
	rt.setContains(id, v.Nested, false)
	runtime.KeepAlive(v.Holds)
	return Ref{ID: id, Owner: rt.Addr()}, nil
}

// storeValue returns the value as an inline Arg, or writes it into the
// node's store under id (primary copy) and returns its location.
func (rt *Runtime) storeValue(ctx context.Context, id string, header, data []byte, owner string) (protocol.Arg, error) {
	size := int64(len(header) + len(data))
	if size <= rt.cfg.InlineLimit {
		v := make([]byte, 0, size)
		v = append(append(v, header...), data...)
		return protocol.Arg{V: v}, nil
	}
	var reply protocol.CreateObjectReply
	err := rt.node.Call(ctx, protocol.NodeCreateObject, &protocol.CreateObjectRequest{ObjectID: id, Size: size, Owner: owner}, &reply)
	if err != nil {
		if rpc.CodeOf(err) == protocol.CodeObjectTooLarge {
			return protocol.Arg{}, fmt.Errorf("%w: %d bytes: %v", ErrObjectTooLarge, size, err)
		}
		return protocol.Arg{}, fmt.Errorf("rayo: storing object %s: %w", id, err)
	}
	if reply.Pressure {
		rt.collectGarbage()
	}
	written := false
	if rt.objs.direct {
		if dst, err := rt.objs.mapper.Bytes(objstore.Location{Path: reply.Loc.Path, Offset: reply.Loc.Offset, Size: reply.Loc.Size}); err == nil {
			copy(dst, header)
			copy(dst[len(header):], data)
			written = true
		}
	}
	if !written {
		return protocol.Arg{}, fmt.Errorf("rayo: cannot map the node's object store from this process")
	}
	if err := rt.node.Call(ctx, protocol.NodeSealObject, &protocol.ObjectIDRequest{ObjectID: id}, nil); err != nil {
		return protocol.Arg{}, fmt.Errorf("rayo: sealing object %s: %w", id, err)
	}
	return protocol.Arg{ID: id, Loc: &protocol.ObjectLocation{NodeID: rt.nodeID, NodeAddr: rt.cfg.NodeAddr, Size: size, Owner: owner}}, nil
}

// collectGarbage runs the Go collector (at most once a second) when the
// store is filling up: dropped ObjectRefs are only noticed by the
// collector, and their objects are freed only then.
func (rt *Runtime) collectGarbage() {
	rt.objs.gcMu.Lock()
	defer rt.objs.gcMu.Unlock()
	if time.Since(rt.objs.lastGC) < time.Second {
		return
	}
	rt.objs.lastGC = time.Now()
	go runtime.GC()
}

// lookup waits for an object and returns it as an argument: its value,
// or its location in a store (without fetching it).
func (rt *Runtime) lookup(ctx context.Context, ref Ref) (protocol.Arg, error) {
	if ref.Owner == rt.Addr() {
		o := rt.store.get(ref.ID)
		if o == nil {
			return protocol.Arg{}, fmt.Errorf("%w: %s is no longer held by its owner", errs.ErrObjectLost, ref.ID)
		}
		select {
		case <-o.done:
		case <-ctx.Done():
			return protocol.Arg{}, ctxErr(ctx)
		case <-rt.closed:
			return protocol.Arg{}, errs.ErrShutdown
		}
		if o.err != nil {
			return protocol.Arg{}, o.err.Err()
		}
		if o.loc != nil {
			return protocol.Arg{ID: ref.ID, Loc: o.loc}, nil
		}
		return protocol.Arg{V: o.value}, nil
	}
	return rt.lookupRemote(ctx, ref, false)
}

// argBytes returns an argument's encoded bytes: inline ones as they are,
// stored ones mapped from this node's store (pulled here first if their
// primary copy is on another node). Mapped bytes alias shared memory and
// stay valid while this process holds its pin on the object.
func (rt *Runtime) argBytes(ctx context.Context, a protocol.Arg) ([]byte, error) {
	if a.Loc == nil {
		return a.V, nil
	}
	loc, err := rt.fetchLocal(ctx, a)
	if err != nil {
		return nil, err
	}
	if rt.objs.direct {
		b, err := rt.objs.mapper.Bytes(loc)
		if err == nil {
			return b, nil
		}
	}
	return rt.readOverRPC(ctx, a.ID, loc.Size)
}

// fetchLocal makes sure this node's store holds a stored argument (pulling
// it from the node of its primary copy) and pins it for this process: it
// returns where the copy lies in the store's files.
func (rt *Runtime) fetchLocal(ctx context.Context, a protocol.Arg) (objstore.Location, error) {
	var reply protocol.StoreObjectReply
	var err error
	if a.Loc.NodeID == rt.nodeID {
		err = rt.node.Call(ctx, protocol.NodeGetObject, &protocol.GetStoreObjectRequest{ObjectID: a.ID, WaitMillis: 60_000}, &reply)
	} else {
		err = rt.node.Call(ctx, protocol.NodePullObject, &protocol.PullObjectRequest{ObjectID: a.ID, From: a.Loc.NodeAddr, Size: a.Loc.Size, Owner: a.Loc.Owner}, &reply)
	}
	if err != nil {
		if ctx.Err() != nil {
			return objstore.Location{}, ctxErr(ctx)
		}
		switch rpc.CodeOf(err) {
		case protocol.CodeObjectLost, protocol.CodeObjectNotFound:
			return objstore.Location{}, fmt.Errorf("%w: %s: every copy is gone: %v", errs.ErrObjectLost, a.ID, err)
		}
		if errors.Is(err, rpc.ErrClosed) {
			// This process's node died, and the copies it held with it.
			return objstore.Location{}, fmt.Errorf("%w: %s: %w: %v", errs.ErrObjectLost, a.ID, errs.ErrNodeDied, err)
		}
		return objstore.Location{}, fmt.Errorf("rayo: fetching object %s: %w", a.ID, err)
	}
	rt.objs.mu.Lock()
	rt.objs.pins[a.ID]++
	rt.objs.mu.Unlock()
	return objstore.Location{Path: reply.Loc.Path, Offset: reply.Loc.Offset, Size: reply.Loc.Size}, nil
}

// GetLocated is Get for a process beside this one that maps this node's
// store itself (a Python driver or worker, internal/pybridge): a stored
// object comes back as where it lies in the store's files, pinned for
// this process as Get's mapped bytes are, when this process can map the
// store; a small object, or one it cannot map, comes back as bytes.
func (rt *Runtime) GetLocated(ctx context.Context, ref Ref) ([]byte, *objstore.Location, error) {
	defer rt.blockedWhile()()
	a, err := rt.lookup(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	if a.Loc == nil {
		return a.V, nil, nil
	}
	if rt.objs.direct {
		if loc, err := rt.fetchLocal(ctx, a); err == nil {
			return nil, &loc, nil
		}
		// Lost, say: getStored rebuilds it if it can.
	}
	b, err := rt.getStored(ctx, ref, a)
	return b, nil, err
}

// readOverRPC copies an object from the local node when its files cannot
// be mapped (a driver on another machine).
func (rt *Runtime) readOverRPC(ctx context.Context, id string, size int64) ([]byte, error) {
	out := make([]byte, size)
	const chunk = 8 << 20
	for off := int64(0); off < size; off += chunk {
		var rc protocol.ReadChunkReply
		if err := rt.node.Call(ctx, protocol.NodeReadChunk, &protocol.ReadChunkRequest{ObjectID: id, Offset: off, Len: min(chunk, size-off)}, &rc); err != nil {
			return nil, err
		}
		copy(out[off:], rc.Data)
	}
	return out, nil
}

// releasePins gives back one pin per listed use (a call's arguments,
// once the call is over); pins that earlier Gets took stay.
func (rt *Runtime) releasePins(ids []string) {
	var rel []string
	rt.objs.mu.Lock()
	for _, id := range ids {
		if n := rt.objs.pins[id]; n > 0 {
			if n == 1 {
				delete(rt.objs.pins, id)
			} else {
				rt.objs.pins[id] = n - 1
			}
			rel = append(rel, id)
		}
	}
	rt.objs.mu.Unlock()
	rt.sendRelease(rel)
}

// releaseAllPins gives back every pin on objects this process no longer
// refers to.
func (rt *Runtime) releaseAllPins(ids []string) {
	var rel []string
	rt.objs.mu.Lock()
	for _, id := range ids {
		for n := rt.objs.pins[id]; n > 0; n-- {
			rel = append(rel, id)
		}
		delete(rt.objs.pins, id)
	}
	rt.objs.mu.Unlock()
	rt.sendRelease(rel)
}

func (rt *Runtime) sendRelease(rel []string) {
	if len(rel) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = rt.node.Call(ctx, protocol.NodeReleaseObject, &protocol.ReleaseObjectsRequest{ObjectIDs: rel}, nil)
}

// NodeObjects lists the objects in this process's node's store.
func (rt *Runtime) NodeObjects(ctx context.Context) (*protocol.ListObjectsReply, error) {
	var reply protocol.ListObjectsReply
	if err := rt.node.Call(ctx, protocol.NodeListObjects, &protocol.Empty{}, &reply); err != nil {
		return nil, err
	}
	return &reply, nil
}

// CreateStored reserves size bytes of this node's store for a value
// owned by this process that a process beside it writes in place (a
// Python driver or worker, which maps the range writable): one copy,
// not a trip over a socket. SealStored then makes the value the object's,
// AbortStored gives the space back. It fails for a process that cannot
// map the store, which must use PutBytes.
func (rt *Runtime) CreateStored(ctx context.Context, size int64) (string, objstore.Location, error) {
	if !rt.objs.direct {
		return "", objstore.Location{}, fmt.Errorf("%w: this process cannot map the node's object store", errs.ErrInvalidOption)
	}
	if size <= rt.cfg.InlineLimit {
		return "", objstore.Location{}, fmt.Errorf("%w: %d bytes are stored inline (PutBytes), not in place", errs.ErrInvalidOption, size)
	}
	id := rt.nextID()
	// Listed first, as PutBytes does: the node asks this owner whether it
	// holds the objects it records for it, and frees those it does not.
	rt.store.create(id)
	var reply protocol.CreateObjectReply
	if err := rt.node.Call(ctx, protocol.NodeCreateObject, &protocol.CreateObjectRequest{ObjectID: id, Size: size, Owner: rt.Addr()}, &reply); err != nil {
		rt.store.delete(id)
		if rpc.CodeOf(err) == protocol.CodeObjectTooLarge {
			return "", objstore.Location{}, fmt.Errorf("%w: %d bytes: %v", ErrObjectTooLarge, size, err)
		}
		return "", objstore.Location{}, fmt.Errorf("rayo: storing object %s: %w", id, err)
	}
	if reply.Pressure {
		rt.collectGarbage()
	}
	return id, objstore.Location{Path: reply.Loc.Path, Offset: reply.Loc.Offset, Size: reply.Loc.Size}, nil
}

// SealStored makes the bytes written at CreateStored's location the value
// of object id, which holds the nested references, and returns its
// reference (counted once for the caller, as AddLocal would).
func (rt *Runtime) SealStored(ctx context.Context, id string, size int64, nested []Ref) (Ref, error) {
	o := rt.store.get(id)
	if o == nil {
		return Ref{}, fmt.Errorf("%w: object %s was not made by CreateStored", errs.ErrBadCall, id)
	}
	if err := rt.node.Call(ctx, protocol.NodeSealObject, &protocol.ObjectIDRequest{ObjectID: id}, nil); err != nil {
		return Ref{}, fmt.Errorf("rayo: sealing object %s: %w", id, err)
	}
	o.completeArg(protocol.Arg{ID: id, Loc: &protocol.ObjectLocation{NodeID: rt.nodeID, NodeAddr: rt.cfg.NodeAddr, Size: size, Owner: rt.Addr()}})
	rt.setContains(id, nested, false)
	r := Ref{ID: id, Owner: rt.Addr()}
	rt.AddLocal(r)
	return r, nil
}

// AbortStored gives back the space CreateStored reserved, its value never
// sealed.
func (rt *Runtime) AbortStored(ctx context.Context, id string) {
	rt.store.delete(id)
	_ = rt.node.Call(ctx, protocol.NodeAbortObject, &protocol.ObjectIDRequest{ObjectID: id}, nil)
}

// CreateResult reserves size bytes of this node's store for a result, the
// object returnID that owner owns, which a process beside this worker
// writes in place (a Python worker); the executor then returns an Encoded
// with Stored set, and the reply seals it. AbortResult gives the space
// back when the call fails instead.
func (rt *Runtime) CreateResult(ctx context.Context, returnID, owner string, size int64) (objstore.Location, error) {
	if size <= rt.cfg.InlineLimit {
		return objstore.Location{}, fmt.Errorf("%w: %d bytes are returned inline, not in place", errs.ErrInvalidOption, size)
	}
	var reply protocol.CreateObjectReply
	if err := rt.node.Call(ctx, protocol.NodeCreateObject, &protocol.CreateObjectRequest{ObjectID: returnID, Size: size, Owner: owner}, &reply); err != nil {
		if rpc.CodeOf(err) == protocol.CodeObjectTooLarge {
			return objstore.Location{}, fmt.Errorf("%w: %d bytes: %v", ErrObjectTooLarge, size, err)
		}
		return objstore.Location{}, fmt.Errorf("rayo: storing result %s: %w", returnID, err)
	}
	return objstore.Location{Path: reply.Loc.Path, Offset: reply.Loc.Offset, Size: reply.Loc.Size}, nil
}

// AbortResult drops a result CreateResult reserved and no reply sealed.
func (rt *Runtime) AbortResult(ctx context.Context, returnID string) {
	_ = rt.node.Call(ctx, protocol.NodeAbortObject, &protocol.ObjectIDRequest{ObjectID: returnID}, nil)
}
