package scalebench

import (
	"context"
	"fmt"
	"math"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/microbench"
)

// Row names, after the "N=<n> " prefix.
const (
	rowIdleCPU   = "head CPU idle"
	rowIdleRSS   = "head RSS idle"
	rowNodeCPU   = "node daemon CPU idle (mean)"
	rowStatus    = "rayo status"
	rowList      = "rayo list nodes"
	rowWarm      = "a first task on every node"
	rowTasks     = "tasks SPREAD"
	rowLoadCPU   = "head CPU under load"
	rowLoadRSS   = "head RSS under load (peak)"
	rowDetect    = "kill -9 one node: marked dead after"
	rowSilent    = "one node silenced: marked dead after"
	rowFailure   = "kill -9 10% of nodes under load"
	rowPull      = "pull 1 GiB to another node"
	rowBroadcast = "broadcast"
)

// rows measures one cluster.
type rows struct {
	b   *bench
	c   *cluster
	n   int
	pfx string
}

func (r *rows) want(row string) bool { return r.b.want(r.pfx + row) }

func (r *rows) wantPrefix(rows ...string) bool {
	for _, row := range rows {
		if r.want(row) {
			return true
		}
	}
	return false
}

func (r *rows) add(row string, v, sd float64, unit string) { r.b.add(r.pfx+row, v, sd, unit) }

// idle: the head's CPU and RSS with n nodes heartbeating and nothing else.
func (r *rows) idle(ctx context.Context) error {
	if !r.wantPrefix(rowIdleCPU, rowIdleRSS, rowNodeCPU) {
		return nil
	}
	head, err := startCPU(r.c.head.pid)
	if err != nil {
		return err
	}
	var nodes []*cpuMeter
	for _, n := range r.c.nodes {
		if m, err := startCPU(n.p.pid); err == nil {
			nodes = append(nodes, m)
		}
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(r.b.o.CPUWindow):
	}
	pct, err := head.percent()
	if err != nil {
		return err
	}
	if r.want(rowIdleCPU) {
		r.add(rowIdleCPU, pct, 0, "% of a core")
	}
	if r.want(rowNodeCPU) && len(nodes) > 0 {
		var ps []float64
		for _, m := range nodes {
			if p, err := m.percent(); err == nil {
				ps = append(ps, p)
			}
		}
		m, sd := microbench.MeanStd(ps)
		r.add(rowNodeCPU, m, sd, "% of a core")
	}
	if r.want(rowIdleRSS) {
		rss, err := rssBytes(r.c.head.pid)
		if err != nil {
			return err
		}
		r.add(rowIdleRSS, float64(rss)/(1<<20), 0, "MiB")
	}
	return nil
}

// cli times the rayo commands an operator runs, as processes.
func (r *rows) cli(ctx context.Context) error {
	for _, cmd := range []struct {
		row  string
		args []string
	}{
		{rowStatus, []string{"status"}},
		{rowList, []string{"list", "nodes"}},
	} {
		if !r.want(cmd.row) {
			continue
		}
		var ts []float64
		for i := 0; i < 5; i++ {
			args := append(cmd.args, "--address", r.c.addr, "--temp-dir", r.c.headTemp)
			c := exec.CommandContext(ctx, r.c.bin, args...)
			c.Env = append(cleanEnv(), "RAYO_TOKEN="+r.c.token, MarkerEnv+"="+r.c.marker)
			start := time.Now()
			if out, err := c.CombinedOutput(); err != nil {
				return fmt.Errorf("rayo %v: %w\n%s", cmd.args, err, out)
			}
			ts = append(ts, float64(time.Since(start).Microseconds())/1e3)
		}
		r.add(cmd.row+" (median of 5)", median(ts), 0, "ms")
	}
	return nil
}

// tasks: a first task on each node (a worker start and the job binary's
// fetch), then o.Tasks no-op tasks with SPREAD; where each ran, and the
// head's CPU and memory meanwhile.
func (r *rows) tasks(ctx context.Context) error {
	if !r.wantPrefix(rowWarm, rowTasks, rowLoadCPU, rowLoadRSS) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.b.o.RowTimeout)
	defer cancel()
	start := time.Now()
	if err := r.warm(ctx, r.c.nodes); err != nil {
		return err
	}
	if r.want(rowWarm) {
		r.add(rowWarm, time.Since(start).Seconds(), 0, "s")
	}
	cpu, err := startCPU(r.c.head.pid)
	if err != nil {
		return err
	}
	peak := watchRSS(r.c.head.pid)
	t := where.Options(rayo.Spread())
	refs := make([]rayo.ObjectRef[string], r.b.o.Tasks)
	start = time.Now()
	for i := range refs {
		refs[i] = t.Remote()
	}
	ids, err := rayo.GetAll(ctx, refs)
	el := time.Since(start)
	pct, cerr := cpu.percent()
	rss := peak()
	if err != nil {
		return fmt.Errorf("%d SPREAD tasks: %w", len(refs), err)
	}
	if cerr != nil {
		return cerr
	}
	per := map[string]float64{}
	for _, id := range ids {
		per[id]++
	}
	st, err := r.c.status(ctx)
	if err != nil {
		return err
	}
	var counts []float64
	for _, ns := range st.Nodes {
		if ns.Alive {
			counts = append(counts, per[ns.Info.NodeID]) // zero for a node that got none
		}
	}
	if r.want(rowTasks) {
		r.add(rowTasks, float64(len(refs))/el.Seconds(), 0, "tasks/s")
		m, sd := microbench.MeanStd(counts)
		slices.Sort(counts)
		r.add(rowTasks+": tasks per node, min", counts[0], 0, "tasks")
		r.add(rowTasks+": tasks per node, median", median(counts), 0, "tasks")
		r.add(rowTasks+": tasks per node, max", counts[len(counts)-1], 0, "tasks")
		r.add(rowTasks+": tasks per node, coefficient of variation", 100*sd/m, 0, "%")
	}
	if r.want(rowLoadCPU) {
		r.add(rowLoadCPU, pct, 0, "% of a core")
	}
	if r.want(rowLoadRSS) {
		r.add(rowLoadRSS, float64(rss)/(1<<20), 0, "MiB")
	}
	return nil
}

