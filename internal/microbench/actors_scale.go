package microbench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/rayo-dev/rayo"
)

// The many-actors rows (issue 21): each actor is a worker process, as in
// Ray, so the count a node holds is set by the memory of one idle actor
// process. RunManyActors creates n actors of zero CPU spread over the
// nodes, calls each once, kills them, and reports the time of each phase,
// the head's memory and the memory of one actor process.

// Idle is an actor that does nothing: its process's memory is the floor
// of any actor's.
type Idle struct{}

// IdleProc is where an Idle actor runs.
type IdleProc struct {
	Pid  int    `msgpack:"pid"`
	Node string `msgpack:"node"`
}

var (
	idleType = rayo.RegisterActor[Idle]("microbench.Idle", func() *Idle { return &Idle{} })
	idleProc = rayo.RegisterMethod[IdleProc](idleType, "proc", func(_ *Idle, ctx context.Context) (IdleProc, error) {
		rc, err := rayo.GetRuntimeContext(ctx)
		if err != nil {
			return IdleProc{}, err
		}
		return IdleProc{Pid: os.Getpid(), Node: rc.NodeID}, nil
	})
)

// projectionNode is the node the projected count is for: memory is the
// limit, since the actors hold no CPU.
const projectionNodeBytes = 256 << 30

// RunManyActors runs the many-actors rows on the cluster rayo.Init
// connected to. headPid is the head daemon's process, when it runs on
// this machine (the driver's own pid on the embedded cluster); 0 skips
// the head's memory rows. The worker processes must be on this machine
// for their memory rows (all nodes of a local cluster are).
func RunManyActors(ctx context.Context, o Options, n int, headPid int) ([]Result, error) {
	return RunManyActorsEnv(ctx, o, n, headPid, nil)
}

