package autoscale

import (
	"strconv"
	"time"
)

// reason appends a Decision's one-line explanation to buf. It runs once per
// decision (every control-loop tick), so it appends into a buffer the
// Policy reuses rather than going through fmt.
func reason(buf []byte, a Action, in *Inputs, desired int) []byte {
	b := appender(buf)
	load := func() {
		b.f(in.TotalOngoing).s(" ongoing requests")
		if in.Queued > 0 {
			b.s(" (").f(in.Queued).s(" queued at handles)")
		}
	}
	// waiting describes the load that wakes a deployment at zero: the
	// newest handle reports if any, else the window's average.
	waiting := func() {
		if in.QueuedNow > 0 {
			b.f(in.QueuedNow).s(" requests queued at handles")
			return
		}
		b.f(in.TotalOngoing).s(" ongoing requests in the look-back window")
	}
	step := func() {
		b.s(" on ").i(in.Running).s(" replicas = ").f(in.PerReplica).s("/replica vs target ").
			f(in.TargetOngoing).s(" → ").f(in.RawDesired).s(" wanted")
		if in.Factor != 1 {
			b.s(", ×").f(in.Factor).s(" factor → ").i(in.Smoothed)
		}
		if in.Bounded != in.Smoothed {
			b.s(", bounded to ").i(in.Bounded).s(" [min ").i(in.Min).s(", max ").i(in.Max).s("]")
		}
	}
	switch a {
	case ScaleFromZero:
		b.s("scale from zero ").i(in.Target).s("→").i(desired).s(" at once: ")
		waiting()
		b.s(" with no replica running")
	case Bound:
		b.s("bound ").i(in.Target).s("→").i(desired).s(": target outside [min ").i(in.Min).s(", max ").i(in.Max).s("]")
	case ScaleUp, ScaleDown:
		b.s(string(a)).s(" ").i(in.Target).s("→").i(desired).s(" after ").d(in.Waited).s(" (delay ").d(in.Delay).s("): ")
		load()
		step()
	case WaitUp, WaitDown:
		dir := " up"
		if a == WaitDown {
			dir = " down"
		}
		b.s("hold ").i(in.Target).s(", scale").s(dir).s(" to ").i(in.Bounded).s(" wanted for ").d(in.Waited).
			s(" of ").d(in.Delay).s(" (").d(in.DelayRemaining).s(" left): ")
		load()
		step()
	default:
		b.s("hold ").i(in.Target).s(": ")
		switch {
		case in.Running > 0:
			load()
			step()
		case in.TotalOngoing > 0 || in.QueuedNow > 0:
			waiting()
			b.s(", waiting for the first replica to start")
		default:
			b.s("no replica running and no request waiting")
		}
	}
	return *b
}

// line appends text without fmt's reflection.
type line []byte

func appender(buf []byte) *line { b := line(buf); return &b }

func (b *line) s(x string) *line { *b = append(*b, x...); return b }

func (b *line) i(x int) *line { *b = strconv.AppendInt(*b, int64(x), 10); return b }

// f appends a float with at most two decimals and no trailing zeros.
func (b *line) f(x float64) *line {
	n := len(*b)
	*b = strconv.AppendFloat(*b, x, 'f', 2, 64)
	for len(*b) > n && (*b)[len(*b)-1] == '0' {
		*b = (*b)[:len(*b)-1]
	}
	if len(*b) > n && (*b)[len(*b)-1] == '.' {
		*b = (*b)[:len(*b)-1]
	}
	if len(*b) == n { // "0.00" trimmed to nothing
		*b = append(*b, '0')
	}
	return b
}

// d appends a duration rounded to 100 ms, the control loop's grain.
func (b *line) d(x time.Duration) *line { return b.s(x.Round(100 * time.Millisecond).String()) }
