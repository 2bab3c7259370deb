// Package core is the runtime inside every driver and worker: it owns the
// objects and tasks its process creates, submits tasks through worker
// leases, resolves their arguments, retries them when a worker dies, serves
// its objects to borrowers, and (in a worker) executes pushed tasks.
//
// Ownership follows Ray's design: the process that submits a task or puts
// a value owns the result. Small values live in the owner's memory and
// travel inline; a borrower that holds a reference asks the owner.
//
// Locks and their order. A goroutine that holds a lock may take only
// locks listed after it on its line; leaves take none. No lock is held
// across a call to another process (node, head, worker, owner): work
// that needs one is decided under the lock and sent after (see
// sendBlocked, dialHead, the submitter's lease and push goroutines).
//
//	rt.actorsMu → rt.refs.mu → rt.lin.mu
//	                         → rt.store.mu, rt.objs.mu, rt.objs.gcMu
//	rt.actorsMu → rt.store.mu (an object's completion wakes Waits)
//	blockedWhile's per-call lock → rt.blockMu
//	s.mu → rt.streams.mu → a stream's mu (streamSkip: a retry or
//	                  resend leaves out the items the owner holds)
//	rt.actorsMu → rt.streams.mu → a stream's mu (streamSkip; endStream
//	                  when a streaming call finishes)
//	a stream's mu → rt.refs.mu (and what it takes), rt.store.mu
//	                  (serveStreamItem adopts an item and counts it)
//
// The submitter's s.mu takes no lock but the streams' above: finishing a
// task is claimed under it, then done outside it. A stream's mu is let go
// while its producer or consumer waits (backpressure, StreamNext).
//
// Leaves: rt.lin.mu, rt.store.mu, rt.objs.mu, rt.objs.gcMu,
// rt.runningMu, an actor host's h.mu (it takes none while dispatching),
// rt.blockMu, rt.headMu, rt.events.mu, procsMu, and rt.announceMu
// (held across the task marker's write to this process's stdout, on
// purpose: markers and output stay in order).
//
// Actor calls are written outside rt.actorsMu: pumpLocked moves them to
// the actor client's outbox under the lock, and flush, run after the lock
// is released, writes them (one writer per actor client at a time, which
// keeps a caller's calls in order), so that a stuck peer holds up only
// the calls to its own actor.
//
// The lineage releases its lock before it counts references (keepLineage);
// dropLineageLocked runs under rt.refs.mu and takes rt.lin.mu briefly, as
// keepStreamLineage does (after it let go of the stream's mu). A stream
// rebuild's mu is taken alone, or before the memStore's notify.
package core
