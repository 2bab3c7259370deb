// Package sched holds rayo's scheduling policy: pure functions that, given a
// view of the cluster and a resource request, decide where a task should run.
//
// The package does no I/O and starts no goroutines, so the policy can be
// tested exhaustively and reused by every component that makes placement
// decisions (raylet-style node managers as well as the GCS).
//
// Resource amounts are fixed-point integers (see Unit) so that fractional
// requests such as 0.5 CPU add and subtract without floating-point drift.
// The default policy follows Ray's hybrid scheduling policy: pack work onto
// the local node until it passes a utilization threshold, then spread it over
// the least-utilized nodes, choosing randomly among the best few to avoid
// every scheduler stampeding onto the same node.
//
// A Strategy may carry a label selector (see ParseLabelSelector) that every
// policy applies as a hard filter on candidate nodes, and PlaceBundles places
// the bundles of a placement group under Ray's PACK, SPREAD, STRICT_PACK and
// STRICT_SPREAD strategies, all or nothing.
package sched
