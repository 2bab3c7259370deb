package core

import (
	"context"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// The submitter reaches nodes and workers through these small interfaces
// (the seams of Ray's NormalTaskSubmitter: its RayletClient for leases
// and its core-worker client for pushes), so that its unit tests run it
// against fakes. In production they wrap *rpc.Client without allocating.

// leaseClient is a node daemon as the submitter sees it: the lease
// service and the worker kill of Ray's raylet client.
type leaseClient interface {
	// RequestLease asks for a worker (granted, rejected, or redirected
	// to another node by spillback).
	RequestLease(ctx context.Context, req *protocol.LeaseRequest) (protocol.LeaseReply, error)
	// ReturnLease gives a lease back; disconnect when its worker is
	// dead or must not be reused.
	ReturnLease(ctx context.Context, leaseID string, disconnect bool) error
	// CancelLease withdraws a request still queued at the node.
	CancelLease(ctx context.Context, requestID string) error
	// KillWorker kills a leased worker (a forced cancel).
	KillWorker(ctx context.Context, workerID string) error
	// Done is closed when the connection to the node is gone.
	Done() <-chan struct{}
}

// workerClient is a leased worker as the submitter sees it.
type workerClient interface {
	// PushTask runs a task on the worker and waits for its outcome; an
	// error means the worker is gone.
	PushTask(ctx context.Context, spec *protocol.TaskSpec, reply *protocol.PushTaskReply) error
	// CancelTask cancels the task the worker runs.
	CancelTask(ctx context.Context, req *protocol.CancelTaskRequest) error
}

// submitConns gives the submitter its node and dials others.
type submitConns interface {
	// localNode is the node this process is attached to.
	localNode() leaseClient
	// dialNode connects to another node (a spillback target).
	dialNode(ctx context.Context, addr string) (leaseClient, error)
	// dialWorker connects to a granted worker.
	dialWorker(ctx context.Context, addr string) (workerClient, error)
}

// rpcConns is submitConns over the runtime's connections.
type rpcConns struct{ rt *Runtime }

func (c rpcConns) localNode() leaseClient { return (*rpcNode)(c.rt.node) }

func (c rpcConns) dialNode(ctx context.Context, addr string) (leaseClient, error) {
	cl, err := c.rt.client(ctx, addr)
	if err != nil {
		return nil, err
	}
	return (*rpcNode)(cl), nil
}

func (c rpcConns) dialWorker(ctx context.Context, addr string) (workerClient, error) {
	cl, err := c.rt.client(ctx, addr)
	if err != nil {
		return nil, err
	}
	return (*rpcWorker)(cl), nil
}

// rpcNode is leaseClient over a node daemon's connection.
type rpcNode rpc.Client

func (n *rpcNode) c() *rpc.Client { return (*rpc.Client)(n) }

func (n *rpcNode) RequestLease(ctx context.Context, req *protocol.LeaseRequest) (protocol.LeaseReply, error) {
	var reply protocol.LeaseReply
	err := n.c().Call(ctx, protocol.NodeRequestLease, req, &reply)
	return reply, err
}

func (n *rpcNode) ReturnLease(ctx context.Context, leaseID string, disconnect bool) error {
	return n.c().Call(ctx, protocol.NodeReturnLease, &protocol.ReturnLeaseRequest{LeaseID: leaseID, Disconnect: disconnect}, nil)
}

func (n *rpcNode) CancelLease(ctx context.Context, requestID string) error {
	return n.c().Call(ctx, protocol.NodeCancelLease, &protocol.CancelLeaseRequest{RequestID: requestID}, nil)
}

func (n *rpcNode) KillWorker(ctx context.Context, workerID string) error {
	return n.c().Call(ctx, protocol.NodeKillWorker, &protocol.KillWorkerRequest{WorkerID: workerID}, nil)
}

func (n *rpcNode) Done() <-chan struct{} { return n.c().Done() }

// rpcWorker is workerClient over a worker's connection.
type rpcWorker rpc.Client

func (w *rpcWorker) PushTask(ctx context.Context, spec *protocol.TaskSpec, reply *protocol.PushTaskReply) error {
	return (*rpc.Client)(w).Call(ctx, protocol.WorkerPushTask, spec, reply)
}

func (w *rpcWorker) CancelTask(ctx context.Context, req *protocol.CancelTaskRequest) error {
	return (*rpc.Client)(w).Call(ctx, protocol.WorkerCancelTask, req, nil)
}
