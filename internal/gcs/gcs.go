package gcs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// Config configures the head's control plane.
type Config struct {
	// Listen is the address to listen on, "127.0.0.1:0" for a random port.
	Listen string
	Token  string
	// TLS encrypts the head's TCP connections (nil: plain TCP).
	TLS *rpc.TLS
	// CA, when set, signs the certificates of processes that join (see
	// rpc.ServeCertificates).
	CA rpc.CertSigner
	// BinariesDir stores uploaded job binaries by content hash.
	BinariesDir string
	// HeartbeatPeriod is how often nodes report; a node that misses
	// MissedHeartbeats in a row is declared dead.
	HeartbeatPeriod  time.Duration
	MissedHeartbeats int
	// DataDir, when set, is where the head persists its state; a head
	// started on a directory that holds a cluster's state recovers it.
	// Empty: nothing is persisted (the embedded cluster).
	DataDir string
	// SyncWrites fsyncs every write of the state (survives a machine
	// crash, not only a process crash; slower).
	SyncWrites bool
	// RecoveryGrace is how long a recovered head waits for the nodes and
	// drivers it knew to come back before it declares them gone.
	RecoveryGrace time.Duration
	// MaxTaskRecords bounds the task records kept for the state API
	// (DefaultMaxTaskRecords if zero).
	MaxTaskRecords int
	// MaxDeadActors bounds the dead actors the head remembers for the
	// state API, in memory and in its store (DefaultMaxDeadActors if
	// zero); beyond it the longest dead go first.
	MaxDeadActors int
	Log           *slog.Logger
}

