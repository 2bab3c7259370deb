package protocol

import "github.com/rayo-dev/rayo/internal/sched"

// Node daemon methods.
const (
	NodeRequestLease   = "node.RequestLease"
	NodeReturnLease    = "node.ReturnLease"
	NodeRegisterWorker = "node.RegisterWorker"
	NodeKillWorker     = "node.KillWorker"
	NodeWorkerBlocked  = "node.WorkerBlocked"
	NodeInfoMethod     = "node.Info"
	NodeCancelLease    = "node.CancelLeaseRequest"
)

// JobSpec is what a node needs to start workers for a job.
type JobSpec struct {
	JobID      string `msgpack:"job"`
	DriverAddr string `msgpack:"driver"`
	HeadAddr   string `msgpack:"head"`
	Binary     Binary `msgpack:"bin"`
	// Namespace is the job's namespace for named actors.
	Namespace string `msgpack:"ns,omitempty"`
	// Env is added to every worker's environment (runtime env vars).
	Env map[string]string `msgpack:"env,omitempty"`
}

type LeaseRequest struct {
	// RequestID lets the requester withdraw the request (CancelLease).
	RequestID string          `msgpack:"rid"`
	Job       JobSpec         `msgpack:"job"`
	Resources sched.Resources `msgpack:"res"`
	Strategy  sched.Strategy  `msgpack:"strat"`
	// Spilled is set when another node sent the requester here: this node
	// must queue the request rather than redirect it again.
	Spilled bool `msgpack:"spilled,omitempty"`
	// QueueHere: sent here to wait (no node had room), not to run now.
	QueueHere bool `msgpack:"queuehere,omitempty"`
	// Name labels the demand (the task's name) in logs and status.
	Name string `msgpack:"name,omitempty"`
	// Dedicated asks for a worker that serves only this lease (an actor):
	// it is not counted against the pool's cap and is stopped, not
	// reused, when the lease ends.
	Dedicated bool `msgpack:"dedicated,omitempty"`
	// Detached marks a detached actor's lease: its worker outlives the
	// job that created it.
	Detached bool `msgpack:"detached,omitempty"`
	// Depth is the nesting depth of the tasks the lease is for (1: a
	// driver's, 2: theirs...; 0: unknown). Beyond the soft worker cap,
	// the CPUs of blocked workers go only to deeper tasks, so that nested
	// work progresses with a bounded number of workers.
	Depth int `msgpack:"depth,omitempty"`
	// Env is the call's own environment (env.go), on top of the job's;
	// EnvKey its hash. The node runs it only in a worker started with
	// exactly that environment.
	Env    []string `msgpack:"env,omitempty"`
	EnvKey string   `msgpack:"envkey,omitempty"`
}

type LeaseReply struct {
	// Granted lease.
	LeaseID    string `msgpack:"lease,omitempty"`
	WorkerID   string `msgpack:"worker,omitempty"`
	WorkerAddr string `msgpack:"waddr,omitempty"`
	WorkerPid  int    `msgpack:"wpid,omitempty"`
	// GPUIDs are the GPUs the lease holds (CUDA_VISIBLE_DEVICES).
	GPUIDs []int  `msgpack:"gpus,omitempty"`
	NodeID string `msgpack:"node,omitempty"`
	// Spillback: ask this node instead.
	RetryAt string `msgpack:"retry,omitempty"`
	// Rejected: the node this request was sent to is busy after all; ask
	// the local node again.
	Rejected bool `msgpack:"rejected,omitempty"`
	// QueueThere: no node has room now and RetryAt is where to wait.
	QueueThere  bool   `msgpack:"queue,omitempty"`
	RetryNodeID string `msgpack:"retrynode,omitempty"`
}

// CancelLeaseRequest withdraws a lease request that is still queued.
type CancelLeaseRequest struct {
	RequestID string `msgpack:"rid"`
}

type ReturnLeaseRequest struct {
	LeaseID string `msgpack:"lease"`
	// Disconnect asks the node to stop the worker rather than reuse it.
	Disconnect bool `msgpack:"disc,omitempty"`
}

type RegisterWorkerRequest struct {
	WorkerID string `msgpack:"worker"`
	Addr     string `msgpack:"addr"`
	Pid      int    `msgpack:"pid"`
}

type RegisterWorkerReply struct {
	NodeID string `msgpack:"node"`
}

// WorkerBlockedRequest says a worker's task waits on Get (Blocked) or
// runs again. While it waits, its lease's CPUs are lent to other work,
// so that tasks waiting on their own subtasks cannot deadlock the node.
type WorkerBlockedRequest struct {
	WorkerID string `msgpack:"worker"`
	Blocked  bool   `msgpack:"blocked"`
	// Depth is the nesting depth of the task that waits (0: unknown).
	Depth int `msgpack:"depth,omitempty"`
}

type KillWorkerRequest struct {
	WorkerID string `msgpack:"worker"`
}

type NodeInfoReply struct {
	NodeID string `msgpack:"node"`
	Addr   string `msgpack:"addr"`
}

type Empty struct{}

// NodeListWorkers lists a node's worker processes (the state API).
const NodeListWorkers = "node.ListWorkers"

type WorkerInfo struct {
	WorkerID  string `msgpack:"id"`
	Pid       int    `msgpack:"pid"`
	JobID     string `msgpack:"job"`
	State     string `msgpack:"state"` // STARTING, IDLE, LEASED, ACTOR, DEAD
	Address   string `msgpack:"addr,omitempty"`
	StartedMs int64  `msgpack:"started"`
}

type ListWorkersReply struct {
	NodeID  string       `msgpack:"node"`
	Workers []WorkerInfo `msgpack:"workers"`
}
