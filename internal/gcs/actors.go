package gcs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/sched"
)

// The head is the actor directory and schedules actors: it picks a node,
// takes a dedicated worker lease there for the actor's lifetime, pushes
// the constructor, and watches the worker's connection. When the worker
// dies it restarts the actor elsewhere while restarts remain.

type actorEntry struct {
	info    protocol.ActorInfo
	spec    protocol.ActorSpec
	changed chan struct{} // closed and replaced on every change
	lease   *actorLease
	// exiting marks a graceful exit the actor asked for (ExitActor);
	// killed a Kill that allowed a restart.
	exiting bool
	killed  bool
	// migrating: the actor's node is draining; it moves without using up
	// a restart.
	migrating bool
	// placing: the lease whose worker runs the constructor of the
	// incarnation being created, so that Kill can end it.
	placing *actorLease
}

// supersededLocked reports whether incarnation is no longer the one to
// create: the actor died or a newer incarnation replaced it.
func (a *actorEntry) supersededLocked(incarnation int) bool {
	return a.info.State == protocol.ActorDead || a.info.Incarnation != incarnation
}

type actorLease struct {
	nodeAddr string
	reply    protocol.LeaseReply
	worker   *rpc.Client // nil when the head could not reach it
}

// nsKey is the key of a name in a namespace (actor names, the key-value
// store).
func nsKey(ns, name string) string { return ns + "\x00" + name }

// setLocked records a change and wakes waiters.
func (s *Server) touchLocked(a *actorEntry) {
	s.version++
	a.info.Version = s.version
	close(a.changed)
	a.changed = make(chan struct{})
	s.saveActorLocked(a)
}

func (s *Server) createActor(_ context.Context, req *protocol.ActorSpec) (*protocol.CreateActorReply, error) {
	if req.ActorID == "" || req.Class == "" || req.Job.JobID == "" {
		return nil, rpc.Errorf(rpc.CodeBadRequest, "gcs: an actor needs an ID, a class and a job")
	}
	if err := protocol.CheckEnv(req.Env); err != nil {
		return nil, rpc.Errorf(rpc.CodeBadRequest, "gcs: actor %s: %v", req.Class, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.Name != "" {
		if id, ok := s.actorNames[nsKey(req.Namespace, req.Name)]; ok {
			if old := s.actors[id]; old != nil && old.info.State != protocol.ActorDead {
				if req.GetIfExists {
					return &protocol.CreateActorReply{ActorID: id, Existed: true, Class: old.info.Class}, nil
				}
				return nil, rpc.Errorf(protocol.CodeActorNameTaken, "rayo: an actor named %q already exists in namespace %q", req.Name, req.Namespace)
			}
		}
	}
	if old := s.actors[req.ActorID]; old != nil {
		// A creation retried across a head restart: the first one was
		// recorded; answer as it was answered.
		if old.spec.Job.JobID == req.Job.JobID && old.spec.Class == req.Class {
			return &protocol.CreateActorReply{ActorID: req.ActorID, Class: req.Class}, nil
		}
		return nil, rpc.Errorf(rpc.CodeBadRequest, "gcs: actor %s already exists", req.ActorID)
	}
	if st := req.Strategy; st.Kind == sched.StrategyNodeAffinity && !st.Soft {
		if n := s.nodes[st.NodeID]; n == nil || !n.state.Alive {
			return nil, rpc.Errorf(protocol.CodeNodeAffinityUnavailable,
				"rayo: actor %s has a hard node affinity to node %s, which is dead or not in the cluster", req.Class, st.NodeID)
		}
	}
	a := &actorEntry{spec: *req, changed: make(chan struct{}), info: protocol.ActorInfo{
		ActorID: req.ActorID, Class: req.Class, Name: req.Name, Namespace: req.Namespace, JobID: req.Job.JobID,
		Detached: req.Detached, State: protocol.ActorPending, MaxRestarts: req.MaxRestarts,
		MaxTaskRetries: req.MaxTaskRetries, MaxConcurrency: req.MaxConcurrency, Resources: req.Resources}}
	s.actors[req.ActorID] = a
	if req.Name != "" {
		s.actorNames[nsKey(req.Namespace, req.Name)] = req.ActorID
	}
	s.touchLocked(a)
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.scheduleActor(a, 0) }()
	s.cfg.Log.Info("actor registered", "actor", req.ActorID, "class", req.Class, "name", req.Name)
	return &protocol.CreateActorReply{ActorID: req.ActorID, Class: req.Class}, nil
}

func (s *Server) getActor(ctx context.Context, req *protocol.GetActorRequest) (*protocol.ActorInfo, error) {
	return longPoll(ctx, s, req.AfterVersion, func() (protocol.ActorInfo, uint64, <-chan struct{}, error) {
		id := req.ActorID
		if id == "" {
			id = s.actorNames[nsKey(req.Namespace, req.Name)]
		}
		a := s.actors[id]
		if a == nil || (req.ActorID == "" && a.info.State == protocol.ActorDead) {
			if req.ActorID != "" {
				return protocol.ActorInfo{}, 0, nil, rpc.Errorf(protocol.CodeActorNotFound, "rayo: no actor %s", req.ActorID)
			}
			return protocol.ActorInfo{}, 0, nil, rpc.Errorf(protocol.CodeActorNotFound, "rayo: no actor named %q in namespace %q", req.Name, req.Namespace)
		}
		return a.info, a.info.Version, a.changed, nil
	})
}

// longPoll returns a record once its version passes after, or after a
// bounded wait with the current one. get runs under the head's lock and
// returns the record, its version, and the channel closed on its next
// change.
func longPoll[T any](ctx context.Context, s *Server, after uint64, get func() (T, uint64, <-chan struct{}, error)) (*T, error) {
	const maxPoll = 30 * time.Second
	deadline := time.NewTimer(maxPoll)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		v, version, changed, err := get()
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if version > after {
			return &v, nil
		}
		select {
		case <-changed:
		case <-deadline.C:
			return &v, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.stop:
			return nil, rpc.Errorf(protocol.CodeHeadStopping, "gcs: the head is stopping")
		}
	}
}

