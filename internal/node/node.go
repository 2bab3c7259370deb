package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rayo-dev/rayo/internal/gpu"
	"github.com/rayo-dev/rayo/internal/objstore"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/sched"
)

// Config configures a node daemon.
type Config struct {
	// NodeID is generated when empty.
	NodeID string
	// Listen is the address to listen on ("127.0.0.1:0": random port).
	Listen   string
	HeadAddr string
	Token    string
	// TLS encrypts the node's TCP connections, and its workers' (nil:
	// plain TCP).
	TLS *rpc.TLS
	// Resources is the node's total ("CPU", "GPU", "memory", custom).
	Resources sched.Resources
	Labels    map[string]string
	IsHead    bool
	// LogsDir receives one log file per worker.
	LogsDir string
	// BinariesDir caches job binaries fetched from the head.
	BinariesDir string
	// GPUIDs are the node's GPUs, handed out to leases that ask for GPUs
	// (default: 0..GPU-1).
	GPUIDs []int
	// ObjectStoreMemory is the shared-memory store's capacity in bytes
	// (default: 30% of the machine's memory).
	ObjectStoreMemory int64
	// StoreDir holds the store's shared-memory file (default /dev/shm,
	// else the temp dir); SpillDir receives spilled objects.
	StoreDir string
	SpillDir string
	// MaxWorkers is the soft cap on the node's pooled worker processes
	// (Ray's num_workers_soft_limit): workers blocked in Get do not count
	// against it, so that nested tasks always get a worker.
	MaxWorkers int
	// MaxWorkersCeiling is the hard cap on pooled worker processes, blocked
	// ones included (default: 8 times MaxWorkers, at least 64).
	MaxWorkersCeiling int
	// PrestartWorkers is how many workers start when a job first asks
	// this node for a lease, and how many idle ones a job keeps.
	PrestartWorkers int
	// MaxStartingWorkers bounds the worker processes starting at once
	// (Ray's maximum_startup_concurrency; default: the machine's cores,
	// at least 4). A burst of a thousand actors then starts as fast as
	// the cores allow, instead of a thousand processes fighting over
	// them while the node's scheduling passes, each over every waiting
	// request, hold its lock.
	MaxStartingWorkers int
	// IdleWorkerTimeout is how long an idle worker beyond the prestarted
	// ones lives.
	IdleWorkerTimeout time.Duration
	// WorkerStartTimeout bounds a worker's start-up, registration included.
	WorkerStartTimeout time.Duration
	// OnDrained runs once when the node, being drained, has no work left
	// (or its drain deadline passed), or when the head says it declared
	// the node dead: the daemon then stops.
	OnDrained func()
	// OnWorkerListen, if set, is called with a worker's address when it
	// registers (an embedded cluster's reaper removes the socket file of
	// that address should the driver die).
	OnWorkerListen func(addr string)
	Log            *slog.Logger
}

