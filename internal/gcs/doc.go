// Package gcs is the head's control plane: node membership and health,
// jobs (tied to their driver's connection), the store of job binaries, and
// the cluster view that node daemons use for spillback. It serves
// internal/protocol's head.* methods over internal/rpc.
//
// State lives in memory; persistence to an embedded store (so that a
// restarted head recovers) is planned with the fault-tolerance work.
package gcs
