package node

import (
	"context"
	"sort"
	"strings"

	"github.com/rayo-dev/rayo/internal/protocol"
)

// listWorkers reports the node's worker processes for the state API.
func (n *Node) listWorkers(context.Context, *protocol.Empty) (*protocol.ListWorkersReply, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	reply := &protocol.ListWorkersReply{NodeID: n.cfg.NodeID}
	for _, w := range n.workers {
		state := "IDLE"
		switch {
		case w.dead:
			state = "DEAD"
		case w.addr == "":
			state = "STARTING"
		case w.lease != nil && w.dedicated:
			state = "ACTOR"
		case w.lease != nil:
			state = "LEASED"
		}
		job, _, _ := strings.Cut(baseKey(w.jobID), "/") // detached actors' entries are "<job>/detached"
		reply.Workers = append(reply.Workers, protocol.WorkerInfo{WorkerID: w.id, Pid: w.pid, JobID: job, State: state,
			Address: w.addr, StartedMs: w.started.UnixMilli()})
	}
	sort.Slice(reply.Workers, func(i, j int) bool { return reply.Workers[i].StartedMs < reply.Workers[j].StartedMs })
	return reply, nil
}
