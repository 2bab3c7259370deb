package autoscale

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Action says what a Decision does to the target replica count.
type Action string

// The actions a Decision can carry.
const (
	// Hold keeps the target: load is at target, or no replica reports yet.
	Hold Action = "hold"
	// WaitUp keeps the target while an upscale waits out UpscaleDelay.
	WaitUp Action = "wait-up"
	// WaitDown keeps the target while a downscale waits out its delay.
	WaitDown Action = "wait-down"
	// ScaleUp raises the target after UpscaleDelay.
	ScaleUp Action = "scale-up"
	// ScaleDown lowers the target after DownscaleDelay (or
	// DownscaleToZeroDelay for one to zero).
	ScaleDown Action = "scale-down"
	// ScaleFromZero raises the target from zero running replicas at once,
	// because requests are waiting.
	ScaleFromZero Action = "scale-from-zero"
	// Bound moves a target outside [MinReplicas, MaxReplicas] inside at
	// once, as after a config change.
	Bound Action = "bound"
)

// Decision is one autoscaling decision: the target replica count and why.
type Decision struct {
	At      time.Time `json:"at"`
	Desired int       `json:"desired"` // the new target replica count
	Action  Action    `json:"action"`
	Reason  string    `json:"reason"` // one line, for logs and `rayo serve status`
	Inputs  Inputs    `json:"inputs"`
}

// Changed reports whether the decision moves the target.
func (d Decision) Changed() bool { return d.Desired != d.Inputs.Target }

// Inputs are the values a Decision was computed from.
type Inputs struct {
	Running int `json:"running"` // replicas running (the base of the step)
	Target  int `json:"target"`  // target before this decision

	// TotalOngoing is Load.Total(): ReplicaOngoing + Queued.
	TotalOngoing   float64 `json:"total_ongoing"`
	ReplicaOngoing float64 `json:"replica_ongoing"`
	Queued         float64 `json:"queued"`
	// PerReplica is TotalOngoing / Running (0 with none running).
	PerReplica    float64 `json:"per_replica"`
	TargetOngoing float64 `json:"target_ongoing"`

	// RawDesired is TotalOngoing / TargetOngoing.
	RawDesired float64 `json:"raw_desired"`
	// Factor is the up- or downscaling factor applied to the step.
	Factor float64 `json:"factor"`
	// Smoothed is ceil(Running + Factor × (RawDesired − Running)), less one
	// when a downscale would otherwise round to no change.
	Smoothed int `json:"smoothed"`
	// Bounded is Smoothed within [Min, Max] (and at least one unless going
	// from one to zero).
	Bounded int `json:"bounded"`
	Min     int `json:"min"` // MinReplicas
	Max     int `json:"max"` // MaxReplicas

	// Delay is the delay that applies to the wanted direction; Waited is
	// how long that direction has been wanted; DelayRemaining is what is
	// left (0 once applied).
	Delay          time.Duration `json:"delay"`
	Waited         time.Duration `json:"waited"`
	DelayRemaining time.Duration `json:"delay_remaining"`
}

// reason renders a Decision's one-line explanation. It is built once per
// decision (every control-loop tick), not per request.
func reason(a Action, in Inputs, desired int) string {
	var b strings.Builder
	b.Grow(192)
	load := func() {
		b.WriteString(ff(in.TotalOngoing))
		b.WriteString(" ongoing requests")
		if in.Queued > 0 {
			b.WriteString(" (")
			b.WriteString(ff(in.Queued))
			b.WriteString(" queued at handles)")
		}
	}
	step := func() {
		fmt.Fprintf(&b, " on %d replicas = %s/replica vs target %s → %s wanted",
			in.Running, ff(in.PerReplica), ff(in.TargetOngoing), ff(in.RawDesired))
		if in.Factor != 1 {
			fmt.Fprintf(&b, ", ×%s factor → %d", ff(in.Factor), in.Smoothed)
		}
		if in.Bounded != in.Smoothed {
			fmt.Fprintf(&b, ", bounded to %d [min %d, max %d]", in.Bounded, in.Min, in.Max)
		}
	}
	switch a {
	case ScaleFromZero:
		fmt.Fprintf(&b, "scale from zero %d→%d at once: ", in.Target, desired)
		load()
		b.WriteString(" with no replica running")
	case Bound:
		fmt.Fprintf(&b, "bound %d→%d: target outside [min %d, max %d]", in.Target, desired, in.Min, in.Max)
	case ScaleUp, ScaleDown:
		fmt.Fprintf(&b, "%s %d→%d after %s (delay %s): ", a, in.Target, desired, dur(in.Waited), dur(in.Delay))
		load()
		step()
	case WaitUp, WaitDown:
		dir := "up"
		if a == WaitDown {
			dir = "down"
		}
		fmt.Fprintf(&b, "hold %d, scale %s to %d wanted for %s of %s (%s left): ",
			in.Target, dir, in.Bounded, dur(in.Waited), dur(in.Delay), dur(in.DelayRemaining))
		load()
		step()
	default:
		fmt.Fprintf(&b, "hold %d: ", in.Target)
		switch {
		case in.Running > 0:
			load()
			step()
		case in.TotalOngoing > 0:
			load()
			b.WriteString(" waiting for the first replica to start")
		default:
			b.WriteString("no replica running and no request waiting")
		}
	}
	return b.String()
}

// ff formats a float compactly: at most two decimals, no trailing zeros.
func ff(f float64) string {
	s := strconv.FormatFloat(f, 'f', 2, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// dur formats a duration rounded to 100 ms, the control loop's grain.
func dur(d time.Duration) string {
	return d.Round(100 * time.Millisecond).String()
}