// Validate fills defaults and checks the config.
func (c *Config) Validate() error {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.Token == "" {
		return errors.New("gcs: a cluster token is required")
	}
	if c.BinariesDir == "" {
		return errors.New("gcs: BinariesDir is required")
	}
	if c.HeartbeatPeriod <= 0 {
		c.HeartbeatPeriod = 200 * time.Millisecond
	}
	if c.MissedHeartbeats <= 0 {
		c.MissedHeartbeats = 25
	}
	if c.RecoveryGrace <= 0 {
		c.RecoveryGrace = 30 * time.Second
	}
	if c.MaxTaskRecords <= 0 {
		c.MaxTaskRecords = DefaultMaxTaskRecords
	}
	if c.MaxDeadActors <= 0 {
		c.MaxDeadActors = DefaultMaxDeadActors
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return nil
}

// Server is the head's control plane.
type Server struct {
	cfg Config
	rpc *rpc.Server
	ln  net.Listener

	mu      sync.Mutex
	nodes   map[string]*nodeEntry
	jobs    map[string]*protocol.JobState
	jobSeq  int
	uploads map[string]*os.File // binaries being received; under uploadsMu, not mu

	actors       map[string]*actorEntry
	actorNames   map[string]string
	deadActors   []string // dead actors' IDs, longest dead first (MaxDeadActors)
	version      uint64   // bumped on every actor or group change, for long polls
	nodesChanged chan struct{}
	nodeClients  *rpc.Pool
	// viewVersion is the version of the cluster view (nodeStatesLocked)
	// that heartbeat replies carry: bumped when a node's state changes,
	// and sent to a node only when its copy is older. It starts from the
	// clock, so that a node's copy from before a head restart is never
	// taken for current.
	viewVersion uint64
	pgs         map[string]*pgEntry
	actorSpread int // the SPREAD cursor for placing actors
	// jobsAwaiting: jobs of a recovered state whose driver has not
	// attached again, with the time they end unless it does.
	jobsAwaiting  map[string]time.Time
	kv            map[string][]byte
	db            *store // nil: nothing persisted
	tasks         *taskStore
	dashboardAddr string
	metrics       *headMetrics

	// view is the node list heartbeats reply with, encoded once and
	// shared by the replies (read-only once built), with the viewVersion
	// it shows (viewBuiltVersion): a node that holds that version gets no
	// list at all. It is rebuilt when the view changed, at once when
	// viewGen moved (a node joined, died or drains), else at most every
	// half heartbeat period. Building the list for every heartbeat made
	// the idle head's work grow with the square of the nodes.
	view             msgpack.RawMessage // rpc.Marshal of the []protocol.NodeState
	viewAt           time.Time
	viewGen          uint64
	viewBuilt        uint64
	viewBuiltVersion uint64

	// uploadsMu guards uploads: their disk writes and hashing run under
	// it, never under mu, which heartbeats and every other call take.
	uploadsMu sync.Mutex

	stop chan struct{}
	wg   sync.WaitGroup
}

type nodeEntry struct {
	state    protocol.NodeState
	lastSeen time.Time
	// reserved are the resources of actors the head sent to this node
	// that its heartbeats may not count yet: actor placement subtracts
	// them from the node's last reported availability, so that actors
	// created at once are not all sent to the node that looked free.
	reserved []*actorReservation
	// awaiting: a node of a recovered state that has not registered with
	// this head yet; nothing is scheduled on it until it does.
	awaiting bool
}

// Start listens and serves until Stop.
func Start(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.BinariesDir, 0o700); err != nil {
		return nil, fmt.Errorf("gcs: %w", err)
	}
	var db *store
	if cfg.DataDir != "" {
		var err error
		if db, err = openStore(cfg.DataDir, cfg.SyncWrites); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		db.close()
		return nil, fmt.Errorf("gcs: listen %s: %w", cfg.Listen, err)
	}
	s := &Server{cfg: cfg, ln: ln, rpc: rpc.NewServer(cfg.Token, cfg.Log, rpc.WithTLS(cfg.TLS)),
		nodes: map[string]*nodeEntry{}, jobs: map[string]*protocol.JobState{},
		uploads: map[string]*os.File{}, stop: make(chan struct{}),
		actors: map[string]*actorEntry{}, actorNames: map[string]string{}, nodesChanged: make(chan struct{}),
		nodeClients: rpc.NewPool(cfg.Token, rpc.WithTLS(cfg.TLS)), pgs: map[string]*pgEntry{}, jobsAwaiting: map[string]time.Time{}, kv: map[string][]byte{}, db: db,
		tasks: newTaskStore(cfg.MaxTaskRecords), viewVersion: uint64(time.Now().UnixNano())}
	if db != nil {
		if err := s.recover(); err != nil {
			close(s.stop)
			_ = ln.Close()
			s.wg.Wait()
			db.close()
			return nil, fmt.Errorf("gcs: recovering the head's state from %s: %w", cfg.DataDir, err)
		}
	}
	if cfg.CA != nil {
		rpc.ServeCertificates(s.rpc, cfg.CA)
	}
	rpc.Register(s.rpc, protocol.HeadRegisterNode, s.registerNode)
	rpc.Register(s.rpc, protocol.HeadHeartbeat, s.heartbeat)
	rpc.Register(s.rpc, protocol.HeadRegisterJob, s.registerJob)
	rpc.Register(s.rpc, protocol.HeadClusterStatus, s.clusterStatus)
	rpc.Register(s.rpc, protocol.HeadHasBinary, s.hasBinary)
	rpc.Register(s.rpc, protocol.HeadUploadBinary, s.uploadBinary)
	rpc.Register(s.rpc, protocol.HeadFetchBinary, s.fetchBinary)
	rpc.Register(s.rpc, protocol.HeadDrainNode, s.drainNode)
	rpc.Register(s.rpc, protocol.HeadCreateActor, s.createActor)
	rpc.Register(s.rpc, protocol.HeadGetActor, s.getActor)
	rpc.Register(s.rpc, protocol.HeadKillActor, s.killActor)
	rpc.Register(s.rpc, protocol.HeadActorExited, s.actorExited)
	rpc.Register(s.rpc, protocol.HeadListActors, s.listActors)
	rpc.Register(s.rpc, protocol.HeadCreatePG, s.createPG)
	rpc.Register(s.rpc, protocol.HeadRemovePG, s.removePG)
	rpc.Register(s.rpc, protocol.HeadGetPG, s.getPG)
	rpc.Register(s.rpc, protocol.HeadListPGs, s.listPGs)
	rpc.Register(s.rpc, protocol.HeadGetPGByName, s.getPGByName)
	rpc.Register(s.rpc, protocol.HeadKVPut, s.kvPut)
	rpc.Register(s.rpc, protocol.HeadKVGet, s.kvGet)
	rpc.Register(s.rpc, protocol.HeadKVDelete, s.kvDelete)
	rpc.Register(s.rpc, protocol.HeadKVKeys, s.kvKeys)
	rpc.Register(s.rpc, protocol.HeadReportTaskEvents, s.reportTaskEvents)
	rpc.Register(s.rpc, protocol.HeadListTasks, s.listTasks)
	rpc.Register(s.rpc, protocol.HeadTaskSummary, s.taskSummary)
	s.startMetrics()
	s.wg.Add(2)
	go func() { defer s.wg.Done(); _ = s.rpc.Serve(ln) }() // a failure closes Failed
	// The socket directory is swept of dead processes' files by the node
	// daemon, which every machine with a head runs too (in this process,
	// embedded): once is enough.
	s.rpc.ListenUnix(ln.Addr().String())
	go func() { defer s.wg.Done(); s.healthLoop() }()
	cfg.Log.Info("head control plane listening", "addr", ln.Addr().String())
	return s, nil
}