func (s *Server) listActors(context.Context, *protocol.Empty) (*protocol.ListActorsReply, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &protocol.ListActorsReply{Actors: s.actorInfosLocked()}, nil
}

func (s *Server) actorInfosLocked() []protocol.ActorInfo {
	out := make([]protocol.ActorInfo, 0, len(s.actors))
	for _, a := range s.actors {
		out = append(out, a.info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ActorID < out[j].ActorID })
	return out
}

// killActor ends an actor: with NoRestart it dies for good; otherwise its
// process is killed and it restarts if it has restarts left (Ray's
// ray.kill(no_restart=False)).
func (s *Server) killActor(_ context.Context, req *protocol.KillActorRequest) (*protocol.Empty, error) {
	s.mu.Lock()
	a := s.actors[req.ActorID]
	if a == nil {
		s.mu.Unlock()
		return nil, rpc.Errorf(protocol.CodeActorNotFound, "rayo: no actor %s", req.ActorID)
	}
	cause := req.Cause
	if cause == "" {
		cause = protocol.DeathKilled
	}
	var l *actorLease
	creating := a.lease == nil && a.info.State != protocol.ActorDead
	switch {
	case req.NoRestart:
		l = s.markDeadLocked(a, &protocol.ActorDeath{Code: cause, Message: deathMessage(cause, "")})
		if l == nil {
			l = a.placing
		}
	case creating:
		// Still being created: as in Ray, the creation is abandoned and
		// counts as a restart; with none left the actor is dead.
		l = s.restartCreatingLocked(a, cause)
	default:
		l = a.lease
		a.killed = true
	}
	s.mu.Unlock()
	if l != nil {
		s.killLease(l)
	}
	return &protocol.Empty{}, nil
}

// restartCreatingLocked ends the creation under way of an actor (killed,
// or its worker died in the constructor): it schedules a new incarnation
// while restarts remain, else the actor dies of cause. It returns the
// lease of the abandoned creation, which the caller kills outside the lock.
func (s *Server) restartCreatingLocked(a *actorEntry, cause string) *actorLease {
	l := a.placing
	a.placing = nil
	if a.spec.MaxRestarts >= 0 && a.info.NumRestarts >= a.spec.MaxRestarts {
		s.markDeadLocked(a, &protocol.ActorDeath{Code: cause, Message: deathMessage(cause, "while it was being created")})
		return l
	}
	a.info.NumRestarts++
	a.info.Incarnation++
	a.info.State = protocol.ActorRestarting
	a.info.Addr = ""
	inc := a.info.Incarnation
	s.touchLocked(a)
	s.cfg.Log.Warn("actor's creation ended; restarting it", "actor", a.info.ActorID, "class", a.info.Class,
		"restart", a.info.NumRestarts, "cause", cause)
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.scheduleActor(a, inc) }()
	return l
}

