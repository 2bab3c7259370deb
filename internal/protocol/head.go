package protocol

import (
	"encoding/hex"

	"github.com/rayo-dev/rayo/internal/sched"
)

// Head (control plane) methods.
const (
	HeadRegisterNode  = "head.RegisterNode"
	HeadHeartbeat     = "head.Heartbeat"
	HeadRegisterJob   = "head.RegisterJob"
	HeadClusterStatus = "head.ClusterStatus"
	HeadHasBinary     = "head.HasBinary"
	HeadUploadBinary  = "head.UploadBinary"
	HeadFetchBinary   = "head.FetchBinary"
	HeadDrainNode     = "head.DrainNode"
)

// CodeNodeDead is the head's answer to a node that registers again after
// it was declared dead: it must leave (its work went to other nodes).
const CodeNodeDead = "node_dead"

// NodeInfo describes a node daemon to the head.
type NodeInfo struct {
	NodeID    string            `msgpack:"id"`
	Addr      string            `msgpack:"addr"`
	Hostname  string            `msgpack:"host"`
	Pid       int               `msgpack:"pid"`
	Total     sched.Resources   `msgpack:"total"`
	Labels    map[string]string `msgpack:"labels,omitempty"`
	IsHead    bool              `msgpack:"head,omitempty"`
	GOOS      string            `msgpack:"goos"`
	GOARCH    string            `msgpack:"goarch"`
	StartedAt int64             `msgpack:"started"`
	// StoreCapacity is the node's shared-memory object store, in bytes.
	StoreCapacity int64 `msgpack:"store,omitempty"`
	// What a node reports when it registers, so that a head that restarted
	// learns the node's state: its free resources, the dedicated (actor)
	// leases the head holds there, and its placement-group bundles.
	Available  sched.Resources `msgpack:"avail,omitempty"`
	HeadLeases []HeldLease     `msgpack:"hleases,omitempty"`
	Bundles    []HeldBundle    `msgpack:"bundles,omitempty"`
}

// HeldLease is a dedicated lease a node holds for the head.
type HeldLease struct {
	LeaseID  string `msgpack:"lease"`
	WorkerID string `msgpack:"worker"`
}

// HeldBundle is a placement-group bundle a node holds.
type HeldBundle struct {
	PGID      string `msgpack:"pg"`
	Index     int    `msgpack:"i"`
	Committed bool   `msgpack:"c,omitempty"`
}

type RegisterNodeReply struct {
	HeartbeatMillis int `msgpack:"hb"`
}

// Demand is a resource shape waiting for a node, as reported by nodes.
type Demand struct {
	Shape      sched.Resources `msgpack:"shape"`
	Count      int             `msgpack:"n"`
	Infeasible bool            `msgpack:"inf,omitempty"`
}

type HeartbeatRequest struct {
	NodeID    string          `msgpack:"id"`
	Available sched.Resources `msgpack:"avail"`
	// Total changes with placement-group bundles.
	Total   sched.Resources `msgpack:"total,omitempty"`
	Demands []Demand        `msgpack:"demands,omitempty"`
	Workers int             `msgpack:"workers"`
	// Jobs are the jobs the node holds workers or state for; the reply
	// says which of them have ended.
	Jobs []string `msgpack:"jobs,omitempty"`
	// ViewVersion is the version of the cluster view the node holds (0:
	// none): the head sends the view only when it has a newer one, so an
	// idle cluster's heartbeats carry no view at all.
	ViewVersion uint64 `msgpack:"viewv,omitempty"`
}

// NodeState is one node as the head sees it.
type NodeState struct {
	Info      NodeInfo        `msgpack:"info"`
	Available sched.Resources `msgpack:"avail"`
	Alive     bool            `msgpack:"alive"`
	Draining  bool            `msgpack:"drain,omitempty"`
	// DrainBy is when a draining node leaves even if work still runs
	// there (Unix milliseconds).
	DrainBy int64    `msgpack:"drainby,omitempty"`
	Demands []Demand `msgpack:"demands,omitempty"`
	Workers int      `msgpack:"workers"`
	DiedAt  int64    `msgpack:"died,omitempty"`
	// Reconnecting: a restarted head waits for this node to register
	// again (nothing is scheduled on it until it does).
	Reconnecting bool `msgpack:"reconn,omitempty"`
	// Reason says why the node drains (or drained and left) when it is
	// not the operator's doing: a node that lost its object store.
	Reason string `msgpack:"reason,omitempty"`
}

