package autoscale

import (
	"math"
	"sync"
	"time"
)

// ceilSlack absorbs float noise from averaging, so that a load of exactly
// target × n asks for n replicas, not n+1.
const ceilSlack = 1e-9

// direction is the way the policy has been wanting to move the target.
type direction int8

const (
	still direction = iota
	up
	down
)

// Policy is one deployment's autoscaler: it owns the deployment's Recorder
// and the state of its delays. The controller feeds it reports and calls
// Decide every control-loop tick (Ray: every 0.1 s); only decisions move the
// delay clocks. Safe for concurrent use.
type Policy struct {
	rec *Recorder

	mu      sync.Mutex
	cfg     Config
	dir     direction // wanted direction, still if none
	since   time.Time // when dir was first wanted, without a break
	last    Decision
	hasLast bool
	buf     []byte // reused to render each decision's Reason
}

// NewPolicy returns a Policy for cfg with defaults applied, or an error
// wrapping ErrInvalidConfig.
func NewPolicy(cfg Config) (*Policy, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Policy{cfg: cfg, rec: NewRecorder(cfg)}, nil
}

// Config returns the config in force, defaults applied.
func (p *Policy) Config() Config {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg
}

// SetConfig replaces the config (an application update), keeping the
// reports held and restarting the delays, as Ray does when a deployment is
// re-registered. On error nothing changes.
func (p *Policy) SetConfig(cfg Config) error {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg = cfg
	p.dir, p.since = still, time.Time{}
	p.rec.Configure(cfg)
	return nil
}

// Recorder returns the Recorder that the Policy decides from.
func (p *Policy) Recorder() *Recorder { return p.rec }

// Record is Recorder().Record.
func (p *Policy) Record(replicaID string, now time.Time, ongoing, queued int) {
	p.rec.Record(replicaID, now, ongoing, queued)
}

// RecordQueued is Recorder().RecordQueued.
func (p *Policy) RecordQueued(handleID string, now time.Time, queued int) {
	p.rec.RecordQueued(handleID, now, queued)
}

// DropReplica is Recorder().DropReplica.
func (p *Policy) DropReplica(replicaID string) { p.rec.DropReplica(replicaID) }

// Last returns the latest decision, if any.
func (p *Policy) Last() (Decision, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last, p.hasLast
}

// Decide is DecideRunning with running = target = current: for a
// deployment whose replicas are all up.
func (p *Policy) Decide(now time.Time, current int) Decision {
	return p.DecideRunning(now, current, current)
}

// DecideRunning decides the target replica count at now. running is the
// number of replicas serving; target is the count the controller is
// currently reconciling towards (the last decision's Desired). They differ
// while replicas start or stop: the step is taken from running, as in Ray,
// and the delays compare against target, so that a decision is not
// re-delayed while its replicas come up.
func (p *Policy) DecideRunning(now time.Time, running, target int) Decision {
	running, target = max(running, 0), max(target, 0)
	p.mu.Lock()
	defer p.mu.Unlock()
	cfg := &p.cfg
	load := p.rec.Load(now)

	in := Inputs{
		Running:        running,
		Target:         target,
		TotalOngoing:   load.Total(),
		ReplicaOngoing: load.Replicas,
		Queued:         load.Queued,
		QueuedNow:      load.LatestQueued,
		TargetOngoing:  cfg.TargetOngoingRequests,
		RawDesired:     load.Total() / cfg.TargetOngoingRequests,
		Min:            cfg.MinReplicas,
		Max:            cfg.MaxReplicas,
	}

	var desired int
	var act Action
	if running == 0 || target == 0 {
		// Cold start: Ray skips the delays and leaves their state alone.
		// The newest handle reports count too, so a request queued just
		// now wakes a replica at this decision, not when it has weighed
		// in the window's average. A target of zero with a replica still
		// draining is a cold start too, woken by queued requests only (the
		// draining replica's own requests need no new replica), so that a
		// request arriving while the last replica stops is not held up by
		// UpscaleDelay.
		desired, act = target, Hold
		if in.QueuedNow > 0 || (running == 0 && in.TotalOngoing > 0) {
			in.Factor = cfg.UpscaleFactor()
			in.Smoothed = max(ceil(in.Factor), target)
			desired = cfg.Clamp(in.Smoothed)
			if desired > target {
				act = ScaleFromZero
			}
		}
		in.Bounded = cfg.Clamp(desired)
		if running > 0 {
			in.PerReplica = in.TotalOngoing / float64(running)
		}
	} else {
		in.PerReplica = in.TotalOngoing / float64(running)
		in.Smoothed, in.Factor = smooth(in.RawDesired, running, cfg)
		in.Bounded = cfg.Clamp(in.Smoothed)
		desired, act = p.delay(now, &in)
	}

	// Ray bounds the policy's answer once more, so a target left outside
	// the bounds by a config change moves inside at once.
	if b := cfg.Clamp(desired); b != desired {
		desired, act = b, Bound
	}
	d := Decision{At: now, Desired: desired, Action: act, Inputs: in}
	p.buf = reason(p.buf[:0], act, &in, desired)
	d.Reason = string(p.buf)
	p.last, p.hasLast = d, true
	return d
}

// smooth applies the up- or downscaling factor to the step from running
// to raw. A downscale the factor would round away still removes one
// replica, so a small factor cannot pin the count forever.
func smooth(raw float64, running int, cfg *Config) (n int, factor float64) {
	delta := raw - float64(running)
	factor = cfg.DownscaleFactor()
	if delta > 0 {
		factor = cfg.UpscaleFactor()
	}
	n = ceil(float64(running) + factor*delta)
	if ceil(raw) < running && n == running {
		n--
	}
	return n, factor
}

// delay holds a change back until its direction has been wanted for the
// configured delay, filling in's delay fields, and returns the target and
// the action.
func (p *Policy) delay(now time.Time, in *Inputs) (int, Action) {
	cfg := &p.cfg
	want := in.Bounded
	var dir direction
	switch {
	case want > in.Target:
		dir = up
		in.Delay = cfg.upscaleDelay()
	case want < in.Target:
		dir = down
		if in.Target == 1 {
			in.Delay = cfg.downscaleToZeroDelay()
		} else {
			// Zero is reached only from one replica.
			in.Delay = cfg.downscaleDelay()
			want = max(want, 1)
			in.Bounded = want
		}
	default:
		p.dir, p.since = still, time.Time{}
		return in.Target, Hold
	}
	if p.dir != dir || now.Before(p.since) {
		p.dir, p.since = dir, now
	}
	in.Waited = now.Sub(p.since)
	if in.Waited >= in.Delay {
		p.dir, p.since = still, time.Time{}
		if dir == up {
			return want, ScaleUp
		}
		return want, ScaleDown
	}
	in.DelayRemaining = in.Delay - in.Waited
	if dir == up {
		return in.Target, WaitUp
	}
	return in.Target, WaitDown
}

func ceil(f float64) int {
	c := math.Ceil(f - ceilSlack)
	if c > math.MaxInt32 { // absurd loads must not overflow; max bounds it anyway
		return math.MaxInt32
	}
	return int(c)
}