func (s *Server) actorExited(_ context.Context, req *protocol.ActorExitedRequest) (*protocol.Empty, error) {
	s.mu.Lock()
	if a := s.actors[req.ActorID]; a != nil && a.info.Incarnation == req.Incarnation {
		a.exiting = true
	}
	s.mu.Unlock()
	return &protocol.Empty{}, nil
}

func deathMessage(code, detail string) string {
	msg := map[string]string{
		protocol.DeathKilled:      "the actor was killed",
		protocol.DeathCrashed:     "the actor's worker process died",
		protocol.DeathNodeDied:    "the actor's node died",
		protocol.DeathConstructor: "the actor's constructor failed",
		protocol.DeathOutOfScope:  "every handle to the actor went out of scope",
		protocol.DeathExited:      "the actor exited (ExitActor)",
		protocol.DeathOwnerDied:   "the job that created the actor ended",
		protocol.DeathPGRemoved:   "its placement group was removed",
		protocol.DeathAffinity:    "it has a hard node affinity to a node that is dead or not in the cluster",
	}[code]
	if detail != "" {
		msg += ": " + detail
	}
	return msg
}

// markDeadLocked makes an actor DEAD and returns its lease, which the
// caller kills outside the lock.
func (s *Server) markDeadLocked(a *actorEntry, d *protocol.ActorDeath) *actorLease {
	if a.info.State == protocol.ActorDead {
		return nil
	}
	a.info.State = protocol.ActorDead
	a.info.Death = d
	a.info.Addr = ""
	a.info.Infeasible = false
	l := a.lease
	a.lease = nil
	s.touchLocked(a)
	s.cfg.Log.Info("actor died", "actor", a.info.ActorID, "class", a.info.Class, "cause", d.Code)
	s.rememberDeadLocked(a.info.ActorID)
	return l
}

// DefaultMaxDeadActors is Ray's bound on the destroyed actors its GCS
// keeps (maximum_gcs_destroyed_actor_cached_count).
const DefaultMaxDeadActors = 100_000

// rememberDeadLocked keeps a dead actor's record for the state API, and
// forgets the longest dead beyond MaxDeadActors: without a bound, a
// cluster that churns through actors grows its head for ever.
func (s *Server) rememberDeadLocked(id string) {
	s.deadActors = append(s.deadActors, id)
	for len(s.deadActors) > s.cfg.MaxDeadActors {
		old := s.deadActors[0]
		s.deadActors[0] = ""
		s.deadActors = s.deadActors[1:]
		a := s.actors[old]
		if a == nil || a.info.State != protocol.ActorDead {
			continue
		}
		delete(s.actors, old)
		if k := nsKey(a.info.Namespace, a.info.Name); a.info.Name != "" && s.actorNames[k] == old {
			delete(s.actorNames, k)
		}
		if err := s.db.del(bucketActors, old); err != nil {
			s.cfg.Log.Warn("forgetting a dead actor's record failed", "actor", old, "err", err)
		}
	}
}

func (s *Server) killLease(l *actorLease) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if l.reply.LeaseID != "" && l.nodeAddr != "" {
		if node, err := s.nodeClient(ctx, l.nodeAddr); err == nil {
			_ = node.Call(ctx, protocol.NodeReturnLease, &protocol.ReturnLeaseRequest{LeaseID: l.reply.LeaseID, Disconnect: true}, nil)
		}
	}
	if l.worker != nil {
		_ = l.worker.Close()
	}
}

// endJobActors kills the job-scoped actors of a job that ended.
func (s *Server) endJobActors(jobID string) {
	var ls []*actorLease
	s.mu.Lock()
	for _, a := range s.actors {
		if a.info.JobID == jobID && !a.info.Detached {
			if l := s.markDeadLocked(a, &protocol.ActorDeath{Code: protocol.DeathOwnerDied,
				Message: deathMessage(protocol.DeathOwnerDied, "")}); l != nil {
				ls = append(ls, l)
			}
		}
	}
	s.mu.Unlock()
	for _, l := range ls {
		s.killLease(l)
	}
}

