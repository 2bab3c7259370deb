package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// info is what the node registers with: who it is, and what it holds, so
// that a head that restarted learns the node's state.
func (n *Node) info() *protocol.NodeInfo {
	host, _ := os.Hostname()
	info := &protocol.NodeInfo{NodeID: n.cfg.NodeID, Addr: n.Addr(), Hostname: host, Pid: os.Getpid(),
		Labels: n.cfg.Labels, IsHead: n.cfg.IsHead,
		GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, StartedAt: n.startedAt.UnixMilli(),
		StoreCapacity: n.cfg.ObjectStoreMemory}
	n.mu.Lock()
	defer n.mu.Unlock()
	info.Total, info.Available = n.total.Clone(), n.available.Clone()
	for _, l := range n.leases {
		if l.worker.dedicated {
			info.HeadLeases = append(info.HeadLeases, protocol.HeldLease{LeaseID: l.id, WorkerID: l.worker.id})
		}
	}
	for _, b := range n.bundles {
		info.Bundles = append(info.Bundles, protocol.HeldBundle{PGID: b.req.PGID, Index: b.req.Index, Committed: b.committed})
	}
	return info
}

// connectHead dials the head and registers this node.
func (n *Node) connectHead(ctx context.Context) (*rpc.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := rpc.Dial(ctx, n.cfg.HeadAddr, n.cfg.Token, rpc.WithTLS(n.cfg.TLS))
	if err != nil {
		return nil, fmt.Errorf("node: joining the cluster at %s: %w", n.cfg.HeadAddr, err)
	}
	var reply protocol.RegisterNodeReply
	if err := c.Call(ctx, protocol.HeadRegisterNode, n.info(), &reply); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("node: registering with the head at %s: %w", n.cfg.HeadAddr, err)
	}
	return c, nil
}

// heartbeatLoop reports the node's state to the head and takes back the
// cluster view (for spillback) and the jobs that ended. If the head goes
// away, the node keeps serving and reconnects with backoff.
func (n *Node) heartbeatLoop(head *rpc.Client) {
	period := 200 * time.Millisecond
	t := time.NewTicker(period)
	defer t.Stop()
	defer func() {
		if head != nil {
			_ = head.Close()
		}
	}()
	backoff := period
	failures := 0
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		n.checkStore()
		if head == nil {
			c, err := n.connectHead(context.Background())
			if rpc.CodeOf(err) == protocol.CodeNodeDead {
				n.log.Error("the head declared this node dead; leaving the cluster", "err", err)
				n.leave()
				return
			}
			if err != nil {
				failures++
				if failures&(failures-1) == 0 { // 1st, 2nd, 4th, ... failure
					n.log.Warn("head unreachable; retrying", "err", err, "attempts", failures)
				}
				select {
				case <-n.stop:
					return
				case <-time.After(backoff):
				}
				// At most a quarter second apart: a restarted head
				// serves again once its nodes are back.
				backoff = min(backoff*2, 250*time.Millisecond)
				continue
			}
			failures = 0
			head, backoff = c, period
			n.mu.Lock()
			n.viewVersion = 0 // a new head (or connection): take its whole view
			n.mu.Unlock()
			n.log.Info("reconnected to the head")
		}
		n.reportStoreLost(head)
		n.mu.Lock()
		req := &protocol.HeartbeatRequest{NodeID: n.cfg.NodeID, Available: n.available.Clone(), Total: n.total.Clone(),
			Demands: n.demandsLocked(), Workers: len(n.workers), ViewVersion: n.viewVersion}
		seen := map[string]bool{}
		for id, j := range n.jobs {
			if id = baseKey(id); !j.dead && !seen[id] { // one per job, whatever its environments
				seen[id] = true
				req.Jobs = append(req.Jobs, id)
			}
		}
		n.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var reply protocol.HeartbeatReply
		err := head.Call(ctx, protocol.HeadHeartbeat, req, &reply)
		cancel()
		if err != nil {
			n.log.Warn("heartbeat failed", "err", err)
			select {
			case <-head.Done():
			default:
				if errors.Is(err, context.DeadlineExceeded) {
					// A slow head (or a stalled machine), not a lost
					// one: keep the connection. The head takes a closed
					// one for this node's death at once and refuses it
					// when it registers again.
					continue
				}
			}
			_ = head.Close()
			head = nil
			continue
		}
		if reply.Unknown {
			_ = head.Close()
			head = nil
			continue
		}
		var stale []*worker
		n.mu.Lock()
		if reply.ViewVersion == 0 || reply.ViewVersion != n.viewVersion {
			n.view, n.viewVersion = reply.Nodes, reply.ViewVersion
		}
		n.viewAt = time.Now() // the view is current as of now, new or not
		for _, st := range n.view {
			if st.Info.NodeID == n.cfg.NodeID && st.Draining && !n.draining {
				n.draining, n.drainBy = true, time.UnixMilli(st.DrainBy)
				n.log.Info("draining: no new work lands here", "deadline", n.drainBy)
			}
		}
		n.checkDrainedLocked()
		for _, id := range reply.DeadJobs {
			stale = append(stale, n.endJobLocked(id)...)
		}
		n.scheduleLocked()
		n.mu.Unlock()
		for _, w := range stale {
			w.kill()
		}
	}
}

// checkDrainedLocked tells the daemon to stop once a draining node has no
// lease left, or its deadline passed (owners retry what still ran).
func (n *Node) checkDrainedLocked() {
	if !n.draining || n.drained || n.cfg.OnDrained == nil {
		return
	}
	if len(n.leases) > 0 && time.Now().Before(n.drainBy) {
		return
	}
	n.drained = true
	n.log.Info("drained: leaving the cluster", "leases_left", len(n.leases))
	n.leave()
}

// leave asks the daemon around the node to stop (OnDrained).
func (n *Node) leave() {
	if n.cfg.OnDrained != nil {
		go n.cfg.OnDrained()
	}
}
