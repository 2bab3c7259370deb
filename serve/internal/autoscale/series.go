package autoscale

import "sort"

// MaxSamplesPerSource caps the reports kept per replica or handle. Reports
// older than the look-back period are trimmed anyway; the cap only bites
// when a source reports more than this many times per look-back period, and
// then the oldest go first (the window effectively shortens).
const MaxSamplesPerSource = 1024

// sample is one report: a count v at time t (Unix nanoseconds), and cum,
// the integral of the series from its first kept sample up to t, so that
// the integral over any interval costs two binary searches.
type sample struct {
	t   int64
	v   float64
	cum float64
}

// series is one source's reports, oldest first, as a step function: each
// value holds from its time until the next report (the last until now, or
// until the source is gone). Before its first report a source counts 0.
// s[head:] is live; the prefix is reclaimed by compaction.
type series struct {
	s    []sample
	head int
}

func (x *series) len() int { return len(x.s) - x.head }

func (x *series) last() sample { return x.s[len(x.s)-1] }

// add appends a report and trims what the window no longer needs: every
// sample older than cutoff except the newest of them, which gives the
// value at the window's start. A report older than the newest is dropped
// (reports can arrive out of order; Ray keeps the newest too); one at the
// same time replaces it. It reports whether the report was kept.
func (x *series) add(t int64, v float64, cutoff int64) bool {
	cum := 0.0
	if x.len() > 0 {
		last := x.last()
		switch {
		case t < last.t:
			return false
		case t == last.t:
			x.s[len(x.s)-1].v = v
			return true
		}
		cum = last.cum + last.v*float64(t-last.t)
	}
	x.s = append(x.s, sample{t, v, cum})
	x.trim(cutoff)
	return true
}

func (x *series) trim(cutoff int64) {
	for x.head+1 < len(x.s) && x.s[x.head+1].t <= cutoff {
		x.head++
	}
	if x.len() > MaxSamplesPerSource {
		x.head = len(x.s) - MaxSamplesPerSource
	}
	// Compact once the dead prefix is at least half the slice, so each
	// sample is copied O(1) times on average; rebase cum on the way so it
	// stays the size of one window's integral, keeping its precision.
	if x.head > 0 && x.head >= len(x.s)/2 {
		base := x.s[x.head].cum
		n := copy(x.s, x.s[x.head:])
		x.s = x.s[:n]
		x.head = 0
		for i := range x.s {
			x.s[i].cum -= base
		}
	}
}

// cumAt is the integral from the first kept sample up to t, the value
// being 0 before that sample and after end (when the source is gone).
func (x *series) cumAt(t, end int64) float64 {
	t = min(t, end)
	live := x.s[x.head:]
	if t <= live[0].t {
		return live[0].cum
	}
	// j is the last sample at or before t.
	j := sort.Search(len(live), func(i int) bool { return live[i].t > t }) - 1
	return live[j].cum + live[j].v*float64(t-live[j].t)
}

// integral is the integral of the series over [a, b], for a non-empty
// series; end is when the source went away (or MaxInt64).
func (x *series) integral(a, b, end int64) float64 {
	if b <= a {
		return 0
	}
	return x.cumAt(b, end) - x.cumAt(a, end)
}

// extreme is the largest (or smallest, for AggregationMin) value the series
// takes over [max(from, first report), now]; a window of zero length gives
// the newest value. This is per source, as in Ray's simple mode.
func (x *series) extreme(from, now int64, agg Aggregation) float64 {
	live := x.s[x.head:]
	start := max(from, live[0].t)
	if now <= start {
		return live[len(live)-1].v
	}
	var v float64
	first := true
	for i, smp := range live {
		segEnd := now
		if i+1 < len(live) {
			segEnd = min(live[i+1].t, now)
		}
		if segEnd <= max(smp.t, start) {
			continue // superseded before the window, or after now
		}
		if first || (agg == AggregationMax && smp.v > v) || (agg == AggregationMin && smp.v < v) {
			v = smp.v
		}
		first = false
	}
	if first { // every report is after now: use the newest
		return live[len(live)-1].v
	}
	return v
}