// clusterChanged wakes actors waiting for a node that fits.
func (s *Server) clusterChangedLocked() {
	close(s.nodesChanged)
	s.nodesChanged = make(chan struct{})
}

func (s *Server) nodeViewLocked() ([]sched.NodeView, map[string]string) {
	views := make([]sched.NodeView, 0, len(s.nodes))
	addrs := map[string]string{}
	for id, n := range s.nodes {
		views = append(views, sched.NodeView{ID: id, Total: n.state.Info.Total, Available: n.availableLocked(),
			Labels: n.state.Info.Labels, Alive: n.state.Alive && !n.awaiting, Draining: n.state.Draining})
		addrs[id] = n.state.Info.Addr
	}
	return views, addrs
}

// actorReservation is an actor's resources on the node the head sent it
// to, counted until the node's heartbeats do.
type actorReservation struct {
	res      sched.Resources
	done     bool      // placement ended (granted or not)
	doneAt   time.Time // when
	released bool      // not granted: counts no more
}

// placed records the lease's grant (ok), from when heartbeats count it,
// or the placement's failure: it reserves nothing any more.
func (r *actorReservation) placed(ok bool) {
	if !ok {
		r.released = true
	}
	if !r.done {
		r.done, r.doneAt = true, time.Now()
	}
}

// reserveLocked reserves res on a node for a placement about to start.
func (s *Server) reserveLocked(nodeID string, res sched.Resources) *actorReservation {
	r := &actorReservation{res: res}
	if n := s.nodes[nodeID]; n != nil {
		n.reserved = append(n.reserved, r)
	}
	return r
}

// availableLocked is the node's last reported availability less the
// actors placed on it that its reports may not count yet.
func (n *nodeEntry) availableLocked() sched.Resources {
	if len(n.reserved) == 0 {
		return n.state.Available
	}
	avail := n.state.Available.Clone()
	for _, r := range n.reserved {
		if !r.released {
			avail.Sub(r.res)
		}
	}
	return avail
}

// dropCountedReservations forgets the reservations a heartbeat counts:
// those whose placement ended before the previous heartbeat arrived (a
// node computes its report before it sends it, so the one right after a
// grant may miss it).
func (n *nodeEntry) dropCountedReservations(prevBeat time.Time) {
	kept := n.reserved[:0]
	for _, r := range n.reserved {
		if r.released || (r.done && r.doneAt.Before(prevBeat)) {
			continue
		}
		kept = append(kept, r)
	}
	clear(n.reserved[len(kept):])
	n.reserved = kept
}

