package core

import (
	"os"
	"runtime"
	"strconv"
	"sync"

	"github.com/rayo-dev/rayo/internal/sched"
)

// A worker runs Go with as many Ps as CPUs its lease holds (at least one,
// at most the process's own at start), as Ray sets OMP_NUM_THREADS to a worker's
// num_cpus. A 1-CPU task then runs on one P: the scheduler wakes no
// second thread for every goroutine made ready, which on a machine with
// few cores cost a quarter of the task rate, and a worker does not take
// more cores than the scheduler gave it. A GOMAXPROCS set in the job's
// environment wins.

// WorkerMaxProcsEnv names the GOMAXPROCS a worker would have had: a node
// starts a worker with GOMAXPROCS=1 and this set (unless the job set
// GOMAXPROCS), so that the runtime never builds the machine's count of Ps
// (their caches, a GC mark worker each) for a worker that mostly holds
// one CPU or none (an actor): 0.8 MiB less per idle actor process with 2
// Ps, more with many (docs/performance.md, "Many actors").
const WorkerMaxProcsEnv = "RAYO_WORKER_MAXPROCS"

// userProcs reports whether the process's GOMAXPROCS came from its
// environment (the node's start value does not count); maxProcs is the
// most Ps a worker takes: the machine's CPUs, or fewer where a container
// limits them.
var userProcs, maxProcs = procsAtStart(os.Getenv, os.Unsetenv, runtime.GOMAXPROCS(0))

// procsAtStart reads the start's GOMAXPROCS settings. It removes the
// node's from the environment, so that the processes a worker starts get
// the machine's default, not the worker's start value.
func procsAtStart(getenv func(string) string, unsetenv func(string) error, current int) (user bool, max int) {
	v := getenv(WorkerMaxProcsEnv)
	if v == "" {
		return getenv("GOMAXPROCS") != "", current
	}
	_ = unsetenv(WorkerMaxProcsEnv)
	_ = unsetenv("GOMAXPROCS")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		n = runtime.NumCPU()
	}
	return false, n
}

var (
	procsMu sync.Mutex
	procs   int // the GOMAXPROCS this worker last set (0: not yet)
)

// procsFor is the P count for work holding res.
func procsFor(res sched.Resources) int {
	n := int((res["CPU"] + sched.Unit - 1) / sched.Unit)
	return min(max(n, 1), maxProcs)
}

// fitProcs sizes the worker's scheduler to res. It stops the world only
// when the count changes, which a worker reused for tasks of one shape
// does once.
func (rt *Runtime) fitProcs(res sched.Resources) {
	if !rt.cfg.IsWorker || userProcs {
		return
	}
	n := procsFor(res)
	procsMu.Lock()
	defer procsMu.Unlock()
	if procs != n {
		procs = n
		runtime.GOMAXPROCS(n)
	}
}
