// Package testcluster runs real rayo clusters for tests: a head daemon and
// node daemons as separate OS processes (the rayo binary, built once per
// test process), on random loopback ports, each in its own temp dir.
//
// A test starts a cluster with Start, joins it with
//
//	rayo.Init(ctx, rayo.WithAddress(c.Address()), rayo.WithToken(c.Token()))
//
// and leaves the rest to the harness: Start registers a t.Cleanup that
// stops every process it started (SIGTERM, then SIGKILL for the whole
// process group), sweeps up any worker the daemons left behind, reports
// such leftovers as a test error, reports data races that workers built
// with -race wrote to their logs, and prints the daemons' output when the
// test failed.
//
// Processes are found again by a marker: every process the harness starts
// gets RAYO_TESTCLUSTER_MARKER=<random> in its environment, and node
// daemons pass their environment on to their workers. WorkerPids and
// MarkedPids read /proc, so the package works on Linux only.
//
// Tests never sleep to synchronise: WaitFor polls a condition until a
// deadline and fails the test with a message if it never holds.
//
// # Locks
//
// builds (the executables Build made, by package) and a Cluster's mu (its
// processes, addresses and cached head connection) are leaves, never held
// together; a build runs in its buildResult's Once, outside builds, which
// buildDir takes inside it (Once → builds). Cluster.mu is held across
// dialing the head when status has no live connection (bounded to 5 s,
// so that concurrent callers share one) and across reading a detached
// daemon's session directory (waitAlive), never across a ClusterStatus
// call or a process start.
package testcluster
