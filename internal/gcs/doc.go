// Package gcs is the head's control plane: node membership and health,
// jobs (tied to their driver's connection), the store of job binaries, and
// the cluster view that node daemons use for spillback. It serves
// internal/protocol's head.* methods over internal/rpc.
//
// State lives in memory and, with Config.DataDir, is written through to a
// bbolt file on every change (store.go), from which a head started again
// on the same directory recovers the cluster (recover.go).
//
// # Locks
//
// Server.mu guards the head's state: nodes, jobs, actors and their names,
// placement groups, the key-value store, the jobs awaiting their driver,
// and the change channels long polls wait on. Nothing holding it calls
// another process: calls to node daemons and workers (killLease,
// placeActor, reserve, returnBundles, giveBack, nodeAnswers) run after
// unlocking, and the *Locked helpers return what to kill instead of
// killing it. What it may take, and the I/O done under it:
//
//	Server.mu → the state file's own lock (persist: a bbolt write, on
//	            purpose, so that records are written in the order of the
//	            changes; fsync only with SyncWrites)
//	Server.mu → rewatchActors' list lock (recover, before serving)
//
// Two exceptions, neither on a serving head's path: recover holds it
// while it dials the workers of the actors that were alive (bounded to
// 3 s, before the head serves; rewatchActors' goroutines therefore record
// leases under their own lock, not Server.mu), and Stop closes those
// workers' connections under it (a socket close; over TLS, a close_notify
// write that crypto/tls bounds to 5 s).
//
// Leaves, never held with Server.mu: Server.uploadsMu (binaries being
// received; held across a chunk's write, the hashing of the whole file
// and its rename, so that disk work never stalls heartbeats),
// taskStore.mu (task event records), appMetrics.mu (application metrics;
// Collect sends on Prometheus's channel under it), and the node
// connection pool's lock (rpc.Pool; it dials outside it).
package gcs
