package autoscale

import "time"

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
	// QueuedNow is the handles' newest reports summed, unaveraged.
	QueuedNow float64 `json:"queued_now"`
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
