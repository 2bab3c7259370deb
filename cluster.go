package rayo

import (
	"context"
	"time"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/sched"
)

// Node describes one node of the cluster, as Ray's ray.nodes() does: its
// ID, address, whether it is alive, its resources and labels.
type Node struct {
	// NodeID is the node's ID (Ray's NodeID).
	NodeID string
	// Address is the node daemon's host:port (Ray's NodeManagerAddress
	// and port).
	Address string
	// Hostname is the node's host name (Ray's NodeManagerHostname).
	Hostname string
	// Alive is false for a node that died or left (Ray's Alive); the head
	// keeps dead nodes in the list, as Ray does.
	Alive bool
	// State is ALIVE, DRAINING, RECONNECTING (a restarted head waits for
	// it to register again) or DEAD.
	State string
	// IsHead marks the node started with the head (rayo start --head).
	IsHead bool
	// Resources are the node's total resources (Ray's Resources),
	// placement-group bundle resources included.
	Resources map[string]float64
	// Available are its resources free as of its last heartbeat (empty
	// for a dead node).
	Available map[string]float64
	// Labels are the node's labels (rayo start --labels).
	Labels map[string]string
	// Started is when the node daemon started.
	Started time.Time
	// ObjectStoreMemory is the capacity of the node's shared-memory object
	// store in bytes (Ray's object_store_memory resource).
	ObjectStoreMemory int64
}

// Nodes lists the cluster's nodes, dead ones included (Ray's ray.nodes()),
// in the order of their IDs. It asks the head.
func Nodes(ctx context.Context) ([]Node, error) {
	st, err := clusterStatus(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Node, 0, len(st.Nodes))
	for _, n := range st.Nodes {
		nd := Node{NodeID: n.Info.NodeID, Address: n.Info.Addr, Hostname: n.Info.Hostname, Alive: n.Alive,
			State: n.StateName(), IsHead: n.Info.IsHead, Resources: n.Info.Total.ToFloat(),
			Available: map[string]float64{}, Labels: n.Info.Labels, Started: time.UnixMilli(n.Info.StartedAt),
			ObjectStoreMemory: n.Info.StoreCapacity}
		if n.Alive {
			nd.Available = n.Available.ToFloat()
		}
		if nd.Labels == nil {
			nd.Labels = map[string]string{}
		}
		out = append(out, nd)
	}
	return out, nil
}

// ClusterResources returns the total resources of the cluster's live
// nodes (Ray's ray.cluster_resources()), placement-group bundle resources
// (such as CPU_group_<id>) included, as in Ray.
func ClusterResources(ctx context.Context) (map[string]float64, error) {
	st, err := clusterStatus(ctx)
	if err != nil {
		return nil, err
	}
	total := sched.Resources{}
	for _, n := range st.Nodes {
		if n.Alive {
			total.Add(n.Info.Total)
		}
	}
	return total.ToFloat(), nil
}

// AvailableResources returns the resources free on the cluster's live
// nodes as of their last heartbeats (Ray's ray.available_resources()); as
// in Ray, a resource none of which is free is left out, and the answer may
// already be stale when it arrives.
func AvailableResources(ctx context.Context) (map[string]float64, error) {
	st, err := clusterStatus(ctx)
	if err != nil {
		return nil, err
	}
	avail := sched.Resources{}
	for _, n := range st.Nodes {
		if n.Alive {
			avail.Add(n.Available)
		}
	}
	out := make(map[string]float64, len(avail))
	for name, v := range avail {
		if v > 0 {
			out[name] = float64(v) / sched.Unit
		}
	}
	return out, nil
}

func clusterStatus(ctx context.Context) (*protocol.ClusterStatusReply, error) {
	rt, err := runtimeOrErr()
	if err != nil {
		return nil, err
	}
	return rt.ClusterStatus(ctx)
}
