// Package scalebench measures a rayo head at scale: it starts a head and
// N node daemons as real processes of the rayo binary on this machine and
// runs the rows of `rayo microbenchmark --cluster-nodes N` (docs/scale.md):
// registration time, the head's CPU and memory idle and under load,
// failure detection (a killed daemon, a silenced one), 100,000 SPREAD
// tasks and how evenly they spread, `rayo status` and `rayo list nodes`
// times, failure of 10% of the nodes under load with every result
// checked, a 1 GiB pull beside TCP and TLS floors, and a broadcast, free
// and under a tc bandwidth cap.
//
// # Network
//
// Where the process may (root, iproute2), each node daemon runs in a
// network namespace of its own, rayo-sb-<run>-<i>, whose eth0 is one end
// of a veth pair; the other end, rsb<run>v<i>, hangs on a bridge
// rsb<run>br in the root namespace. The bridge holds the head's address,
// 10.<r>.0.1/16 with r random per run (64-127), and node i has
// 10.<r>.<1+i/250>.<1+i%250>. So daemons talk over real non-loopback
// TCP, through a link tc can shape, and each has its own --temp-dir: no
// Unix socket joins two nodes. The head, its own node daemon and the
// driver (this process) stay in the root namespace. Otherwise every
// daemon listens on 127.0.0.1, and the run logs why.
//
// # Cleanup
//
// Every process the run starts is in a process group of its own and
// carries MarkerEnv (which node daemons pass on to their workers). At the
// end of each cluster size, on error and on SIGINT/SIGTERM alike, the
// node daemons and the head get SIGTERM, then SIGKILL of their groups,
// leftovers carrying the marker are killed, and the namespaces and the
// bridge are deleted (ip -batch). A run killed with SIGKILL cannot do
// that: RemoveLeftovers and KillLeftovers, given the run ID, can.
//
// # Concurrency
//
// The harness is one goroutine, the driver; a cluster's nodes slice and
// its head connection are used from it only (cluster.mu guards the
// nodes' IDs, which it fills, against a future concurrent reader). The
// other goroutines are a process's waiter (it closes done), the floor's
// sender and the RSS sampler, each owned and joined by the function that
// starts it. There is no lock order: cluster.mu is a leaf.
package scalebench
