package node

import (
	"context"
	"errors"
	"syscall"
	"time"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// Objects outlive no owner (Ray's rule: when an object's owner dies, the
// object is lost and freed everywhere). The node keeps one connection to
// each process that owns an object in its store, whichever node that
// process runs on, and
//
//   - when it connects, asks the owner which of those objects it still
//     holds, and deletes the others (freed while no delete reached this
//     node, or owned by an earlier process at the same address);
//   - when the connection ends, connects again; an owner that is surely
//     gone (its address refuses connections: it exited or was killed) or
//     that stays unreachable for ownerUnreachable (its machine died)
//     owned nothing that anyone can still use, so all its objects go,
//     with their spilled copies and fallback files. Other failures
//     (time-outs, a server shedding load at the hello) are retried.
//
// A driver that exits (Shutdown, a crash, kill -9) and a worker that dies
// or is reaped are both covered, on every node that holds their objects,
// with no message from the head: the owner's own sockets tell.

// Tuning of the owner watch.
const (
	// ownerRefusals dials in a row refused outright (nothing listens at
	// the owner's address, or a process of another cluster does) make
	// an owner dead: a live owner keeps its listener for its whole life
	// (a listener that stops ends the process).
	ownerRefusals = 2
	// ownerUnreachable is how long any other failure must last before an
	// owner counts as dead: dials that time out or are closed at the
	// hello (a partition, a machine that died, a server shedding a
	// flood of unauthenticated connections) say nothing for sure, and a
	// live owner's objects must not go on a transient failure. It is
	// well past the head's declaring a silent node dead.
	ownerUnreachable = time.Minute
	ownerDialBackoff = 100 * time.Millisecond
	ownerMaxBackoff  = 5 * time.Second
	// ownerCallTimeout bounds one dial or one question to an owner.
	ownerCallTimeout = 10 * time.Second
	// ownerRecheck is how often a watch looks whether objects of its
	// owner are still in the store (it ends once none is).
	ownerRecheck = 5 * time.Second
)

// ownerRefused reports a dial failure that says for sure the owner is
// gone: its address refuses connections, or what answers there is not of
// this cluster (the port went to another process).
func ownerRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, rpc.ErrUnauthenticated) ||
		errors.Is(err, rpc.ErrPeerCertificate) || errors.Is(err, rpc.ErrCertificateRefused) ||
		errors.Is(err, rpc.ErrTLSRequired)
}

// ownerDeath follows a watch's failed dials in a row and tells when they
// prove the owner dead.
type ownerDeath struct {
	since    time.Time // the first failure of the run
	refusals int       // refusals in a row
	failures int
}

// failed records a failed dial at now; it returns true when the owner is
// to be taken for dead, else the pause before the next dial.
func (d *ownerDeath) failed(err error, now time.Time) (dead bool, pause time.Duration) {
	if d.failures == 0 {
		d.since = now
	}
	d.failures++
	if ownerRefused(err) {
		d.refusals++
	} else {
		d.refusals = 0
	}
	if d.refusals >= ownerRefusals || now.Sub(d.since) >= ownerUnreachable {
		*d = ownerDeath{}
		return true, 0
	}
	return false, min(ownerDialBackoff<<min(d.failures-1, 6), ownerMaxBackoff)
}

// ownerWatch is the watch of one owner: the IDs of its objects in this
// node's store. It lives in storeState.watches under storeState.mu.
type ownerWatch struct {
	ids map[string]bool
}

// recordOwnerLocked notes the owner of an object in the store and makes
// sure the owner is watched. The caller holds n.objs.mu.
func (n *Node) recordOwnerLocked(id, owner string) {
	if owner == "" {
		return
	}
	st := n.objs
	if prev, ok := st.owners[id]; ok && prev != owner {
		n.forgetOwnerLocked(id)
	}
	st.owners[id] = owner
	if st.watches == nil {
		st.watches = map[string]*ownerWatch{}
	}
	w := st.watches[owner]
	if w == nil {
		select {
		case <-n.stop:
			return // nothing new starts while the daemon stops
		default:
		}
		w = &ownerWatch{ids: map[string]bool{}}
		st.watches[owner] = w
		n.wg.Add(1)
		go n.watchOwner(owner, w)
	}
	w.ids[id] = true
}

// forgetOwnerLocked drops an object from the owner bookkeeping. The
// caller holds n.objs.mu.
func (n *Node) forgetOwnerLocked(id string) {
	st := n.objs
	owner, ok := st.owners[id]
	if !ok {
		return
	}
	delete(st.owners, id)
	if w := st.watches[owner]; w != nil {
		delete(w.ids, id)
	}
}