// scheduleActor places (or re-places) an actor and runs its constructor.
func (s *Server) scheduleActor(a *actorEntry, incarnation int) {
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	backoff := 100 * time.Millisecond
	for {
		s.mu.Lock()
		if a.supersededLocked(incarnation) {
			s.mu.Unlock()
			return
		}
		views, addrs := s.nodeViewLocked()
		changed := s.nodesChanged
		d, next := sched.Pick(a.spec.Resources, views, "", a.spec.Strategy, sched.Options{}, rnd, s.actorSpread)
		s.actorSpread = next // SPREAD actors round-robin as SPREAD tasks do
		if d.Outcome == sched.Infeasible && s.groupRemovedLocked(a.spec.Resources) {
			l := s.markDeadLocked(a, &protocol.ActorDeath{Code: protocol.DeathPGRemoved,
				Message: "its placement group was removed"})
			s.mu.Unlock()
			if l != nil {
				s.killLease(l)
			}
			return
		}
		if d.Outcome == sched.Unschedulable {
			if n := s.nodes[d.NodeID]; n == nil || !n.awaiting {
				// Its node is dead or unknown: Ray's ActorUnschedulableError.
				l := s.markDeadLocked(a, &protocol.ActorDeath{Code: protocol.DeathAffinity,
					Message: deathMessage(protocol.DeathAffinity, d.NodeID)})
				s.mu.Unlock()
				if l != nil {
					s.killLease(l)
				}
				return
			}
			// A recovered head waits for the node to register again.
			d.Outcome = sched.Infeasible
		}
		if d.Outcome == sched.Infeasible {
			if !a.info.Infeasible {
				a.info.Infeasible = true
				s.touchLocked(a)
				s.cfg.Log.Warn("infeasible actor: no node can ever hold it; it waits until one joins",
					"actor", a.info.ActorID, "class", a.info.Class, "resources", a.spec.Resources.String())
			}
			s.mu.Unlock()
			select {
			case <-changed:
			case <-s.stop:
				return
			}
			continue
		}
		if a.info.Infeasible {
			a.info.Infeasible = false
			s.touchLocked(a)
		}
		addr := addrs[d.NodeID]
		r := s.reserveLocked(d.NodeID, a.spec.Resources)
		s.mu.Unlock()

		err := s.placeActor(a, incarnation, d.NodeID, addr, r)
		s.mu.Lock()
		r.placed(err == nil)
		s.mu.Unlock()
		if err == nil {
			return
		}
		if errors.Is(err, errCreationLost) {
			// The worker died in the constructor (os.Exit, a crash, a
			// kill): Ray counts it against max_restarts, it is no
			// placement failure to retry for ever.
			code := protocol.DeathCrashed
			if !s.nodeAnswers(addr) {
				code = protocol.DeathNodeDied
			}
			s.mu.Lock()
			var l *actorLease
			if !a.supersededLocked(incarnation) {
				l = s.restartCreatingLocked(a, code)
			}
			s.mu.Unlock()
			if l != nil {
				s.killLease(l)
			}
			return
		}
		var te *errs.TaskError
		if errors.As(err, &te) {
			// The constructor failed: the actor is dead, and every call
			// fails with the constructor's error as the cause.
			s.mu.Lock()
			l := s.markDeadLocked(a, &protocol.ActorDeath{Code: protocol.DeathConstructor,
				Message: deathMessage(protocol.DeathConstructor, te.Message), Ctor: te.ToWire()})
			s.mu.Unlock()
			if l != nil {
				s.killLease(l)
			}
			return
		}
		s.cfg.Log.Warn("placing actor failed; retrying", "actor", a.info.ActorID, "node", d.NodeID, "err", err)
		select {
		case <-time.After(backoff):
		case <-s.stop:
			return
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// errCreationLost: the connection to the worker running an actor's
// constructor broke before it answered; its process died.
var errCreationLost = errors.New("gcs: the actor's worker died while its constructor ran")

// placeActor leases a dedicated worker on the node and runs the
// constructor there. A *errs.TaskError means the constructor failed,
// errCreationLost that the worker died meanwhile.
func (s *Server) placeActor(a *actorEntry, incarnation int, nodeID, addr string, r *actorReservation) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	node, err := s.nodeClient(ctx, addr)
	if err != nil {
		return err
	}
	var reply protocol.LeaseReply
	req := &protocol.LeaseRequest{Job: a.spec.Job, Resources: a.spec.Resources, Strategy: a.spec.Strategy,
		Spilled: true, Dedicated: true, Detached: a.spec.Detached, Name: a.spec.Class,
		Env: a.spec.Env, EnvKey: protocol.EnvKey(s.cfg.Token, a.spec.Env)}
	if err := node.Call(ctx, protocol.NodeRequestLease, req, &reply); err != nil {
		return err
	}
	l := &actorLease{nodeAddr: addr, reply: reply}
	w, err := rpc.Dial(ctx, reply.WorkerAddr, s.cfg.Token, rpc.WithTLS(s.cfg.TLS))
	if err != nil {
		s.killLease(l)
		return err
	}
	l.worker = w
	s.mu.Lock()
	if a.supersededLocked(incarnation) {
		s.mu.Unlock()
		s.killLease(l)
		return nil
	}
	a.placing = l
	r.placed(true) // the node counts the lease from now: the constructor may take long
	s.mu.Unlock()
	var cr protocol.WorkerCreateActorReply
	err = w.Call(ctx, protocol.WorkerCreateActor, &protocol.CreateActorRequest{Spec: a.spec, Incarnation: incarnation, GPUIDs: reply.GPUIDs}, &cr)
	s.mu.Lock()
	if a.placing == l {
		a.placing = nil
	}
	s.mu.Unlock()
	if err == nil && cr.Err != nil {
		s.killLease(l)
		return cr.Err.FromWire()
	}
	if err != nil {
		s.killLease(l)
		if errors.Is(err, rpc.ErrClosed) && ctx.Err() == nil {
			return fmt.Errorf("%w: %v", errCreationLost, err)
		}
		return err
	}
	s.mu.Lock()
	if a.supersededLocked(incarnation) {
		s.mu.Unlock()
		s.killLease(l)
		return nil
	}
	a.lease = l
	a.exiting = false
	a.info.State = protocol.ActorAlive
	a.info.Addr, a.info.WorkerID, a.info.NodeID, a.info.Pid = reply.WorkerAddr, reply.WorkerID, nodeID, reply.WorkerPid
	s.touchLocked(a)
	s.mu.Unlock()
	s.cfg.Log.Info("actor alive", "actor", a.info.ActorID, "class", a.info.Class, "node", nodeID, "pid", reply.WorkerPid, "incarnation", incarnation)
	s.watchActorWorker(a, l, incarnation)
	return nil
}

// watchActorWorker handles the end of the connection to an actor's
// worker: the worker died (or its node did).
func (s *Server) watchActorWorker(a *actorEntry, l *actorLease, incarnation int) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case <-l.worker.Done():
			s.actorWorkerGone(a, l, incarnation)
		case <-s.stop:
		}
	}()
}

