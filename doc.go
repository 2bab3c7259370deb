// Package rayo is a distributed compute engine with Ray's programming
// model: remote tasks, objects in a distributed store, and (soon) actors,
// for Go programs.
//
// Register functions by a stable name at package level, call Init early in
// main, and submit:
//
//	var add = rayo.Register[int]("add", func(ctx context.Context, a, b int) (int, error) {
//		return a + b, nil
//	})
//
//	func main() {
//		ctx := context.Background()
//		if err := rayo.Init(ctx); err != nil {
//			log.Fatal(err)
//		}
//		defer rayo.Shutdown()
//		sum, err := add.Remote(1, 2).Get(ctx)
//		...
//	}
//
// Workers run the driver's own executable: in a worker process, Init
// serves tasks and never returns. Code before Init therefore runs in every
// worker too; keep it free of side effects.
//
// Init starts an embedded single-node cluster (a head and a node daemon in
// the driver process, workers as child processes) unless RAYO_ADDRESS or
// WithAddress names a running cluster to join.
//
// Errors are typed: a task's error or panic reaches the caller as a
// *TaskError that wraps ErrTaskFailed (or ErrWorkerCrashed,
// ErrTaskCancelled, ErrBadCall...), and errors.Is matches user sentinel
// errors registered with RegisterError across processes.
//
// # Locks
//
// The package's mutexes, what each guards, and which may be held while
// taking which (a lock may take only those after it on its line; leaves
// take none):
//
//	registry → streamDefs       (Register, RegisterStream: each checks
//	                             the other's table with both held, so a
//	                             name is plain or streaming, never both)
//	actorDef.mu → streamDefs    (RegisterMethod, RegisterStreamMethod:
//	                             the same for an actor type's methods)
//	state → printMu             (Shutdown lets worker output settle)
//	ActorPool.mu → poolSeq      (a call's number)
//	ActorPool.mu → the core's locks (the pool starts a call's fn, which
//	                             submits, under its lock)
//
// registry (tasks by name), streamDefs (streaming tasks and methods),
// actorRegistry (actor types by class and by type) and an actorDef's mu
// (its methods and their call options) are written at registration and
// read at every call and decode. actorRegistry is a leaf and is never
// taken under another. metricRegistry.mu (metrics by name) and a metric's
// mu (its series) are never held together: MetricsSnapshot copies the
// list, then locks each metric alone.
//
// I/O under a lock, on purpose: state guards the process's runtime and
// embedded cluster, and Init and Shutdown hold it throughout, so that
// starting and stopping the embedded cluster (processes, RPCs to the
// head) never interleave; every other user (runtimeOrErr, NodeID,
// DashboardAddress) copies a field and lets go. printMu is held across
// the writes of a forwarded log batch to stdout and stderr, so that a
// batch's lines stay together. A running stream function's per-call lock
// (runStream) is held across emit, which waits for the owner to take the
// item (an RPC, and backpressure): yields from several goroutines go one
// at a time, in order. An ActorPool runs a call's fn under its lock,
// where it records the call with its actor; the call's send may write to
// the actor's connection there (see internal/core).
package rayo
