package protocol

// Node methods that serve the files of the node's session logs directory
// (rayo logs, /api/v0/logs). Only plain files directly in that directory
// are served.
const (
	NodeListLogs = "node.ListLogs"
	NodeReadLog  = "node.ReadLog"
)

// Kinds of log files.
const (
	LogKindWorker = "worker" // a worker's stdout and stderr
	LogKindDaemon = "daemon" // the head daemon's or a node daemon's own log
	LogKindJob    = "job"    // a driver's log (an embedded cluster's driver, a submitted job)
	LogKindOther  = "other"
)

// MaxLogRead bounds the bytes of one ReadLog reply; longer reads take
// several calls.
const MaxLogRead = 1 << 20

// LogFileInfo is one file of a node's logs directory.
type LogFileInfo struct {
	Name       string `msgpack:"name"`
	Size       int64  `msgpack:"size"`
	ModifiedMs int64  `msgpack:"mtime"`
	Kind       string `msgpack:"kind"`
	// JobID and Pid name a worker log's job and process.
	JobID string `msgpack:"job,omitempty"`
	Pid   int    `msgpack:"pid,omitempty"`
}

type ListLogsReply struct {
	NodeID string        `msgpack:"node"`
	Files  []LogFileInfo `msgpack:"files"`
}

// ReadLogRequest reads a file: with TailLines > 0 its last lines (Offset
// and Len are then ignored), else Len bytes from Offset (Len 0: up to
// MaxLogRead). A reply never holds more than MaxLogRead bytes.
type ReadLogRequest struct {
	Name      string `msgpack:"name"`
	Offset    int64  `msgpack:"off,omitempty"`
	Len       int64  `msgpack:"len,omitempty"`
	TailLines int    `msgpack:"tail,omitempty"`
}

type ReadLogReply struct {
	Data []byte `msgpack:"data"`
	// Offset is where Data starts in the file; Size is the file's size
	// when it was read (a follower reads on from Offset+len(Data)).
	Offset int64 `msgpack:"off"`
	Size   int64 `msgpack:"size"`
	// Truncated: the tail asked for is longer than MaxLogRead; Data holds
	// its last MaxLogRead bytes.
	Truncated bool `msgpack:"trunc,omitempty"`
}
