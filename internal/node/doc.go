// Package node is the node daemon: it owns one machine's resources, grants
// worker leases (locally, or by redirecting the requester to another node:
// spillback), runs the worker pool (processes running the job's own
// executable), streams worker output to the job's driver, and reports to
// the head with heartbeats.
//
// A lease is a worker plus the resources it holds. The submitter (the
// task's owner) asks for one, pushes tasks straight to the worker, and
// returns the lease when its queue for that resource shape is empty. A
// lease is tied to the requester's connection: if the requester dies, its
// leases return by themselves.
//
// The node's object store lives in a file (/dev/shm/rayo-<node>-<pid>)
// that every process of the node maps. At start the daemon removes the
// store files of daemons that died (those whose owner's lock is free; see
// internal/objstore), never a live one, whatever PID namespace it runs in.
// Each heartbeat the daemon checks that its store's name still leads to
// its file; if not (removed, replaced), new workers could not map it, so
// the node drains itself with a reason the head keeps (rayo status shows
// it) and leaves, instead of staying ALIVE and failing every put.
package node
