package gcs

import (
	"context"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// Recovery: a head started on a data directory that holds a cluster's
// state takes it up again.
//
//   - Nodes that were alive are expected back: each gets RecoveryGrace to
//     register again (node daemons reconnect on their own) before it is
//     declared dead. Until it does, nothing is scheduled on it, and at its
//     registration the head gives back what the node holds for it that no
//     record names (a dedicated lease or a bundle reserved while the old
//     head died). The node daemon of the head's machine is a process of
//     its own (rayo start --head starts it): it outlives the head too.
//   - Jobs that were alive wait RecoveryGrace for their driver to attach
//     again, else they end (with their actors and groups).
//   - Actors that were alive are watched again: the head dials their
//     worker; one that does not answer is handled as a worker that died
//     (restarted while restarts remain). Actors being placed are placed
//     again.
//   - Placement groups not yet placed are placed again.
//
// Calls between processes that exist go on while the head is away; only
// what needs the head waits for it (see core's callHead).

// recover loads the state into the head's maps and starts what must go
// on (watching, placing); it runs before the head serves.
func (s *Server) recover() (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	grace := s.cfg.RecoveryGrace
	limit := s.cfg.HeartbeatPeriod * time.Duration(s.cfg.MissedHeartbeats)
	err = each(s.db, bucketNodes, func(_ string, st *protocol.NodeState) {
		n := &nodeEntry{state: *st}
		n.state.Available = nil
		if st.Alive {
			n.awaiting = true
			// The health loop declares it dead once lastSeen is older
			// than the heartbeat limit: give it the grace instead.
			n.lastSeen = now.Add(grace - limit)
		}
		s.nodes[st.Info.NodeID] = n
	})
	if err != nil {
		return err
	}
	err = each(s.db, bucketJobs, func(_ string, j *protocol.JobState) {
		s.jobs[j.JobID] = j
		if j.Alive {
			s.jobsAwaiting[j.JobID] = now.Add(grace)
		}
		if seq := jobSeqOf(j.JobID); seq > s.jobSeq {
			s.jobSeq = seq
		}
	})
	if err != nil {
		return err
	}
	err = each(s.db, bucketPGs, func(_ string, info *protocol.PGInfo) {
		s.pgs[info.PGID] = &pgEntry{info: *info, changed: make(chan struct{})}
		s.version = max(s.version, info.Version)
	})
	if err != nil {
		return err
	}
	err = each(s.db, bucketKV, func(k string, v *[]byte) { s.kv[k] = *v })
	if err != nil {
		return err
	}
	var alive []*actorRecord
	var dead []*actorEntry
	err = each(s.db, bucketActors, func(_ string, rec *actorRecord) {
		a := &actorEntry{info: rec.Info, spec: rec.Spec, changed: make(chan struct{})}
		s.actors[a.info.ActorID] = a
		if a.info.Name != "" && a.info.State != protocol.ActorDead {
			s.actorNames[nsKey(a.info.Namespace, a.info.Name)] = a.info.ActorID
		}
		s.version = max(s.version, a.info.Version)
		if a.info.State == protocol.ActorAlive {
			alive = append(alive, rec)
		}
		if a.info.State == protocol.ActorDead {
			dead = append(dead, a)
		}
	})
	if err != nil {
		return err
	}
	// The dead in the order they died (their last change), then bounded.
	sort.Slice(dead, func(i, j int) bool { return dead[i].info.Version < dead[j].info.Version })
	for _, a := range dead {
		s.rememberDeadLocked(a.info.ActorID)
	}
	watched := s.rewatchActors(alive)
	if len(s.nodes)+len(s.jobs)+len(s.actors)+len(s.pgs)+len(s.kv) == 0 {
		return nil // a new cluster
	}
	s.cfg.Log.Info("head recovered its state", "nodes", len(s.nodes), "jobs", len(s.jobs), "actors", len(s.actors),
		"actors_reattached", len(watched), "placement_groups", len(s.pgs))
	// The goroutines started below wait for the lock recover holds.
	for _, a := range s.actors {
		switch {
		case a.info.State == protocol.ActorAlive && a.lease == nil:
			// Its worker did not answer: it died while the head was
			// away (or lives on a node that did).
			l := &actorLease{nodeAddr: s.actorNodeAddrLocked(a)}
			a.lease = l
			inc := a.info.Incarnation
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.actorWorkerGone(a, l, inc) }()
		case a.info.State == protocol.ActorPending || a.info.State == protocol.ActorRestarting:
			inc := a.info.Incarnation
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.scheduleActor(a, inc) }()
		}
	}
	for _, g := range s.pgs {
		if g.info.State == protocol.PGPending || g.info.State == protocol.PGRescheduling {
			s.startPlacingLocked(g)
		}
	}
	return nil
}

