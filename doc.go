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
package rayo
