package node

import (
	"fmt"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/sched"
)

// Workers blocked in Get (Ray's model): a task that waits for its own
// subtasks lends its lease's CPU to the node, and the pool may grow past
// its soft cap (Config.MaxWorkers) by the number of blocked workers, up to
// a hard ceiling (Config.MaxWorkersCeiling), so that nested work always
// gets a worker. To keep the number of processes bounded whatever the
// number of queued tasks, a blocked task's CPU goes only to deeper tasks
// once the pool is at its soft cap: otherwise each lent CPU would start
// one more outer task, which blocks in turn, until the ceiling is reached
// with only blocked outer tasks. Under the rule, each level of nesting
// holds at most the node's CPUs, and the innermost level always runs.

// pooledLocked counts the node's pooled (not dedicated) worker processes,
// and how many of them are blocked in Get.
func (n *Node) pooledLocked() (pooled, blocked int) {
	for _, w := range n.workers {
		if w.dedicated {
			continue
		}
		pooled++
		if w.lease != nil && w.lease.lent {
			blocked++
		}
	}
	return pooled, blocked
}

// poolRoomLocked reports whether one more pooled worker may start: under
// the soft cap, or past it by no more than the workers blocked in Get, and
// never past the ceiling. Passing the soft cap is said once.
func (n *Node) poolRoomLocked(j *job) bool {
	pooled, blocked := n.pooledLocked()
	if pooled >= min(n.cfg.MaxWorkers+blocked, n.cfg.MaxWorkersCeiling) {
		if pooled >= n.cfg.MaxWorkersCeiling && blocked == pooled && !n.ceilingWarned {
			// Nesting deeper than the ceiling allows (about (ceiling -
			// soft cap) / CPUs levels): nothing can run until a wait ends.
			n.ceilingWarned = true
			n.log.Error("every pooled worker is blocked in Get at the worker ceiling: nested tasks wait",
				"workers", pooled, "ceiling", n.cfg.MaxWorkersCeiling)
			j.logs.add(protocol.LogLine{Stderr: true, Text: fmt.Sprintf(
				"Warning: all %d worker processes of node %s wait in Get for tasks they submitted, and the node may start no more (--max-worker-processes %d): nesting this deep cannot progress on this node",
				pooled, n.cfg.NodeID, n.cfg.MaxWorkersCeiling)})
		}
		return false
	}
	if pooled >= n.cfg.MaxWorkers && !n.softCapWarned {
		n.softCapWarned = true
		n.log.Warn("worker pool past its soft cap: workers blocked in Get lend their CPUs to nested tasks",
			"workers", pooled+1, "blocked", blocked, "soft_cap", n.cfg.MaxWorkers, "ceiling", n.cfg.MaxWorkersCeiling)
		j.logs.add(protocol.LogLine{Stderr: true, Text: fmt.Sprintf(
			"Warning: %d worker processes have been started on node %s (soft cap %d): tasks blocked in Get wait for tasks they submitted",
			pooled+1, n.cfg.NodeID, n.cfg.MaxWorkers)})
	}
	return true
}

// reservedCPULocked is the CPU a request of the given depth may not use:
// what blocked tasks as deep or deeper lent, once the pool is at its soft
// cap. Requests of unknown depth (0) and CPU lent by tasks of unknown
// depth are not restricted.
func (n *Node) reservedCPULocked(depth int) int64 {
	if depth <= 0 {
		return 0
	}
	var cpu int64
	for _, l := range n.leases {
		if l.lent && l.lentDepth >= depth {
			cpu += l.lentCPU
		}
	}
	if cpu == 0 {
		return 0
	}
	if pooled, _ := n.pooledLocked(); pooled < n.cfg.MaxWorkers {
		return 0
	}
	return cpu
}

// fitsLess reports whether res fits in free less the CPU reserved for
// deeper tasks (reservedCPULocked).
func fitsLess(res, free sched.Resources, reserved int64) bool {
	if !res.FitsIn(free) {
		return false
	}
	return reserved == 0 || res["CPU"] <= 0 || res["CPU"] <= free["CPU"]-reserved
}

// viewLessLocked is the cluster view a request sees: this node's entry
// without the CPU reserved for deeper tasks (reservedCPULocked of the
// request's depth), so that the request may go to another node with room
// rather than wait here.
func (n *Node) viewLessLocked(view []sched.NodeView, reserved int64) []sched.NodeView {
	if reserved == 0 {
		return view
	}
	out := make([]sched.NodeView, len(view))
	copy(out, view)
	for i := range out {
		if out[i].ID == n.cfg.NodeID {
			out[i].Available = out[i].Available.Clone()
			out[i].Available["CPU"] -= reserved
		}
	}
	return out
}