// StateName is the node's state as the CLI and APIs show it.
func (n *NodeState) StateName() string {
	switch {
	case !n.Alive:
		return "DEAD"
	case n.Reconnecting:
		return "RECONNECTING"
	case n.Draining:
		return "DRAINING"
	}
	return "ALIVE"
}

type HeartbeatReply struct {
	// Unknown asks the node to register again (the head forgot it, or
	// declared it dead).
	Unknown bool `msgpack:"unknown,omitempty"`
	// Nodes is the cluster view, when ViewVersion is newer than the
	// node's; nil when the node's is current.
	Nodes       []NodeState `msgpack:"nodes"`
	ViewVersion uint64      `msgpack:"viewv,omitempty"`
	DeadJobs    []string    `msgpack:"deadjobs,omitempty"`
}

type RegisterJobRequest struct {
	DriverAddr string `msgpack:"driver"`
	DriverPid  int    `msgpack:"pid"`
	Entrypoint string `msgpack:"entry"`
	Binary     Binary `msgpack:"bin"`
	// ReattachJobID re-attaches a running driver to its job after the
	// head restarted (the job lives as long as this connection does).
	ReattachJobID string `msgpack:"reattach,omitempty"`
}

type RegisterJobReply struct {
	JobID string `msgpack:"job"`
}

// ValidBinaryHash reports whether h is a hex SHA-256, the only form a job
// binary's name may take (it becomes a file name on heads and nodes).
func ValidBinaryHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

// Binary names a job's executable: by content hash, and by local path
// where the node can read the driver's file system (embedded clusters).
type Binary struct {
	Hash   string `msgpack:"hash"`
	Size   int64  `msgpack:"size"`
	GOOS   string `msgpack:"goos"`
	GOARCH string `msgpack:"goarch"`
	// Path is set only when node and driver share a file system view, so
	// that the node can run the file in place.
	Path string `msgpack:"path,omitempty"`
}

type HasBinaryRequest struct {
	Hash string `msgpack:"hash"`
}

type HasBinaryReply struct {
	Has bool `msgpack:"has"`
}

type UploadBinaryRequest struct {
	Hash   string `msgpack:"hash"`
	Offset int64  `msgpack:"off"`
	Data   []byte `msgpack:"data"`
	// Last marks the final chunk; the head then verifies the hash.
	Last bool  `msgpack:"last"`
	Size int64 `msgpack:"size"`
}

type FetchBinaryRequest struct {
	Hash   string `msgpack:"hash"`
	Offset int64  `msgpack:"off"`
	Len    int    `msgpack:"len"`
}

type FetchBinaryReply struct {
	Data []byte `msgpack:"data"`
	Size int64  `msgpack:"size"`
}

type ClusterStatusRequest struct{}

type JobState struct {
	JobID      string `msgpack:"job"`
	DriverAddr string `msgpack:"driver"`
	DriverPid  int    `msgpack:"pid"`
	Entrypoint string `msgpack:"entry"`
	Alive      bool   `msgpack:"alive"`
	StartedAt  int64  `msgpack:"started"`
	EndedAt    int64  `msgpack:"ended,omitempty"`
}

type ClusterStatusReply struct {
	Nodes  []NodeState `msgpack:"nodes"`
	Jobs   []JobState  `msgpack:"jobs"`
	Actors []ActorInfo `msgpack:"actors"`
	PGs    []PGInfo    `msgpack:"pgs"`
	// DashboardAddr is the host:port of the head's HTTP API, if it runs one.
	DashboardAddr string `msgpack:"dash,omitempty"`
}

// DrainNodeRequest asks the head to drain a node: no new work lands on
// it, its actors move, and it leaves once its work is done or at the
// deadline.
type DrainNodeRequest struct {
	NodeID         string `msgpack:"id"`
	DeadlineMillis int64  `msgpack:"deadline"`
	// Reason is set by a node that drains itself because it is unhealthy.
	Reason string `msgpack:"reason,omitempty"`
}