// SetDashboardAddr records where the head's HTTP API listens, for
// clients that know only the head's address.
func (s *Server) SetDashboardAddr(addr string) {
	s.mu.Lock()
	s.dashboardAddr = addr
	s.mu.Unlock()
}

// Addr is the address the head listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Failed is closed when one of the head's listeners stopped for good
// (Err says why, and it was logged at Error): the head is unreachable
// there, and its process should stop rather than live on silently.
func (s *Server) Failed() <-chan struct{} { return s.rpc.Failed() }

// Err is the error that stopped a listener, or nil.
func (s *Server) Err() error { return s.rpc.Err() }

// Stop closes every connection and waits for the head's goroutines.
func (s *Server) Stop() {
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	s.rpc.Close()
	s.nodeClients.Close()
	s.mu.Lock()
	for _, a := range s.actors {
		if a.lease != nil && a.lease.worker != nil {
			_ = a.lease.worker.Close()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.uploadsMu.Lock()
	for _, f := range s.uploads {
		_ = f.Close()
		_ = os.Remove(f.Name())
	}
	s.uploads = map[string]*os.File{}
	s.uploadsMu.Unlock()
	s.db.close()
}

// Forget deletes the persisted state after Stop: the cluster ended, and a
// head started on the same directory starts a new one.
func (s *Server) Forget() error {
	if s.cfg.DataDir == "" {
		return nil
	}
	return RemoveState(s.cfg.DataDir)
}

// RemoveState deletes the state a head persisted in dir.
func RemoveState(dir string) error {
	err := os.Remove(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// HasState reports whether dir holds a head's persisted state.
func HasState(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, stateFile))
	return err == nil
}

func (s *Server) registerNode(ctx context.Context, req *protocol.NodeInfo) (*protocol.RegisterNodeReply, error) {
	if req.NodeID == "" || req.Addr == "" {
		return nil, rpc.Errorf(rpc.CodeBadRequest, "gcs: node registration needs an ID and an address")
	}
	avail := req.Available
	if avail == nil {
		avail = req.Total.Clone()
	}
	s.mu.Lock()
	old := s.nodes[req.NodeID]
	if old != nil && !old.state.Alive {
		s.mu.Unlock()
		return nil, rpc.Errorf(protocol.CodeNodeDead, "gcs: node %s was declared dead; start it again to join as a new node", req.NodeID)
	}
	var leases []string
	var bundles []protocol.HeldBundle
	if old != nil && old.awaiting {
		leases, bundles = s.reconcileNodeLocked(req)
	}
	info := *req
	info.HeadLeases, info.Bundles, info.Available = nil, nil, nil
	n := &nodeEntry{state: protocol.NodeState{Info: info, Available: avail, Alive: true}, lastSeen: time.Now()}
	if old != nil {
		n.state.Draining, n.state.DrainBy, n.state.Reason = old.state.Draining, old.state.DrainBy, old.state.Reason
	}
	s.nodes[req.NodeID] = n
	s.saveNodeLocked(n)
	s.clusterChangedLocked()
	s.mu.Unlock()
	if old != nil {
		s.cfg.Log.Info("node registered again", "node", req.NodeID, "addr", req.Addr,
			"orphan_leases", len(leases), "orphan_bundles", len(bundles))
		if len(leases)+len(bundles) > 0 {
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.giveBack(req.Addr, leases, bundles) }()
		}
	} else {
		s.cfg.Log.Info("node joined", "node", req.NodeID, "addr", req.Addr, "resources", req.Total.String())
	}
	if p := rpc.PeerFrom(ctx); p != nil {
		id := req.NodeID
		p.OnClose(func() { s.markDead(id, "connection closed") })
	}
	return &protocol.RegisterNodeReply{HeartbeatMillis: int(s.cfg.HeartbeatPeriod / time.Millisecond)}, nil
}

func (s *Server) markDead(id, reason string) {
	select {
	case <-s.stop:
		return // the head stops: its connections close, its nodes live on
	default:
	}
	s.mu.Lock()
	n := s.nodes[id]
	if n == nil || !n.state.Alive {
		s.mu.Unlock()
		return
	}
	n.state.Alive = false
	n.awaiting = false
	n.state.DiedAt = time.Now().UnixMilli()
	n.state.Demands = nil
	s.saveNodeLocked(n)
	s.nodeLostBundlesLocked(id)
	s.mu.Unlock()
	s.cfg.Log.Warn("node declared dead", "node", id, "reason", reason)
}

func (s *Server) healthLoop() {
	t := time.NewTicker(s.cfg.HeartbeatPeriod)
	defer t.Stop()
	limit := s.cfg.HeartbeatPeriod * time.Duration(s.cfg.MissedHeartbeats)
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			var dead, ended []string
			s.mu.Lock()
			for id, n := range s.nodes {
				if n.state.Alive && now.Sub(n.lastSeen) > limit {
					dead = append(dead, id)
				}
			}
			for id, by := range s.jobsAwaiting {
				if now.After(by) {
					ended = append(ended, id)
				}
			}
			s.mu.Unlock()
			for _, id := range dead {
				reason := "missed heartbeats"
				s.mu.Lock()
				if n := s.nodes[id]; n != nil && n.awaiting {
					reason = "it did not come back after the head restarted"
				}
				s.mu.Unlock()
				s.markDead(id, reason)
			}
			for _, id := range ended {
				s.cfg.Log.Warn("job's driver did not attach again after the head restarted", "job", id)
				s.endJob(id)
			}
		}
	}
}