// Validate fills defaults and checks the config.
func (c *Config) Validate() error {
	if c.NodeID == "" {
		c.NodeID = newID(8)
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.HeadAddr == "" {
		return errors.New("node: the head's address is required")
	}
	if c.Token == "" {
		return errors.New("node: a cluster token is required")
	}
	if c.LogsDir == "" || c.BinariesDir == "" {
		return errors.New("node: LogsDir and BinariesDir are required")
	}
	if c.Resources == nil {
		c.Resources = sched.Resources{}
	}
	if len(c.GPUIDs) == 0 {
		for i := int64(0); i < c.Resources["GPU"]/sched.Unit; i++ {
			c.GPUIDs = append(c.GPUIDs, int(i))
		}
	}
	if c.ObjectStoreMemory < 0 {
		return errors.New("node: ObjectStoreMemory must not be negative")
	}
	if c.ObjectStoreMemory == 0 {
		c.ObjectStoreMemory = DefaultObjectStoreMemory()
	}
	if c.StoreDir == "" {
		c.StoreDir = os.TempDir()
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			c.StoreDir = "/dev/shm"
		}
	}
	if c.SpillDir == "" {
		c.SpillDir = filepath.Join(filepath.Dir(c.LogsDir), "spill-"+c.NodeID)
	}
	for name, v := range c.Resources {
		if v < 0 {
			return fmt.Errorf("node: resource %q is negative", name)
		}
	}
	if _, ok := c.Resources["CPU"]; !ok {
		c.Resources["CPU"] = int64(runtime.NumCPU()) * sched.Unit
	}
	cpus := int(math.Ceil(float64(c.Resources["CPU"]) / sched.Unit))
	if c.MaxWorkers <= 0 {
		c.MaxWorkers = max(4*cpus, 16)
	}
	if c.MaxWorkersCeiling <= 0 {
		c.MaxWorkersCeiling = max(8*c.MaxWorkers, 64)
	}
	c.MaxWorkersCeiling = max(c.MaxWorkersCeiling, c.MaxWorkers)
	if c.PrestartWorkers <= 0 {
		c.PrestartWorkers = min(max(cpus, 1), 4)
	}
	if c.MaxStartingWorkers <= 0 {
		c.MaxStartingWorkers = max(runtime.NumCPU(), 4)
	}
	if c.IdleWorkerTimeout <= 0 {
		c.IdleWorkerTimeout = 10 * time.Second
	}
	if c.WorkerStartTimeout <= 0 {
		c.WorkerStartTimeout = 60 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return nil
}

// Node is a running node daemon.
type Node struct {
	cfg Config
	log *slog.Logger
	rpc *rpc.Server
	ln  net.Listener
	rnd *mrand.Rand
	// startedAt is when the daemon started (reported at each registration).
	startedAt time.Time

	mu          sync.Mutex
	total       sched.Resources // grows and shrinks with placement-group bundles
	available   sched.Resources
	bundles     map[string]*bundle
	view        []protocol.NodeState
	viewAt      time.Time // when view last came from the head
	viewVersion uint64    // the head's version of view (0: none yet)
	pending     map[string]*leaseReq
	spreadIdx   int
	queue       []*leaseReq
	workers     map[string]*worker
	leases      map[string]*lease
	// peerLeases holds each requester connection's leases, so they
	// return when it closes.
	peerLeases map[*rpc.Peer]map[string]*lease
	jobs       map[string]*job
	stopping   bool
	draining   bool
	drainBy    time.Time
	drained    bool

	// softCapWarned: the pool has grown past MaxWorkers (said once).
	softCapWarned bool
	// ceilingWarned: every pooled worker was blocked at the ceiling (said once).
	ceilingWarned bool
	// evicting counts idle workers stopped to make room that have not
	// exited yet (evictIdleLocked).
	evicting int

	gpus  *gpu.Allocator
	store *objstore.Store
	objs  *storeState
	// storeLost is why the store's file is gone (nil while it is
	// fine); storeLostSaid: the head has been told.
	storeLost     error
	storeLostSaid bool

	kick chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup
}

// Start listens, registers with the head and serves until Stop.
func Start(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, d := range []string{cfg.LogsDir, cfg.BinariesDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
	}
	sweepStaleStores(cfg.StoreDir, cfg.Log)
	// The store's file is sparse, but writing past what its file system
	// holds would kill processes with SIGBUS: never promise more than it
	// has free (a small /dev/shm in a container, say).
	var fs syscall.Statfs_t
	if err := syscall.Statfs(cfg.StoreDir, &fs); err == nil {
		if free := int64(fs.Bavail) * int64(fs.Bsize) * 9 / 10; free > 0 && cfg.ObjectStoreMemory > free {
			cfg.Log.Warn("object store capacity capped to the free space of its file system",
				"dir", cfg.StoreDir, "asked", cfg.ObjectStoreMemory, "capped", free)
			cfg.ObjectStoreMemory = free
		}
	}
	store, err := objstore.Open(objstore.Config{Path: objstore.SegmentPath(cfg.StoreDir, cfg.NodeID, os.Getpid()),
		Capacity: cfg.ObjectStoreMemory, SpillDir: cfg.SpillDir})
	if err != nil {
		return nil, fmt.Errorf("node: opening the object store: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		_ = store.Close()
		return nil, fmt.Errorf("node: listen %s: %w", cfg.Listen, err)
	}
	log := cfg.Log.With("node", cfg.NodeID)
	n := &Node{cfg: cfg, log: log, ln: ln, startedAt: time.Now(), rpc: rpc.NewServer(cfg.Token, log, rpc.WithTLS(cfg.TLS)),
		rnd:       mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid()))),
		available: cfg.Resources.Clone(), total: cfg.Resources.Clone(), bundles: map[string]*bundle{}, workers: map[string]*worker{}, pending: map[string]*leaseReq{}, leases: map[string]*lease{}, peerLeases: map[*rpc.Peer]map[string]*lease{},
		jobs: map[string]*job{}, kick: make(chan struct{}, 1), stop: make(chan struct{}), store: store,
		gpus: gpu.NewAllocator(cfg.GPUIDs),
		objs: &storeState{peers: map[*rpc.Peer]bool{}, pullers: map[string]map[string]bool{},
			pulls: map[string]*pull{}, dists: map[string]*distribution{}, owners: map[string]string{}, clients: rpc.NewPool(cfg.Token, rpc.WithTLS(cfg.TLS))}}
	rpc.Register(n.rpc, protocol.NodeRequestLease, n.requestLease)
	rpc.Register(n.rpc, protocol.NodeReturnLease, n.returnLease)
	rpc.Register(n.rpc, protocol.NodeCancelLease, n.cancelLease)
	rpc.Register(n.rpc, protocol.NodeRegisterWorker, func(ctx context.Context, req *protocol.RegisterWorkerRequest) (*protocol.RegisterWorkerReply, error) {
		reply, err := n.registerWorker(ctx, req)
		if err == nil && cfg.OnWorkerListen != nil {
			cfg.OnWorkerListen(req.Addr)
		}
		return reply, err
	})
	rpc.Register(n.rpc, protocol.NodeKillWorker, n.killWorker)
	rpc.Register(n.rpc, protocol.NodeWorkerBlocked, n.workerBlocked)
	rpc.Register(n.rpc, protocol.NodePrepareBundle, n.prepareBundle)
	rpc.Register(n.rpc, protocol.NodeCommitBundle, n.commitBundle)
	rpc.Register(n.rpc, protocol.NodeReturnBundle, n.returnBundle)
	rpc.Register(n.rpc, protocol.NodeCreateObject, n.createObject)
	rpc.Register(n.rpc, protocol.NodeSealObject, n.sealObject)
	rpc.Register(n.rpc, protocol.NodeAbortObject, n.abortObject)
	rpc.Register(n.rpc, protocol.NodeGetObject, n.getStoreObject)
	rpc.Register(n.rpc, protocol.NodeReleaseObject, n.releaseObjects)
	rpc.Register(n.rpc, protocol.NodeDeleteObjects, n.deleteObjects)
	rpc.Register(n.rpc, protocol.NodePullObject, n.pullObject)
	rpc.Register(n.rpc, protocol.NodeReadChunk, n.readChunk)
	rpc.Register(n.rpc, protocol.NodePullPlan, n.pullPlan)
	rpc.Register(n.rpc, protocol.NodePullDone, n.pullDone)
	n.rpc.HandleStream(protocol.NodeChunkStream, n.serveChunks)
	rpc.Register(n.rpc, protocol.NodeListObjects, n.listObjects)
	rpc.Register(n.rpc, protocol.NodeListWorkers, n.listWorkers)
	rpc.Register(n.rpc, protocol.NodeListLogs, n.listLogs)
	rpc.Register(n.rpc, protocol.NodeReadLog, n.readLog)
	rpc.Register(n.rpc, protocol.NodeInfoMethod, func(context.Context, *protocol.Empty) (*protocol.NodeInfoReply, error) {
		return &protocol.NodeInfoReply{NodeID: cfg.NodeID, Addr: n.Addr()}, nil
	})
	n.startMetrics()

	head, err := n.connectHead(context.Background())
	if err != nil {
		_ = ln.Close()
		_ = store.Close()
		return nil, err
	}
	n.wg.Add(3)
	go func() { defer n.wg.Done(); _ = n.rpc.Serve(ln) }() // a failure closes Failed
	if k := rpc.SweepStaleSockets(); k > 0 {
		log.Info("removed the socket files of processes gone", "count", k)
	}
	n.rpc.ListenUnix(ln.Addr().String())
	go func() { defer n.wg.Done(); n.heartbeatLoop(head) }()
	go func() { defer n.wg.Done(); n.reapLoop() }()
	log.Info("node daemon started", "addr", n.Addr(), "resources", cfg.Resources.String(), "head", cfg.HeadAddr)
	return n, nil
}