// warm runs a task pinned to each node and waits for all.
func (r *rows) warm(ctx context.Context, nodes []*node) error {
	refs := make([]rayo.ObjectRef[string], 0, len(nodes))
	for _, n := range nodes {
		refs = append(refs, where.Options(rayo.NodeAffinity(n.id, false)).Remote())
	}
	ids, err := rayo.GetAll(ctx, refs)
	if err != nil {
		return fmt.Errorf("a task on each node: %w", err)
	}
	for i, id := range ids {
		if id != nodes[i].id {
			return fmt.Errorf("a task pinned to node %s ran on %s", nodes[i].id, id)
		}
	}
	return nil
}

// watchRSS samples pid's RSS every 200 ms until the returned function is
// called, which returns the peak.
func watchRSS(pid int) func() int64 {
	var (
		mu   sync.Mutex
		peak int64
	)
	sample := func() {
		if v, err := rssBytes(pid); err == nil {
			mu.Lock()
			peak = max(peak, v)
			mu.Unlock()
		}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() int64 {
		close(stop)
		<-done
		sample()
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

// detect kills one node daemon with SIGKILL and times until the head
// lists it dead.
func (r *rows) detect(ctx context.Context) error {
	if !r.want(rowDetect) || len(r.c.nodes) < 2 {
		return nil
	}
	victim := r.c.nodes[len(r.c.nodes)-1]
	d, err := r.killAndWait(ctx, []*node{victim})
	if err != nil {
		return err
	}
	r.add(rowDetect, d.Seconds(), 0, "s")
	return nil
}

// silent cuts one node off without closing its connections (its link
// down, or SIGSTOP on loopback), as a machine that is lost rather than a
// process that died: only missed heartbeats tell the head.
func (r *rows) silent(ctx context.Context) error {
	if !r.want(rowSilent) || len(r.c.nodes) < 3 {
		return nil
	}
	victim := r.c.nodes[len(r.c.nodes)-2]
	how := "SIGSTOP"
	start := time.Now()
	victim.killed = true
	if r.c.nw.netns {
		how = "link down"
		if out, err := exec.Command("ip", "link", "set", "dev", victim.net.veth, "down").CombinedOutput(); err != nil {
			return fmt.Errorf("ip link set %s down: %w: %s", victim.net.veth, err, out)
		}
	} else {
		victim.p.kill(syscall.SIGSTOP)
	}
	defer victim.p.kill(syscall.SIGKILL) // a stopped process takes SIGKILL too
	if err := r.waitDead(ctx, []*node{victim}); err != nil {
		return err
	}
	r.add(fmt.Sprintf("%s (%s)", rowSilent, how), time.Since(start).Seconds(), 0, "s")
	return nil
}

// killAndWait kills the nodes' daemons (process groups) at once and
// returns how long the head took to list all of them dead.
func (r *rows) killAndWait(ctx context.Context, victims []*node) (time.Duration, error) {
	start := time.Now()
	for _, v := range victims {
		v.killed = true
		v.p.kill(syscall.SIGKILL)
	}
	if err := r.waitDead(ctx, victims); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// waitDead waits until the head lists every victim dead.
func (r *rows) waitDead(ctx context.Context, victims []*node) error {
	dead := func() (bool, error) {
		st, err := r.c.status(ctx)
		if err != nil {
			return false, nil
		}
		alive := map[string]bool{}
		for _, ns := range st.Nodes {
			alive[ns.Info.NodeID] = ns.Alive
		}
		for _, v := range victims {
			if alive[v.id] {
				return false, nil
			}
		}
		return true, nil
	}
	if err := poll(ctx, 2*time.Minute, dead); err != nil {
		return fmt.Errorf("waiting for the head to mark %d node(s) dead: %w", len(victims), err)
	}
	return nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return math.NaN()
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