// actorWorkerGone handles the death of an actor's worker: restart while
// restarts remain, else record why it died.
func (s *Server) actorWorkerGone(a *actorEntry, l *actorLease, incarnation int) {
	// A worker's connection and its node's close together when the node
	// dies: ask the node, rather than race its heartbeat, to tell a
	// crashed process from a dead node.
	nodeGone := !s.nodeAnswers(l.nodeAddr)
	s.mu.Lock()
	if a.lease != l || a.info.State == protocol.ActorDead {
		s.mu.Unlock()
		return
	}
	a.lease = nil
	code := protocol.DeathCrashed
	if n := s.nodes[a.info.NodeID]; nodeGone || (n != nil && !n.state.Alive) {
		code = protocol.DeathNodeDied
	}
	if a.killed {
		code = protocol.DeathKilled
	}
	if s.groupRemovedLocked(a.spec.Resources) {
		code = protocol.DeathPGRemoved
	}
	if a.exiting {
		code = protocol.DeathExited
	}
	a.killed = false
	canRestart := code != protocol.DeathExited && code != protocol.DeathPGRemoved && (a.spec.MaxRestarts < 0 || a.info.NumRestarts < a.spec.MaxRestarts)
	moved := a.migrating
	if moved {
		a.migrating = false
		canRestart = code != protocol.DeathExited && code != protocol.DeathPGRemoved
	}
	if !canRestart {
		s.markDeadLocked(a, &protocol.ActorDeath{Code: code, Message: deathMessage(code, fmt.Sprintf("pid %d", a.info.Pid))})
		s.mu.Unlock()
		s.killLease(l)
		return
	}
	if !moved {
		a.info.NumRestarts++
	}
	a.info.Incarnation++
	a.info.State = protocol.ActorRestarting
	a.info.Addr = ""
	inc := a.info.Incarnation
	s.touchLocked(a)
	s.mu.Unlock()
	s.cfg.Log.Warn("actor's worker died; restarting it", "actor", a.info.ActorID, "class", a.info.Class,
		"restart", a.info.NumRestarts, "cause", code)
	s.killLease(l)
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.scheduleActor(a, inc) }()
}

// groupRemovedLocked reports whether resources name a placement group
// that was removed (or never existed).
func (s *Server) groupRemovedLocked(res sched.Resources) bool {
	pg := protocol.GroupOfResources(res)
	if pg == "" {
		return false
	}
	g := s.pgs[pg]
	return g == nil || g.info.State == protocol.PGRemoved
}

// nodeAnswers reports whether a node daemon still answers.
func (s *Server) nodeAnswers(addr string) bool {
	if addr == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := s.nodeClient(ctx, addr)
	return err == nil && c.Call(ctx, protocol.NodeInfoMethod, &protocol.Empty{}, &protocol.NodeInfoReply{}) == nil
}

func (s *Server) nodeClient(ctx context.Context, addr string) (*rpc.Client, error) {
	return s.nodeClients.Get(ctx, addr)
}