func (s *Server) heartbeat(_ context.Context, req *protocol.HeartbeatRequest) (*heartbeatReply, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodes[req.NodeID]
	if n == nil || !n.state.Alive || n.awaiting {
		return &heartbeatReply{unknown: true}, nil
	}
	prevBeat := n.lastSeen
	n.lastSeen = time.Now()
	n.dropCountedReservations(prevBeat)
	if !req.Available.FitsIn(n.state.Available) {
		// Resources were freed: an actor waiting for them may fit now.
		defer s.clusterChangedLocked()
	}
	if !sameLoad(&n.state, req) {
		s.viewVersion++
	}
	n.state.Available = req.Available
	if req.Total != nil {
		n.state.Info.Total = req.Total
	}
	n.state.Demands = req.Demands
	n.state.Workers = req.Workers
	view, version, err := s.heartbeatViewLocked()
	if err != nil {
		return nil, err
	}
	reply := &heartbeatReply{viewVersion: version}
	if req.ViewVersion != version {
		reply.nodes = view
	}
	for _, id := range req.Jobs {
		if j := s.jobs[id]; j != nil && !j.Alive {
			reply.deadJobs = append(reply.deadJobs, id)
		}
	}
	return reply, nil
}

// sameLoad reports whether a heartbeat leaves what the view shows of its
// node as it was.
func sameLoad(st *protocol.NodeState, req *protocol.HeartbeatRequest) bool {
	if !st.Available.Equal(req.Available) || st.Workers != req.Workers || len(st.Demands) != len(req.Demands) ||
		req.Total != nil && !st.Info.Total.Equal(req.Total) {
		return false
	}
	for i, d := range req.Demands {
		o := st.Demands[i]
		if d.Count != o.Count || d.Infeasible != o.Infeasible || !d.Shape.Equal(o.Shape) {
			return false
		}
	}
	return true
}

