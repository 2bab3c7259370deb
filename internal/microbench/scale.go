package microbench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rayo-dev/rayo"
)

// The scale rows: Ray's single-node scalability envelope (many arguments
// to one task, many objects in one get, many queued tasks), each timed
// once, with the peak memory of the processes involved.

var (
	sumArgs = rayo.Register[int]("microbench.sum_args", func(xs ...int) int {
		s := 0
		for _, x := range xs {
			s += x
		}
		return s
	})
	manyReturns = rayo.Register[[]int]("microbench.many_returns", func(n int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	})
)

// ScaleOptions size the scale rows.
type ScaleOptions struct {
	Args, Returns, Objects, QueuedTasks int
	// NodePid is the pid of the node daemon the driver submits through,
	// when it is another process of this machine (its peak memory is
	// reported); 0 when the node runs in the driver (embedded).
	NodePid int
}

// RunScale runs the scale rows on the cluster rayo.Init connected to.
func RunScale(ctx context.Context, o Options, so ScaleOptions) ([]Result, error) {
	o.defaults()
	b := &bench{ctx: ctx, o: o}
	b.once(fmt.Sprintf("%d object args to one task", so.Args), func() (time.Duration, error) {
		args := make([]any, so.Args)
		for i := range args {
			r, err := rayo.Put(ctx, 1)
			if err != nil {
				return 0, err
			}
			args[i] = r
		}
		start := time.Now()
		v, err := sumArgs.Remote(args...).Get(ctx)
		if err == nil && v != so.Args {
			err = fmt.Errorf("the sum is %d, want %d", v, so.Args)
		}
		return time.Since(start), err
	})
	b.once(fmt.Sprintf("%d returns from one task", so.Returns), func() (time.Duration, error) {
		start := time.Now()
		vs, err := rayo.GetAll(ctx, rayo.RemoteN(manyReturns, so.Returns, so.Returns))
		elapsed := time.Since(start)
		if err == nil && (len(vs) != so.Returns || vs[so.Returns-1] != so.Returns-1) {
			err = fmt.Errorf("got %d returns", len(vs))
		}
		return elapsed, err
	})
	b.once(fmt.Sprintf("%d objects in one GetAll", so.Objects), func() (time.Duration, error) {
		refs := make([]rayo.ObjectRef[int], so.Objects)
		for i := range refs {
			r, err := rayo.Put(ctx, i)
			if err != nil {
				return 0, err
			}
			refs[i] = r
		}
		start := time.Now()
		vs, err := rayo.GetAll(ctx, refs)
		elapsed := time.Since(start)
		if err == nil && (len(vs) != so.Objects || vs[so.Objects-1] != so.Objects-1) {
			err = fmt.Errorf("GetAll returned %d values", len(vs))
		}
		return elapsed, err
	})
	name := fmt.Sprintf("%d tasks queued on one node", so.QueuedTasks)
	b.once(name, func() (time.Duration, error) {
		start := time.Now()
		refs := make([]rayo.ObjectRef[[]byte], so.QueuedTasks)
		for i := range refs {
			refs[i] = smallValue.Remote()
		}
		queued := time.Since(start)
		for _, r := range refs {
			if _, err := r.Get(ctx); err != nil {
				return 0, err
			}
		}
		b.add(Result{Name: name + ": submit", Value: float64(queued.Microseconds()) / 1000, Unit: "ms"})
		return time.Since(start), nil
	})
	if b.want(name) {
		if kib := peakKiB(os.Getpid()); kib > 0 {
			b.add(Result{Name: "peak memory of the driver", Value: float64(kib) / 1024, Unit: "MiB"})
		}
		if so.NodePid != 0 {
			if kib := peakKiB(so.NodePid); kib > 0 {
				b.add(Result{Name: "peak memory of the node daemon", Value: float64(kib) / 1024, Unit: "MiB"})
			}
		}
	}
	return b.results, b.err
}

// once runs fn one time and reports the time it measured, in
// milliseconds.
func (b *bench) once(name string, fn func() (time.Duration, error)) {
	if !b.want(name) {
		return
	}
	elapsed, err := fn()
	if err != nil {
		b.err = fmt.Errorf("%s: %w", name, err)
		return
	}
	b.add(Result{Name: name, Value: float64(elapsed.Microseconds()) / 1000, Unit: "ms"})
}

// peakKiB is a process's peak resident set (VmHWM), 0 if unknown.
func peakKiB(pid int) int { return ProcStatusKiB(pid, "VmHWM") }

// ProcStatusKiB reads a kB field of /proc/<pid>/status (VmRSS, VmHWM...),
// 0 if unknown.
func ProcStatusKiB(pid int, field string) int {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}
