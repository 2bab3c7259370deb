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
package testcluster