// heartbeatViewLocked is the encoded node list for heartbeat replies and
// its version (see view). It is rebuilt when the view changed: at once
// for a node that joined, died or drains (viewGen), and for a change of
// load at most every half period (each node's own report is that old
// anyway).
func (s *Server) heartbeatViewLocked() (msgpack.RawMessage, uint64, error) {
	stale := s.viewBuiltVersion != s.viewVersion && (s.viewBuilt != s.viewGen || time.Since(s.viewAt) >= s.cfg.HeartbeatPeriod/2)
	if s.view == nil || stale {
		b, err := rpc.Marshal(s.nodeStatesLocked())
		if err != nil {
			return nil, 0, fmt.Errorf("gcs: encoding the node list: %w", err)
		}
		s.view, s.viewAt, s.viewBuilt, s.viewBuiltVersion = b, time.Now(), s.viewGen, s.viewVersion
	}
	return s.view, s.viewBuiltVersion, nil
}

func (s *Server) nodeStatesLocked() []protocol.NodeState {
	out := make([]protocol.NodeState, 0, len(s.nodes))
	for _, n := range s.nodes {
		st := n.state
		st.Reconnecting = n.awaiting
		st.Available = n.state.Available.Clone()
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Info.NodeID < out[j].Info.NodeID })
	return out
}

func (s *Server) registerJob(ctx context.Context, req *protocol.RegisterJobRequest) (*protocol.RegisterJobReply, error) {
	s.mu.Lock()
	id := req.ReattachJobID
	if id != "" {
		j := s.jobs[id]
		if j == nil || !j.Alive {
			s.mu.Unlock()
			return nil, rpc.Errorf(protocol.CodeJobEnded, "gcs: job %s ended (or is unknown to this head)", id)
		}
		delete(s.jobsAwaiting, id)
		s.mu.Unlock()
		s.cfg.Log.Info("job's driver attached again", "job", id, "driver", req.DriverAddr)
	} else {
		s.jobSeq++
		id = fmt.Sprintf("%08x", s.jobSeq)
		j := &protocol.JobState{JobID: id, DriverAddr: req.DriverAddr, DriverPid: req.DriverPid,
			Entrypoint: req.Entrypoint, Alive: true, StartedAt: time.Now().UnixMilli()}
		s.jobs[id] = j
		s.saveJobLocked(j)
		s.mu.Unlock()
		s.cfg.Log.Info("job started", "job", id, "driver", req.DriverAddr, "pid", req.DriverPid)
	}
	// A job lives as long as its driver's connection: when the driver
	// exits, nodes learn of it with their next heartbeat and stop its
	// workers.
	if p := rpc.PeerFrom(ctx); p != nil {
		p.OnClose(func() { s.endJob(id) })
	}
	return &protocol.RegisterJobReply{JobID: id}, nil
}

// endJob records that a job ended and ends its actors and groups.
func (s *Server) endJob(id string) {
	select {
	case <-s.stop:
		return // the head stops, not the job: a restarted head finds it alive
	default:
	}
	s.mu.Lock()
	delete(s.jobsAwaiting, id)
	j := s.jobs[id]
	if j == nil || !j.Alive {
		s.mu.Unlock()
		return
	}
	j.Alive = false
	j.EndedAt = time.Now().UnixMilli()
	s.saveJobLocked(j)
	s.mu.Unlock()
	s.cfg.Log.Info("job finished", "job", id)
	s.endJobActors(id)
	s.endJobPGs(id)
	s.endJobKV(id)
}

func (s *Server) clusterStatus(context.Context, *protocol.ClusterStatusRequest) (*protocol.ClusterStatusReply, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	reply := &protocol.ClusterStatusReply{Nodes: s.nodeStatesLocked(), Actors: s.actorInfosLocked(), PGs: s.pgInfosLocked(),
		DashboardAddr: s.dashboardAddr}
	for _, j := range s.jobs {
		reply.Jobs = append(reply.Jobs, *j)
	}
	sort.Slice(reply.Jobs, func(i, j int) bool { return reply.Jobs[i].JobID < reply.Jobs[j].JobID })
	return reply, nil
}

func (s *Server) binaryPath(hash string) string { return filepath.Join(s.cfg.BinariesDir, hash) }

func (s *Server) hasBinary(_ context.Context, req *protocol.HasBinaryRequest) (*protocol.HasBinaryReply, error) {
	if !protocol.ValidBinaryHash(req.Hash) {
		return nil, rpc.Errorf(rpc.CodeBadRequest, "gcs: malformed binary hash %q", req.Hash)
	}
	_, err := os.Stat(s.binaryPath(req.Hash))
	return &protocol.HasBinaryReply{Has: err == nil}, nil
}