// ID is the node's ID.
func (n *Node) ID() string { return n.cfg.NodeID }

// Addr is the address the node serves on.
func (n *Node) Addr() string { return n.ln.Addr().String() }

// Failed is closed when one of the node's listeners stopped for good (Err
// says why, and it was logged at Error): workers and peers can no longer
// reach the node there, and its process should stop.
func (n *Node) Failed() <-chan struct{} { return n.rpc.Failed() }

// Err is the error that stopped a listener, or nil.
func (n *Node) Err() error { return n.rpc.Err() }

// Stop kills every worker, fails pending lease requests and waits for the
// node's goroutines.
func (n *Node) Stop() {
	n.mu.Lock()
	if n.stopping {
		n.mu.Unlock()
		return
	}
	n.stopping = true
	close(n.stop)
	for _, r := range n.queue {
		r.finish(nil, errStopping)
	}
	n.queue = nil
	ws := make([]*worker, 0, len(n.workers))
	for _, w := range n.workers {
		ws = append(ws, w)
	}
	n.mu.Unlock()
	for _, w := range ws {
		w.kill()
	}
	n.rpc.Close()
	for _, w := range ws {
		<-w.exited
	}
	n.wg.Wait()
	n.objs.clients.Close()
	if err := n.store.Close(); err != nil {
		n.log.Warn("closing the object store", "err", err)
	}
	n.log.Info("node daemon stopped")
}

