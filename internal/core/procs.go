package core

import (
	"os"
	"runtime"
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

// userProcs reports whether the process's GOMAXPROCS came from its
// environment.
var userProcs = os.Getenv("GOMAXPROCS") != ""

// maxProcs is the process's GOMAXPROCS at start: the machine's CPUs, or
// fewer where a container limits them.
var maxProcs = runtime.GOMAXPROCS(0)

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