// uploadBinary receives a job binary in ordered chunks and publishes it
// under its hash only once the content matches the hash.
func (s *Server) uploadBinary(_ context.Context, req *protocol.UploadBinaryRequest) (*protocol.Empty, error) {
	if !protocol.ValidBinaryHash(req.Hash) {
		return nil, rpc.Errorf(rpc.CodeBadRequest, "gcs: malformed binary hash %q", req.Hash)
	}
	s.uploadsMu.Lock()
	defer s.uploadsMu.Unlock()
	f := s.uploads[req.Hash]
	if req.Offset == 0 {
		if f != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
		var err error
		f, err = os.CreateTemp(s.cfg.BinariesDir, "upload-*")
		if err != nil {
			return nil, err
		}
		s.uploads[req.Hash] = f
	}
	if f == nil {
		return nil, rpc.Errorf(rpc.CodeBadRequest, "gcs: upload of %s must start at offset 0", req.Hash)
	}
	if _, err := f.WriteAt(req.Data, req.Offset); err != nil {
		return nil, err
	}
	if !req.Last {
		return &protocol.Empty{}, nil
	}
	delete(s.uploads, req.Hash)
	defer f.Close()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != req.Hash {
		_ = os.Remove(f.Name())
		return nil, rpc.Errorf(rpc.CodeBadRequest, "gcs: uploaded binary hashes to %s, not %s", got, req.Hash)
	}
	// Stored executable: a node daemon sharing this directory runs it
	// from here.
	if err := f.Chmod(0o700); err != nil { // the cluster user's alone
		return nil, err
	}
	if err := os.Rename(f.Name(), s.binaryPath(req.Hash)); err != nil {
		return nil, err
	}
	s.cfg.Log.Info("job binary stored", "hash", req.Hash[:12], "bytes", strconv.FormatInt(req.Size, 10))
	return &protocol.Empty{}, nil
}

// FetchChunk is the largest chunk a node asks for at once.
const FetchChunk = 4 << 20

func (s *Server) fetchBinary(_ context.Context, req *protocol.FetchBinaryRequest) (*protocol.FetchBinaryReply, error) {
	if !protocol.ValidBinaryHash(req.Hash) {
		return nil, rpc.Errorf(rpc.CodeBadRequest, "gcs: malformed binary hash %q", req.Hash)
	}
	f, err := os.Open(s.binaryPath(req.Hash))
	if err != nil {
		return nil, rpc.Errorf(protocol.CodeBinaryNotFound, "gcs: no binary %s", req.Hash)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	n := req.Len
	if n <= 0 || n > FetchChunk {
		n = FetchChunk
	}
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, req.Offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return &protocol.FetchBinaryReply{Data: buf[:got], Size: st.Size()}, nil
}

// drainNode marks a node draining: the scheduling policy skips it from
// now on (nodes learn it with their next heartbeat), its actors are moved
// to other nodes (a move does not count as a restart), and the node
// leaves by itself once its leases are gone or the deadline passes.
func (s *Server) drainNode(_ context.Context, req *protocol.DrainNodeRequest) (*protocol.Empty, error) {
	if req.DeadlineMillis <= 0 {
		req.DeadlineMillis = 60_000
	}
	s.mu.Lock()
	n := s.nodes[req.NodeID]
	if n == nil || !n.state.Alive {
		s.mu.Unlock()
		return nil, rpc.Errorf(protocol.CodeNodeNotFound, "rayo: no live node %s", req.NodeID)
	}
	n.state.Draining = true
	n.state.DrainBy = time.Now().Add(time.Duration(req.DeadlineMillis) * time.Millisecond).UnixMilli()
	if req.Reason != "" {
		n.state.Reason = req.Reason
	}
	s.saveNodeLocked(n)
	var moving []*actorLease
	for _, a := range s.actors {
		if a.info.State == protocol.ActorAlive && a.info.NodeID == req.NodeID && a.lease != nil {
			a.migrating = true
			moving = append(moving, a.lease)
		}
	}
	s.clusterChangedLocked()
	s.mu.Unlock()
	s.cfg.Log.Info("draining node", "node", req.NodeID, "actors_to_move", len(moving), "reason", req.Reason)
	for _, l := range moving {
		s.killLease(l)
	}
	return &protocol.Empty{}, nil
}