// sweepStaleStores removes store files left by node daemons that died
// without closing them (kill -9). A store is stale when nobody holds its
// owner's lock (objstore.RemoveStale), which holds across PID namespaces:
// the pid in its name is never asked.
func sweepStaleStores(dir string, log *slog.Logger) {
	removed, err := objstore.SweepStale(dir)
	for _, p := range removed {
		log.Info("removed the object store file of a node daemon that died", "path", p)
	}
	if err != nil {
		log.Warn("sweeping stale object store files", "dir", dir, "err", err)
	}
}

// storeLostDrain is how long a node whose store file is gone lets the work
// it runs finish before it leaves: that work cannot put objects anyway.
const storeLostDrain = 10 * time.Second

// checkStore notices that the store's file was removed or replaced (by an
// operator, or a sweep that took this node for a dead one): processes of
// this node could no longer map the store, so every put of a new worker
// would fail. The node then takes no more work and drains itself, saying
// why, rather than stay ALIVE and fail.
func (n *Node) checkStore() {
	n.mu.Lock()
	lost := n.storeLost != nil
	n.mu.Unlock()
	if lost {
		return
	}
	err := n.store.CheckSegment()
	if err == nil || errors.Is(err, objstore.ErrClosed) {
		return
	}
	n.log.Error("the object store file is gone: this node takes no more work and leaves the cluster",
		"path", n.store.Path(), "err", err)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.storeLost = err
	if !n.draining {
		n.draining, n.drainBy = true, time.Now().Add(storeLostDrain)
	}
	n.scheduleLocked() // what waits here goes elsewhere
}

// reportStoreLost tells the head once that this node drains because its
// store is gone; rayo status shows the reason.
func (n *Node) reportStoreLost(head *rpc.Client) {
	n.mu.Lock()
	lost, said := n.storeLost, n.storeLostSaid
	n.mu.Unlock()
	if lost == nil || said {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := &protocol.DrainNodeRequest{NodeID: n.cfg.NodeID, DeadlineMillis: storeLostDrain.Milliseconds(),
		Reason: "object store lost: " + lost.Error()}
	if err := head.Call(ctx, protocol.HeadDrainNode, req, nil); err != nil {
		n.log.Warn("telling the head that the object store is gone", "err", err)
		return
	}
	n.mu.Lock()
	n.storeLostSaid = true
	n.mu.Unlock()
}

// Health is nil while the node is fit for work, else why it is not
// (wrapping objstore.ErrSegmentLost when its store's file is gone).
func (n *Node) Health() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.storeLost != nil {
		return fmt.Errorf("node: %w", n.storeLost)
	}
	return nil
}

// StorePath is the object store's main segment file.
func (n *Node) StorePath() string { return n.store.Path() }

// SpillDir is where the node spills objects and keeps fallback files.
func (n *Node) SpillDir() string { return n.cfg.SpillDir }

// DefaultObjectStoreMemory is 30% of the machine's memory (Ray's default).
func DefaultObjectStoreMemory() int64 {
	if total := MemInfo("MemTotal"); total > 0 {
		return total * 3 / 10
	}
	return 2 << 30
}

// MemInfo returns a field of /proc/meminfo in bytes (0 if unknown), such
// as "MemTotal" or "MemAvailable".
func MemInfo(field string) int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}

var errStopping = rpc.Errorf(protocol.CodeNodeStopping, "node: the node daemon is stopping")

func newID(nbytes int) string {
	b := make([]byte, nbytes)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// workerLogPath names a worker's log file (see workerLogName).
func (n *Node) workerLogPath(jobID string, pid int) string {
	return filepath.Join(n.cfg.LogsDir, workerLogName(jobID, n.cfg.NodeID, pid))
}
