package rayo

import (
	"fmt"
	"math"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/sched"
)

// Option configures one task call (Task.Options).
type Option func(*callOptions) error

type callOptions struct {
	resources       map[string]float64
	maxRetries      int
	retryExceptions bool
	name            string
	strategy        sched.Strategy

	// Actor options.
	namespace      string
	detached       bool
	getIfExists    bool
	maxRestarts    int
	maxTaskRetries int
	maxConcurrency int

	// streamBackpressure: see StreamBackpressure (stream.go).
	streamBackpressure int

	// Placement group and bundle (-1: any), label selector.
	pg       string
	pgBundle int
	labels   []sched.LabelRequirement

	set optionKind // which kinds of options were given, to refuse misplaced ones
}

// placement returns the resources and strategy a call is scheduled with.
func (o callOptions) placement() (sched.Resources, sched.Strategy, error) {
	req := o.resources
	if o.pg != "" {
		req = bundleResources(req, o.pg, o.pgBundle)
	}
	res, err := sched.FromFloat(req)
	if err != nil {
		return nil, sched.Strategy{}, fmt.Errorf("%w: %v", errs.ErrInvalidOption, err)
	}
	st := o.strategy
	st.Labels = o.labels
	return res, st, nil
}

type optionKind uint8

const (
	taskOnly optionKind = 1 << iota
	actorOnly
)

// Tasks need 1 CPU by default; actors hold none while they live (as in
// Ray), so that idle actors do not starve tasks.
func defaultCallOptions() callOptions {
	return callOptions{resources: map[string]float64{"CPU": 1}, maxRetries: 3, maxConcurrency: 1}
}

func defaultActorOptions() callOptions {
	return callOptions{resources: map[string]float64{}, maxConcurrency: 1}
}

func (o callOptions) clone() callOptions {
	c := o
	c.resources = make(map[string]float64, len(o.resources))
	for k, v := range o.resources {
		c.resources[k] = v
	}
	c.labels = append([]sched.LabelRequirement(nil), o.labels...)
	return c
}

func nonNegative(what string, v float64) error {
	if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("%w: %s must be a finite number ≥ 0, got %v", errs.ErrInvalidOption, what, v)
	}
	return nil
}

// NumCPUs sets the CPUs a task needs (default 1; fractions allowed).
func NumCPUs(n float64) Option {
	return func(o *callOptions) error {
		o.resources["CPU"] = n
		return nonNegative("NumCPUs", n)
	}
}

// NumGPUs sets the GPUs a task needs (fractions allowed).
func NumGPUs(n float64) Option {
	return func(o *callOptions) error {
		o.resources["GPU"] = n
		return nonNegative("NumGPUs", n)
	}
}

// Memory sets the memory, in bytes, a task reserves (for scheduling only).
func Memory(bytes int64) Option {
	return func(o *callOptions) error {
		o.resources["memory"] = float64(bytes)
		return nonNegative("Memory", float64(bytes))
	}
}

// Resources adds custom resource requirements, such as {"special": 1}.
func Resources(r map[string]float64) Option {
	return func(o *callOptions) error {
		for k, v := range r {
			if k == "" {
				return fmt.Errorf("%w: empty resource name", errs.ErrInvalidOption)
			}
			if err := nonNegative("resource "+k, v); err != nil {
				return err
			}
			o.resources[k] = v
		}
		return nil
	}
}

// MaxRetries sets how many times a task is retried when its worker dies
// (default 3; -1 retries without limit; 0 never retries). With
// RetryExceptions it also bounds retries after application errors.
func MaxRetries(n int) Option {
	return func(o *callOptions) error {
		if n < -1 {
			return fmt.Errorf("%w: MaxRetries must be ≥ -1, got %d", errs.ErrInvalidOption, n)
		}
		o.maxRetries = n
		o.set |= taskOnly
		return nil
	}
}

// RetryExceptions retries a task whose function returned an error or
// panicked, up to MaxRetries times.
func RetryExceptions(retry bool) Option {
	return func(o *callOptions) error { o.retryExceptions = retry; o.set |= taskOnly; return nil }
}

// Name sets the name a task shows in logs and errors, or an actor's name,
// by which GetActor finds it in its namespace.
func Name(name string) Option {
	return func(o *callOptions) error { o.name = name; return nil }
}

// Spread places tasks on different nodes, round robin, where they fit.
func Spread() Option {
	return func(o *callOptions) error { o.strategy = sched.Strategy{Kind: sched.StrategySpread}; return nil }
}

// NodeAffinity runs the task on the given node. With soft, it falls back
// to the default policy when that node is dead or cannot hold the task.
func NodeAffinity(nodeID string, soft bool) Option {
	return func(o *callOptions) error {
		if nodeID == "" {
			return fmt.Errorf("%w: NodeAffinity needs a node ID", errs.ErrInvalidOption)
		}
		o.strategy = sched.Strategy{Kind: sched.StrategyNodeAffinity, NodeID: nodeID, Soft: soft}
		return nil
	}
}

// Namespace sets the namespace of a named actor (New, GetActor). The
// default is the job's namespace (WithNamespace, else one of its own).
func Namespace(ns string) Option {
	return func(o *callOptions) error { o.namespace = ns; o.set |= actorOnly; return nil }
}

// Detached makes an actor outlive the job that created it; it lives until
// killed. As in Ray, it may be unnamed: its handles (passed on in values)
// still reach it.
func Detached() Option {
	return func(o *callOptions) error { o.detached = true; o.set |= actorOnly; return nil }
}

// GetIfExists makes New return the existing actor of that Name instead of
// failing with ErrActorNameTaken.
func GetIfExists() Option {
	return func(o *callOptions) error { o.getIfExists = true; o.set |= actorOnly; return nil }
}

// MaxRestarts sets how many times an actor is restarted after its process
// dies (default 0; -1 without limit).
func MaxRestarts(n int) Option {
	return func(o *callOptions) error {
		o.set |= actorOnly
		if n < -1 {
			return fmt.Errorf("%w: MaxRestarts must be ≥ -1, got %d", errs.ErrInvalidOption, n)
		}
		o.maxRestarts = n
		return nil
	}
}

// MaxTaskRetries sets how many times a call in flight when the actor's
// process died is resent to the restarted actor (default 0; -1 without
// limit).
func MaxTaskRetries(n int) Option {
	return func(o *callOptions) error {
		o.set |= actorOnly
		if n < -1 {
			return fmt.Errorf("%w: MaxTaskRetries must be ≥ -1, got %d", errs.ErrInvalidOption, n)
		}
		o.maxTaskRetries = n
		return nil
	}
}

// MaxConcurrency lets an actor run up to n calls at once, each on its own
// goroutine (default 1: one call at a time, in order). Above 1, the
// actor's methods must be safe for concurrent use.
func MaxConcurrency(n int) Option {
	return func(o *callOptions) error {
		o.set |= actorOnly
		if n < 1 {
			return fmt.Errorf("%w: MaxConcurrency must be ≥ 1, got %d", errs.ErrInvalidOption, n)
		}
		o.maxConcurrency = n
		return nil
	}
}

// CancelOption changes what Cancel does.
type CancelOption func(*cancelOptions)

type cancelOptions struct{ recursive bool }

// Recursive says whether Cancel also cancels the tasks the cancelled task
// submitted, and theirs in turn: true by default, as Ray's recursive.
func Recursive(on bool) CancelOption {
	return func(o *cancelOptions) { o.recursive = on }
}