// RunManyActorsEnv is RunManyActors with env in the actors' processes
// (rayo.EnvVars): the Go runtime's settings (GOGC, GOMEMLIMIT, GODEBUG...)
// that change the memory of an actor process, tried without changing the
// head's or the driver's.
func RunManyActorsEnv(ctx context.Context, o Options, n int, headPid int, env map[string]string) ([]Result, error) {
	o.defaults()
	b := &bench{ctx: ctx, o: o}
	if n < 1 {
		return nil, fmt.Errorf("microbench: --actors needs at least 1 actor, got %d", n)
	}
	headBefore := ProcStatusKiB(headPid, "VmRSS")

	// Create: New returns once the head recorded the actor; Ready once its
	// constructor ran on its own worker. The head places them all at once.
	start := time.Now()
	opts := []rayo.Option{rayo.Spread()}
	if len(env) > 0 {
		opts = append(opts, rayo.EnvVars(env))
	}
	spread := idleType.Options(opts...)
	handles := make([]rayo.ActorHandle[Idle], 0, n)
	// Kill whatever was created, also on an error path (and after ctx
	// ended, for a while: the head may be gone).
	defer func() {
		if len(handles) == 0 {
			return
		}
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		for _, h := range handles {
			_ = rayo.Kill(kctx, h, true)
		}
	}()
	for i := range n {
		h, err := spread.New(ctx)
		if err != nil {
			return b.results, fmt.Errorf("microbench: creating actor %d of %d: %w", i+1, n, err)
		}
		handles = append(handles, h)
	}
	// An actor with no node to go to waits for one for ever (as in Ray):
	// bound the wait, so that a run whose nodes died ends with an error.
	rctx, cancel := context.WithTimeout(ctx, time.Minute+time.Duration(n)*50*time.Millisecond)
	defer cancel()
	for i, h := range handles {
		if err := h.Ready(rctx); err != nil {
			return b.results, fmt.Errorf("microbench: actor %d of %d not alive after %s: %w", i+1, n,
				time.Since(start).Round(time.Second), err)
		}
	}
	b.add(Result{Name: fmt.Sprintf("create %d actors (until all alive)", n), Value: ms(time.Since(start)), Unit: "ms"})

	// Call each once: the first call also connects the driver to each
	// actor's worker.
	start = time.Now()
	refs := make([]rayo.ObjectRef[IdleProc], n)
	for i, h := range handles {
		refs[i] = idleProc.Remote(h)
	}
	procs, err := rayo.GetAll(ctx, refs)
	if err != nil {
		return b.results, fmt.Errorf("microbench: calling each actor: %w", err)
	}
	b.add(Result{Name: fmt.Sprintf("call each of %d actors once", n), Value: ms(time.Since(start)), Unit: "ms"})
	headWith := ProcStatusKiB(headPid, "VmRSS")

	nodes := map[string]bool{}
	pids := make([]int, n)
	for i, p := range procs {
		nodes[p.Node] = true
		pids[i] = p.Pid
	}
	b.add(Result{Name: "nodes the actors ran on", Value: float64(len(nodes)), Unit: "nodes"})
	b.actorMemory(pids)

	// Kill: until every actor's process is gone (reaped by its node).
	start = time.Now()
	for i, h := range handles {
		if err := rayo.Kill(ctx, h, true); err != nil {
			return b.results, fmt.Errorf("microbench: killing actor %d of %d: %w", i+1, n, err)
		}
	}
	handles = nil
	if err := waitGone(ctx, pids); err != nil {
		return b.results, err
	}
	b.add(Result{Name: fmt.Sprintf("kill %d actors (until their processes are gone)", n), Value: ms(time.Since(start)), Unit: "ms"})

	if headBefore > 0 && headWith > 0 {
		b.add(Result{Name: "head RSS before", Value: float64(headBefore) / 1024, Unit: "MiB"})
		b.add(Result{Name: fmt.Sprintf("head RSS with %d actors", n), Value: float64(headWith) / 1024, Unit: "MiB"})
		b.add(Result{Name: "head RSS per actor", Value: float64(headWith-headBefore) / float64(n), Unit: "KiB"})
		if after := ProcStatusKiB(headPid, "VmRSS"); after > 0 {
			b.add(Result{Name: "head RSS after the kill", Value: float64(after) / 1024, Unit: "MiB"})
		}
	}
	return b.results, b.err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// actorMemory adds the median memory of the actors' processes: RSS counts
// the binary's pages shared by all of them in full, PSS splits them among
// their sharers, USS (private pages) is what killing one gives back.
func (b *bench) actorMemory(pids []int) {
	var rss, pss, pssAnon, uss, shared []float64
	for _, pid := range pids {
		m, err := readSmapsRollup(pid)
		if err != nil {
			continue // not on this machine, or gone
		}
		rss = append(rss, float64(m["Rss"]))
		pss = append(pss, float64(m["Pss"]))
		pssAnon = append(pssAnon, float64(m["Pss_Anon"]))
		uss = append(uss, float64(m["Private_Clean"]+m["Private_Dirty"]))
		shared = append(shared, float64(m["Shared_Clean"]+m["Shared_Dirty"]))
	}
	if len(pss) == 0 {
		return
	}
	b.add(Result{Name: "actor processes measured (/proc/<pid>/smaps_rollup)", Value: float64(len(pss)), Unit: "processes"})
	b.add(Result{Name: "actor process RSS (median)", Value: median(rss) / 1024, Unit: "MiB"})
	b.add(Result{Name: "actor process PSS (median)", Value: median(pss) / 1024, Unit: "MiB"})
	b.add(Result{Name: "actor process Pss_Anon (median)", Value: median(pssAnon) / 1024, Unit: "MiB"})
	b.add(Result{Name: "actor process USS, private (median)", Value: median(uss) / 1024, Unit: "MiB"})
	b.add(Result{Name: "actor process shared (median)", Value: median(shared) / 1024, Unit: "MiB"})
	if p := median(pss); p > 0 {
		b.add(Result{Name: "projected actors per 64-core 256 GiB node (by PSS)",
			Value: float64(projectionNodeBytes) / (p * 1024), Unit: "actors"})
	}
}

func median(xs []float64) float64 {
	slices.Sort(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}

// waitGone waits until none of the processes runs: absent from /proc, or
// a zombie its node has yet to reap (it holds no memory).
func waitGone(ctx context.Context, pids []int) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	left := slices.Clone(pids)
	for {
		left = slices.DeleteFunc(left, func(pid int) bool { return !running(pid) })
		if len(left) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("microbench: %d actor processes still run after the kill (pid %d): %w", len(left), left[0], ctx.Err())
		case <-tick.C:
		}
	}
}

func running(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command's closing parenthesis.
	i := len(stat) - 1
	for i > 0 && stat[i] != ')' {
		i--
	}
	return i+2 >= len(stat) || stat[i+2] != 'Z'
}
