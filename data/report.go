package data

import (
	"os"
	"sync"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/data/internal/progress"
)

// reporter shows a run's progress (bars or lines, see Progress) and
// exports its figures as rayo_data_* metrics at the dashboard's /metrics.
type reporter struct {
	rep  *progress.Reporter
	last map[string]OpStats // per operator: what the metrics have counted
}

func newReporter(o execOptions, p *plan) *reporter {
	names := make([]string, len(p.ops))
	for i, op := range p.ops {
		names[i] = op.label
	}
	mode := map[ProgressMode]progress.Mode{ProgressAuto: progress.Auto, ProgressBars: progress.Bars,
		ProgressLines: progress.Lines, ProgressQuiet: progress.Quiet}[o.Progress]
	w := o.progressTo
	if w == nil {
		w = os.Stderr
	}
	return &reporter{rep: progress.New(w, mode, names, progress.Options{}), last: map[string]OpStats{}}
}

func (r *reporter) update(stats []OpStats) {
	m := dataMetrics()
	for _, s := range stats {
		r.rep.Update(progress.Stats{Op: s.Op, Rows: s.Rows, Blocks: s.Blocks, Bytes: s.Bytes, StoreBytes: s.Queued, Done: s.Done})
		if m.err != nil {
			continue
		}
		prev := r.last[s.Op]
		if d := s.Rows - prev.Rows; d > 0 {
			_ = m.rows.Inc(float64(d), "operator", s.Op)
		}
		if d := s.Blocks - prev.Blocks; d > 0 {
			_ = m.blocks.Inc(float64(d), "operator", s.Op)
		}
		if d := s.Bytes - prev.Bytes; d > 0 {
			_ = m.bytes.Inc(float64(d), "operator", s.Op)
		}
		_ = m.queued.Set(float64(s.Queued), "operator", s.Op)
		r.last[s.Op] = s
	}
}

func (r *reporter) close() { r.rep.Close() }

// metrics are Data's figures at /metrics.
type metrics struct {
	rows, blocks, bytes *rayo.Counter
	queued              *rayo.Gauge
	err                 error
}

var (
	metricsOnce sync.Once
	theMetrics  metrics
)

func dataMetrics() *metrics {
	metricsOnce.Do(func() {
		m := &theMetrics
		if m.rows, m.err = rayo.NewCounter("rayo_data_output_rows_total", "Rows produced by Data operators.", "operator"); m.err != nil {
			return
		}
		if m.blocks, m.err = rayo.NewCounter("rayo_data_output_blocks_total", "Blocks produced by Data operators.", "operator"); m.err != nil {
			return
		}
		if m.bytes, m.err = rayo.NewCounter("rayo_data_output_bytes_total", "Bytes of the blocks produced by Data operators.", "operator"); m.err != nil {
			return
		}
		m.queued, m.err = rayo.NewGauge("rayo_data_queued_bytes", "Bytes of an operator's output waiting in the object store for the next operator.", "operator")
	})
	return &theMetrics
}
