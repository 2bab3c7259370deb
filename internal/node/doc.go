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
package node
