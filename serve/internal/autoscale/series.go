package autoscale

// MaxSamplesPerSource caps the reports kept per replica or handle. Reports
// older than the look-back period are trimmed anyway; the cap only bites
// when a source reports more than this many times per look-back period, and
// then the oldest go first (the window effectively shortens).
const MaxSamplesPerSource = 1024

// sample is one report: a count at a time (Unix nanoseconds).
type sample struct {
	t int64
	v float64
}

// series is one source's reports, oldest first, as a step function: each
// value holds from its time until the next report (the last until now).
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
// same time replaces it.
func (x *series) add(t int64, v float64, cutoff int64) {
	if x.len() > 0 {
		switch last := x.last(); {
		case t < last.t:
			return
		case t == last.t:
			x.s[len(x.s)-1].v = v
			return
		}
	}
	x.s = append(x.s, sample{t, v})
	x.trim(cutoff)
}

func (x *series) trim(cutoff int64) {
	for x.head+1 < len(x.s) && x.s[x.head+1].t <= cutoff {
		x.head++
	}
	if x.len() > MaxSamplesPerSource {
		x.head = len(x.s) - MaxSamplesPerSource
	}
	// Compact once the dead prefix is at least half the slice, so each
	// sample is copied O(1) times on average.
	if x.head > 0 && x.head >= len(x.s)/2 {
		n := copy(x.s, x.s[x.head:])
		x.s = x.s[:n]
		x.head = 0
	}
}

// aggregate reduces the step function over [start, now] with agg, where
// start is the later of from and the first report. A window of zero length
// (a single report at now) yields the newest value. ok is false when the
// series is empty.
func (x *series) aggregate(from, now int64, agg Aggregation) (v float64, ok bool) {
	live := x.s[x.head:]
	if len(live) == 0 {
		return 0, false
	}
	start := max(from, live[0].t)
	if now <= start {
		return live[len(live)-1].v, true
	}
	var integral float64
	first := true
	for i, smp := range live {
		segStart := max(smp.t, start)
		segEnd := now
		if i+1 < len(live) {
			segEnd = min(live[i+1].t, now)
		}
		if segEnd <= segStart {
			continue // superseded before the window, or after now
		}
		switch agg {
		case AggregationMax:
			if first || smp.v > v {
				v = smp.v
			}
		case AggregationMin:
			if first || smp.v < v {
				v = smp.v
			}
		default:
			integral += smp.v * float64(segEnd-segStart)
		}
		first = false
	}
	if agg == AggregationMax || agg == AggregationMin {
		if first { // every report is after now: use the newest
			return live[len(live)-1].v, true
		}
		return v, true
	}
	return integral / float64(now-start), true
}
