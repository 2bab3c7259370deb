package protocol

// Node methods of the shared-memory object store. Pins are held per
// connection: a process's pins go when its connection to the node does.
const (
	NodeCreateObject = "node.CreateObject"
	NodeSealObject   = "node.SealObject"
	// NodeAbortObject drops an unsealed object its caller created
	// (ObjectIDRequest): the space goes back at once.
	NodeAbortObject   = "node.AbortObject"
	NodeGetObject     = "node.GetObject"
	NodeReleaseObject = "node.ReleaseObjects"
	NodeDeleteObjects = "node.DeleteObjects"
	NodePullObject    = "node.PullObject"
	NodeReadChunk     = "node.ReadChunk"
	NodeListObjects   = "node.ListObjects"
	// NodePullPlan asks the node of an object's primary copy where to
	// copy it from (PullPlanRequest → PullPlanReply); NodePullDone tells
	// it how that went, so that it can hand the copy out in turn.
	NodePullPlan = "node.PullPlan"
	NodePullDone = "node.PullDone"
	// NodeChunkStream is a stream (rpc.DialStream) that serves an
	// object's bytes to another node: ChunkStreamRequest, then
	// ChunkStreamReply, then ranges (two big-endian int64s: offset and
	// length) one way and their bytes the other, in order.
	NodeChunkStream = "node.ChunkStream"
)

// StoreLocation says where a sealed object's bytes are on a node: a file
// to map and a range in it.
type StoreLocation struct {
	Path   string `msgpack:"path"`
	Offset int64  `msgpack:"off"`
	Size   int64  `msgpack:"size"`
}

// ObjectLocation is where an object that lives in a node's store is: its
// primary copy's node.
type ObjectLocation struct {
	NodeID   string `msgpack:"node" json:"node_id"`
	NodeAddr string `msgpack:"addr" json:"node_address"`
	Size     int64  `msgpack:"size" json:"size"`
	Owner    string `msgpack:"owner,omitempty" json:"owner,omitempty"`
}

type CreateObjectRequest struct {
	ObjectID string `msgpack:"id"`
	Size     int64  `msgpack:"size"`
	// Owner is recorded for rayo memory.
	Owner string `msgpack:"owner,omitempty"`
}

type CreateObjectReply struct {
	Loc StoreLocation `msgpack:"loc"`
	// Pressure is set when the store is nearly full of objects: owners
	// then collect garbage so that dropped references free their objects.
	Pressure bool `msgpack:"pressure,omitempty"`
}

type ObjectIDRequest struct {
	ObjectID string `msgpack:"id"`
}

type GetStoreObjectRequest struct {
	ObjectID string `msgpack:"id"`
	// WaitMillis waits that long for the object to be sealed (0: no wait).
	WaitMillis int64 `msgpack:"wait,omitempty"`
}

type StoreObjectReply struct {
	Loc StoreLocation `msgpack:"loc"`
}

type ReleaseObjectsRequest struct {
	ObjectIDs []string `msgpack:"ids"`
}

type DeleteObjectsRequest struct {
	ObjectIDs []string `msgpack:"ids"`
}

// PullObjectRequest asks a node to get a copy of an object from the node
// that holds its primary copy (unless it has one), and pin it for the
// requester.
type PullObjectRequest struct {
	ObjectID string `msgpack:"id"`
	From     string `msgpack:"from"`
	Size     int64  `msgpack:"size"`
	Owner    string `msgpack:"owner,omitempty"`
}

type PullPlanRequest struct {
	ObjectID string `msgpack:"id"`
	// Puller is the address of the node that will copy the object.
	Puller string `msgpack:"puller"`
}

// PullPlanReply lists the nodes to read the object's chunks from: nodes
// with a whole copy and room to serve, or one that is receiving it and
// passes on chunks as they arrive (a broadcast becomes a tree).
type PullPlanReply struct {
	Sources []string `msgpack:"sources"`
}

type PullDoneRequest struct {
	ObjectID string `msgpack:"id"`
	Puller   string `msgpack:"puller"`
	// OK: the puller has a whole copy now (it may be asked to serve it).
	OK bool `msgpack:"ok,omitempty"`
	// Gone lists sources that failed to serve it.
	Gone []string `msgpack:"gone,omitempty"`
}

type ChunkStreamRequest struct {
	ObjectID string `msgpack:"id"`
	// Puller is the node reading (it is told when the object is deleted).
	Puller string `msgpack:"puller,omitempty"`
}

type ChunkStreamReply struct {
	Size int64 `msgpack:"size"`
}

type ReadChunkRequest struct {
	ObjectID string `msgpack:"id"`
	Offset   int64  `msgpack:"off"`
	Len      int64  `msgpack:"len"`
	// Puller is the node reading (it is told when the object is deleted).
	Puller string `msgpack:"puller,omitempty"`
}

type ReadChunkReply struct {
	Data []byte `msgpack:"data"`
	Size int64  `msgpack:"size"`
}

// StoreObjectInfo is one object in `rayo memory`.
type StoreObjectInfo struct {
	ObjectID string `msgpack:"id" json:"object_id"`
	Size     int64  `msgpack:"size" json:"size"`
	Owner    string `msgpack:"owner,omitempty" json:"owner,omitempty"`
	Primary  bool   `msgpack:"primary" json:"primary"`
	Spilled  bool   `msgpack:"spilled" json:"spilled"`
	Fallback bool   `msgpack:"fallback,omitempty" json:"fallback"`
	Pins     int    `msgpack:"pins" json:"pins"`
	Sealed   bool   `msgpack:"sealed" json:"sealed"`
}

type ListObjectsReply struct {
	NodeID         string            `msgpack:"node"`
	Capacity       int64             `msgpack:"cap"`
	Used           int64             `msgpack:"used"`
	SpilledBytes   int64             `msgpack:"spilled"`
	SpilledObjects int               `msgpack:"nspilled"`
	FallbackBytes  int64             `msgpack:"fallback"`
	Objects        []StoreObjectInfo `msgpack:"objects"`
	// Counters since the node started, for spill and restore rates.
	Spills       int64 `msgpack:"spills"`
	Restores     int64 `msgpack:"restores"`
	SpillNanos   int64 `msgpack:"spillns"`
	RestoreNanos int64 `msgpack:"restorens"`
	SpillBytes   int64 `msgpack:"spillb"`
	RestoreBytes int64 `msgpack:"restoreb"`
	// Transfers with other nodes since the node started: object bytes
	// this node served to others, bytes it received, and the objects it
	// copied in.
	SentBytes     int64 `msgpack:"sentb,omitempty"`
	ReceivedBytes int64 `msgpack:"recvb,omitempty"`
	Pulls         int64 `msgpack:"pulls,omitempty"`
}