// watchedIDs returns the IDs of the owner's objects still in the store,
// forgetting those that left it otherwise (evicted secondary copies). With
// none left it ends the watch and returns nil.
func (n *Node) watchedIDs(owner string, w *ownerWatch) []string {
	st := n.objs
	st.mu.Lock()
	defer st.mu.Unlock()
	ids := make([]string, 0, len(w.ids))
	for id := range w.ids {
		if _, ok := n.store.Info(id); ok {
			ids = append(ids, id)
			continue
		}
		delete(w.ids, id)
		if st.owners[id] == owner {
			delete(st.owners, id)
		}
	}
	if len(ids) == 0 {
		if st.watches[owner] == w {
			delete(st.watches, owner)
		}
		return nil
	}
	return ids
}

// watchOwner runs one owner's watch until none of its objects is left in
// the store or the daemon stops.
func (n *Node) watchOwner(owner string, w *ownerWatch) {
	defer n.wg.Done()
	var death ownerDeath
	for {
		ids := n.watchedIDs(owner, w)
		if ids == nil {
			return
		}
		c, err := n.dialOwner(owner)
		if err != nil {
			if n.stopped() {
				return
			}
			dead, pause := death.failed(err, time.Now())
			if !dead {
				if !n.pause(pause) {
					return
				}
				continue
			}
			n.log.Info("owner of objects is gone; freeing them", "owner", owner, "objects", len(ids), "err", err)
			n.freeObjects(ids)
			continue // objects made for it meanwhile are checked again
		}
		death = ownerDeath{}
		n.freeUnheld(c, owner, ids)
		if !n.waitOwnerConn(c, owner, w) {
			_ = c.Close()
			return
		}
		_ = c.Close()
	}
}

// waitOwnerConn waits until the connection to the owner ends (true: check
// the owner again) or the watch has nothing left to watch or the daemon
// stops (false).
func (n *Node) waitOwnerConn(c *rpc.Client, owner string, w *ownerWatch) bool {
	t := time.NewTicker(ownerRecheck)
	defer t.Stop()
	for {
		select {
		case <-c.Done():
			return true
		case <-n.stop:
			return false
		case <-t.C:
			if n.watchedIDs(owner, w) == nil {
				return false
			}
		}
	}
}

// freeUnheld asks the owner which objects it still holds and deletes the
// others. An owner that cannot answer the question keeps everything.
func (n *Node) freeUnheld(c *rpc.Client, owner string, ids []string) {
	ctx, cancel := n.ownerCtx()
	defer cancel()
	var reply protocol.HoldsObjectsReply
	if err := c.Call(ctx, protocol.OwnerHoldsObjects, &protocol.HoldsObjectsRequest{ObjectIDs: ids}, &reply); err != nil {
		return
	}
	held := make(map[string]bool, len(reply.Held))
	for _, id := range reply.Held {
		held[id] = true
	}
	var gone []string
	for _, id := range ids {
		if !held[id] {
			gone = append(gone, id)
		}
	}
	if len(gone) > 0 {
		n.log.Debug("owner no longer holds objects; freeing them", "owner", owner, "objects", len(gone))
		n.freeObjects(gone)
	}
}

func (n *Node) dialOwner(owner string) (*rpc.Client, error) {
	ctx, cancel := n.ownerCtx()
	defer cancel()
	return rpc.Dial(ctx, owner, n.cfg.Token, rpc.WithTLS(n.cfg.TLS))
}

// ownerCtx bounds one exchange with an owner; it ends early if the
// daemon stops.
func (n *Node) ownerCtx() (context.Context, context.CancelFunc) {
	return n.stopContext(ownerCallTimeout)
}

// stopContext is a context that ends after timeout, or earlier if the
// daemon stops.
func (n *Node) stopContext(timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	go func() {
		select {
		case <-n.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// freeObjects deletes objects whose owner is gone or let them go, here
// and on the nodes that copied them from here.
func (n *Node) freeObjects(ids []string) {
	_, _ = n.deleteObjects(context.Background(), &protocol.DeleteObjectsRequest{ObjectIDs: ids})
}

// pause waits d; false if the daemon stops meanwhile.
func (n *Node) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-n.stop:
		return false
	}
}

func (n *Node) stopped() bool {
	select {
	case <-n.stop:
		return true
	default:
		return false
	}
}
