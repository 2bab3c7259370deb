package tune

import (
	"fmt"
	"slices"
	"time"
)

// newReporter makes the status table's reporter, nil when Quiet.
func (tn *Tuner) newReporter() *reporter {
	if tn.rc.Quiet {
		return nil
	}
	tty := isTerminal(tn.rc.Progress)
	every := tn.rc.ProgressInterval
	if every <= 0 {
		every = 30 * time.Second
		if tty {
			every = time.Second
		}
	}
	return newReporter(tn.rc.Progress, tty, every)
}

// snapshot is the status table's content now.
func (r *runner) snapshot(now time.Time) statusSnapshot {
	s := statusSnapshot{Experiment: r.tn.rc.Name, Metric: r.tn.tc.Metric, Mode: r.tn.tc.Mode, Elapsed: now.Sub(r.started),
		Counts: map[TrialState]int{}, Total: r.limit}
	var best *trial
	var bestV float64
	var live, others []*trial
	for _, t := range r.order {
		s.Counts[t.state]++
		if t.running {
			live = append(live, t)
		} else {
			others = append(others, t)
		}
		if s.Metric == "" {
			continue
		}
		if l := t.last(); l != nil {
			if v, ok := l.Value(s.Metric); ok && (best == nil || s.Mode.Better(v, bestV)) {
				best, bestV = t, v
			}
		}
	}
	row := func(t *trial) statusRow {
		sr := statusRow{ID: t.id, State: t.state, Params: flatValues(t), Iteration: t.iteration, Note: t.note}
		if l := t.last(); l != nil {
			sr.Metrics = l.Metrics
		}
		if t.err != nil {
			sr.Note = firstLine(t.err)
		}
		return sr
	}
	if best != nil {
		b := row(best)
		s.Best = &b
	}
	// Running trials first, then the most recently created others.
	slices.Reverse(others)
	for _, t := range append(live, others...) {
		s.Rows = append(s.Rows, row(t))
	}
	s.Resources = fmt.Sprintf("%d/%d trials running", r.running, r.capacity)
	return s
}

// flatValues are the trial's searched values by path, for its row.
func flatValues(t *trial) map[string]any {
	flat := t.params.Flat()
	if len(t.values) == 0 {
		return flat
	}
	out := map[string]any{}
	for k := range t.values {
		if v, ok := flat[k]; ok {
			out[k] = v
		}
	}
	return out
}

func (r *runner) refresh(now time.Time) {
	s := r.snapshot(now)
	observeStates(r.tn.rc.Name, s.Counts)
	if r.reporter != nil {
		r.reporter.update(s, now)
	}
}

func (r *runner) refreshFinal() {
	s := r.snapshot(time.Now())
	observeStates(r.tn.rc.Name, s.Counts)
	if r.reporter != nil {
		r.reporter.final(s)
	}
}