// jobSeqOf parses a job ID's sequence number (IDs are hex counters).
func jobSeqOf(id string) int {
	n, err := strconv.ParseInt(id, 16, 64)
	if err != nil {
		return 0
	}
	return int(n)
}

// rewatchActors dials the workers of the actors that were alive, in
// parallel, and watches those that answer; it returns their IDs.
func (s *Server) rewatchActors(recs []*actorRecord) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var mu sync.Mutex
	var ok []string
	var wg sync.WaitGroup
	for _, rec := range recs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := rpc.Dial(ctx, rec.Info.Addr, s.cfg.Token, rpc.WithTLS(s.cfg.TLS))
			if err != nil {
				s.cfg.Log.Warn("actor's worker did not answer after the head restarted", "actor", rec.Info.ActorID,
					"addr", rec.Info.Addr, "err", err)
				return
			}
			l := &actorLease{nodeAddr: rec.NodeAddr, reply: rec.Lease, worker: w}
			mu.Lock()
			a := s.actors[rec.Info.ActorID]
			a.lease = l
			ok = append(ok, rec.Info.ActorID)
			mu.Unlock()
			s.watchActorWorker(a, l, rec.Info.Incarnation)
		}()
	}
	wg.Wait()
	return ok
}

// actorNodeAddrLocked is the address of the node an actor ran on.
func (s *Server) actorNodeAddrLocked(a *actorEntry) string {
	if n := s.nodes[a.info.NodeID]; n != nil {
		return n.state.Info.Addr
	}
	return ""
}

// reconcileNodeLocked gives back what a node that registered again after
// the head's restart holds for the head without a record naming it.
func (s *Server) reconcileNodeLocked(info *protocol.NodeInfo) (leases []string, bundles []protocol.HeldBundle) {
	owned := map[string]bool{}
	for _, a := range s.actors {
		if a.lease != nil {
			owned[a.lease.reply.LeaseID] = true
		}
	}
	for _, l := range info.HeadLeases {
		if !owned[l.LeaseID] {
			leases = append(leases, l.LeaseID)
		}
	}
	for _, b := range info.Bundles {
		g := s.pgs[b.PGID]
		if g == nil || g.info.State == protocol.PGRemoved || b.Index < 0 || b.Index >= len(g.info.Bundles) ||
			g.info.Bundles[b.Index].NodeID != info.NodeID || !b.Committed {
			bundles = append(bundles, b)
		}
	}
	return leases, bundles
}

// giveBack returns orphaned leases and bundles to a node.
func (s *Server) giveBack(addr string, leases []string, bundles []protocol.HeldBundle) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := s.nodeClient(ctx, addr)
	if err != nil {
		return
	}
	for _, id := range leases {
		s.cfg.Log.Info("giving back an actor lease no record names", "node_addr", addr, "lease", id)
		_ = c.Call(ctx, protocol.NodeReturnLease, &protocol.ReturnLeaseRequest{LeaseID: id, Disconnect: true}, nil)
	}
	for _, b := range bundles {
		s.cfg.Log.Info("giving back a bundle no record names", "node_addr", addr, "pg", b.PGID, "bundle", b.Index)
		_ = c.Call(ctx, protocol.NodeReturnBundle, &protocol.BundleRequest{PGID: b.PGID, Index: b.Index}, nil)
	}
}
