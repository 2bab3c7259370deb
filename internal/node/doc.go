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
//
// Workers are pooled by job and call environment (EnvVars: Ray's
// runtime_env env_vars): each (job, environment) has its own entry and
// idle pool, so a worker started with one environment never serves a call
// of another. Environment entries prestart nothing and keep no idle
// worker past IdleWorkerTimeout; when the pool is full, a request stops
// the longest idle worker of another entry to make room.
//
// # Locks
//
// Node.mu guards the node's scheduling state: resources, queue, leases,
// workers, jobs, bundles, view. Nothing holding it does I/O or waits:
// no RPC (calls to the head or other nodes run in goroutines or after
// unlocking), no process start (startWorkerLocked reserves the worker
// and its launch forks without the lock, then records the process or
// undoes the reservation), no file system access (a job's binary is
// found in the background). It may signal a process (worker.kill) and
// log. The other mutexes, and which may be taken while holding which:
//
//	Node.mu → logForwarder.mu   (a job's output queue: warnings to the driver)
//	Node.mu → worker.procMu     (a worker's process handle: kill)
//	Node.mu → gpu.Allocator.mu  (the node's and bundles' GPU IDs)
//	Node.mu → rpc.Peer.mu       (OnClose: a requester's or worker's lifeline)
//	storeState.mu → the object store's own lock (Contains, Info)
//	storeState.mu → rpc.Peer.mu (holder: a connection's pins go when it
//	                closes)
//	pull.mu → the object store's own lock (a transfer's kept pin goes
//	          back when its last relay stream leaves; transfer.go)
//
// Node.mu and storeState.mu (the object directory: pins, pulls, owner
// watches) are never held together, nor storeState.mu and a pull's mu
// (a transfer in progress: its received chunks and the streams relaying
// them; a relay waits on its cond, and a failing transfer closes the
// relays' connections under it). No lock above is held while taking
// Node.mu. Leaves besides: a worker's output lock (launch's logMu,
// shared by its stdout and stderr pumps and held across a line's write to
// the worker's log file, so that lines do not interleave) and a
// transfer's chunk cursor (receiver.mu). No node lock is held across a call that
// may spill or restore an object (the store's Create, Get).
package node
