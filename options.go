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
}

func defaultCallOptions() callOptions {
	return callOptions{resources: map[string]float64{"CPU": 1}, maxRetries: 3}
}

func (o callOptions) clone() callOptions {
	c := o
	c.resources = make(map[string]float64, len(o.resources))
	for k, v := range o.resources {
		c.resources[k] = v
	}
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
		return nil
	}
}

// RetryExceptions retries a task whose function returned an error or
// panicked, up to MaxRetries times.
func RetryExceptions(retry bool) Option {
	return func(o *callOptions) error { o.retryExceptions = retry; return nil }
}

// Name sets the name the task shows in logs and errors.
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
