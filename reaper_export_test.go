package rayo

import (
	"time"

	"github.com/rayo-dev/rayo/internal/rpc"
)

// EmbeddedFiles is what an embedded cluster puts on disk that must not
// outlive its driver.
type EmbeddedFiles struct {
	NodeID   string
	Store    string
	SpillDir string
	// Sockets: the head's, the node's and the driver's.
	Sockets []string
}

// EmbeddedFilesForTest lists this driver's embedded cluster's files,
// once the reaper has been told of all so far (registration is
// asynchronous: a driver killed a moment after making a file may leave
// it).
func EmbeddedFilesForTest() EmbeddedFiles {
	state.Lock()
	defer state.Unlock()
	if state.cluster == nil {
		return EmbeddedFiles{}
	}
	// A worker starting (the node keeps one idle) is not registered yet,
	// and neither is its socket: wait for it, then for the reaper to have
	// been told of all so far.
	for deadline := time.Now().Add(30 * time.Second); state.cluster.Node().StartingWorkers() > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if state.reaper != nil {
		state.reaper.Flush()
	}
	n := state.cluster.Node()
	return EmbeddedFiles{NodeID: n.ID(), Store: n.StorePath(), SpillDir: n.SpillDir(),
		Sockets: []string{rpc.UnixPath(state.cluster.Head().Addr()), rpc.UnixPath(n.Addr()), rpc.UnixPath(state.rt.Addr())}}
}

// RuntimeSocketForTest is the Unix socket file of this process's runtime
// (a worker's, in a task).
func RuntimeSocketForTest() string {
	state.Lock()
	defer state.Unlock()
	if state.rt == nil {
		return ""
	}
	return rpc.UnixPath(state.rt.Addr())
}
