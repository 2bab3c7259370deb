package serve

import (
	"context"
	"time"

	"github.com/rayo-dev/rayo/serve/internal/autoscale"
)

// AutoscalingConfig is a deployment's autoscaling (Ray's
// autoscaling_config), with Ray's names and defaults; zero fields take
// them. MaxReplicas must be given; MinReplicas 0 allows scale to zero.
type AutoscalingConfig = autoscale.Config

// autoscaler is a deployment's policy in the controller: the replicas'
// ongoing requests (every statsEvery) and the requests waiting at zero
// replicas feed it; each decision is logged with its reason and shown in
// the status.
type autoscaler struct {
	policy *autoscale.Policy
	target int
	last   string
}

// newAutoscaler starts a deployment's policy at its initial count.
func newAutoscaler(cfg AutoscalingConfig) (*autoscaler, error) {
	p, err := autoscale.NewPolicy(cfg.WithDefaults())
	if err != nil {
		return nil, err
	}
	return &autoscaler{policy: p, target: cfg.WithDefaults().StartReplicas()}, nil
}

// decide updates the target from the load; it reports whether it
// changed.
func (a *autoscaler) decide(now time.Time, running int) (autoscale.Decision, bool) {
	d := a.policy.DecideRunning(now, running, a.target)
	a.last = d.Reason
	if d.Desired != a.target {
		a.target = d.Desired
		return d, true
	}
	return d, false
}

// queued tells the controller that a proxy or handle holds requests for
// a deployment with no replica (scale from zero).
func (c *controllerActor) queued(_ context.Context, app, dep, source string, n int) (bool, error) {
	c.mu.Lock()
	st := c.deps[depKey{app, dep}]
	if st != nil && st.auto != nil {
		st.auto.policy.RecordQueued(source, time.Now(), n)
	}
	c.mu.Unlock()
	c.poke()
	return true, nil
}
