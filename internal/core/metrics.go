package core

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rayo-dev/rayo/internal/protocol"
)

// Application metrics (rayo.NewCounter and the like) are recorded in the
// process, by a MetricsSource, and pushed to the head by the runtime:
// every MetricsPushPeriod when something changed, at least every
// MetricsKeepalive (so that the head, which retires processes that stop
// reporting, keeps this one, and a restarted head learns its values
// again), and once more, marked final, when the runtime closes.

// MetricsSource is the process's application metrics.
type MetricsSource interface {
	// MetricsVersion changes whenever a value is recorded.
	MetricsVersion() uint64
	// MetricsSnapshot returns every series' current value (cumulative
	// for counters and histograms). With reset, counters and histograms
	// start again from zero: the head has folded what they held into
	// its totals (the process closed its runtime), and a later runtime
	// of the same process reports only what comes after.
	MetricsSnapshot(reset bool) []protocol.MetricData
}

var metricsSource atomic.Pointer[MetricsSource]

// SetMetricsSource sets the process's application metrics (the rayo
// package does, at init).
func SetMetricsSource(src MetricsSource) { metricsSource.Store(&src) }

const (
	MetricsPushPeriod = time.Second
	MetricsKeepalive  = 10 * time.Second
	// metricsFinalWait bounds the final push when the runtime closes (a
	// worker gives its whole Close a second).
	metricsFinalWait = 500 * time.Millisecond
)

type metricsTarget struct{ head, job string }

// metricsPusher pushes the process's application metrics to the head.
type metricsPusher struct {
	rt     *Runtime
	target atomic.Pointer[metricsTarget]
	stopCh chan struct{}
	done   chan struct{}
	once   sync.Once

	// Owned by the loop, then by stop once the loop ended.
	sent   uint64
	sentAt time.Time
	pushed bool
}

// startMetrics starts the push loop.
func (rt *Runtime) startMetrics() *metricsPusher {
	p := &metricsPusher{rt: rt, stopCh: make(chan struct{}), done: make(chan struct{})}
	p.setTarget(rt.Job())
	go p.loop()
	return p
}

// setTarget records where to push (the driver learns its head and job
// after the runtime started).
func (p *metricsPusher) setTarget(j protocol.JobSpec) {
	if p != nil && j.HeadAddr != "" {
		p.target.Store(&metricsTarget{head: j.HeadAddr, job: j.JobID})
	}
}

func (p *metricsPusher) loop() {
	defer close(p.done)
	t := time.NewTicker(MetricsPushPeriod)
	defer t.Stop()
	for {
		select {
		case <-p.stopCh:
			return
		case <-t.C:
		}
		src := metricsSource.Load()
		if src == nil {
			continue
		}
		v := (*src).MetricsVersion()
		if v == p.sent && (!p.pushed || time.Since(p.sentAt) < MetricsKeepalive) {
			continue
		}
		ms := (*src).MetricsSnapshot(false)
		if len(ms) == 0 && !p.pushed {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := p.push(ctx, ms, false)
		cancel()
		if err != nil {
			continue // the next tick tries again; values are cumulative
		}
		p.sent, p.sentAt, p.pushed = v, time.Now(), true
	}
}

func (p *metricsPusher) push(ctx context.Context, ms []protocol.MetricData, final bool) error {
	tg := p.target.Load()
	if tg == nil {
		return errNoHead
	}
	c, err := p.rt.client(ctx, tg.head)
	if err != nil {
		return err
	}
	req := &protocol.ReportMetricsRequest{ProcessID: p.rt.cfg.WorkerID, NodeID: p.rt.nodeID, JobID: tg.job,
		Pid: os.Getpid(), Final: final, Metrics: ms}
	return c.Call(ctx, protocol.HeadReportMetrics, req, nil)
}

// stop ends the loop and pushes a final report, if this process has
// metrics. It runs before the runtime's connections close.
func (p *metricsPusher) stop() {
	if p == nil {
		return
	}
	p.once.Do(func() {
		close(p.stopCh)
		<-p.done
		src := metricsSource.Load()
		if src == nil {
			return
		}
		ms := (*src).MetricsSnapshot(true)
		if len(ms) == 0 && !p.pushed {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), metricsFinalWait)
		defer cancel()
		if err := p.push(ctx, ms, true); err != nil {
			p.rt.log.Warn("the final push of application metrics failed; the head keeps the last values it got", "err", err)
		}
	})
}

var errNoHead = errors.New("core: the head's address is not known yet")
