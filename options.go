package rayo

import (
	"fmt"
	"maps"
	"math"

	"github.com/rayo-dev/rayo/internal/core"
	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
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

	env map[string]string // EnvVars

	set optionKind // which kinds of options were given, to refuse misplaced ones

	// Concurrency groups: an actor's (ConcurrencyGroups), a call's
	// (ConcurrencyGroup).
	groups map[string]int
	group  string
}

// placement returns the resources and strategy a call is scheduled with.
func (o callOptions) placement() (sched.Resources, sched.Strategy, error) {
	req := o.resources
	if o.pg != "" {
		req = protocol.BundleResources(req, o.pg, o.pgBundle)
	}
	res, err := sched.FromFloat(req)
	if err != nil {
		return nil, sched.Strategy{}, fmt.Errorf("%w: %v", errs.ErrInvalidOption, err)
	}
	st := o.strategy
	st.Labels = o.labels
	return res, st, nil
}

// submitOptions is what a task call (Remote, RemoteN, a stream's Remote)
// is submitted with: its placement, retries, display name and
// environment, worked out in one place so that every kind of task call
// takes every option.
func (o callOptions) submitOptions(name string) (core.SubmitOptions, error) {
	res, strat, err := o.placement()
	if err != nil {
		return core.SubmitOptions{}, err
	}
	return core.SubmitOptions{Name: name, Display: o.name, Resources: res, Strategy: strat, MaxRetries: o.maxRetries,
		RetryExceptions: o.retryExceptions, Env: o.callEnv(), Counted: true}, nil
}

type optionKind uint8

const (
	taskOnly optionKind = 1 << iota
	actorOnly
	streamOnly // StreamBackpressure: streaming tasks and methods only
)

// errZeroCall is the error of a call through a zero or nil *Task,
// *StreamTask, *Method or *StreamMethod (one not made by Register...).
var errZeroCall = fmt.Errorf("%w: the zero or nil task or method refers to no registration", errs.ErrBadCall)

// misplacedForTask says why a (streaming, if streaming) task call cannot
// take the options in set; nil if it can.
func misplacedForTask(set optionKind, streaming bool) error {
	switch {
	case set&callOnly != 0:
		return fmt.Errorf("%w: ConcurrencyGroup applies to actor calls", errs.ErrInvalidOption)
	case set&actorOnly != 0:
		return fmt.Errorf("%w: Namespace, Detached, GetIfExists, MaxRestarts, MaxTaskRetries, MaxConcurrency and ConcurrencyGroups apply to actors", errs.ErrInvalidOption)
	case set&streamOnly != 0 && !streaming:
		return fmt.Errorf("%w: StreamBackpressure applies to streaming tasks and methods (RegisterStream, RegisterStreamMethod)", errs.ErrInvalidOption)
	}
	return nil
}

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
	if o.env != nil {
		c.env = maps.Clone(o.env)
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
		o.set |= taskOnly
		return nil
	}
}

// RetryExceptions retries a task whose function returned an error or
// panicked, up to MaxRetries times; on an actor call (Method.Options,
// RegisterMethod), up to the call's MaxTaskRetries (Ray's
// retry_exceptions on actor methods).
func RetryExceptions(retry bool) Option {
	return func(o *callOptions) error { o.retryExceptions = retry; o.set |= taskOnly | methodCall; return nil }
}

// Name sets the name a task shows in logs and errors, or an actor's name,
// by which GetActor finds it in its namespace; on Method.Options, the
// name an actor call shows in events and errors.
func Name(name string) Option {
	return func(o *callOptions) error { o.name = name; o.set |= methodCall; return nil }
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
// limit). On Method.Options or RegisterMethod it replaces the actor's
// for those calls.
func MaxTaskRetries(n int) Option {
	return func(o *callOptions) error {
		o.set |= actorOnly | methodCall
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

// EnvVars sets environment variables for the process that runs a task or
// an actor, on top of the job's (WithEnv): Ray's
// runtime_env={"env_vars": {...}}. Given twice, the maps merge (the
// later value of a name wins). As in Ray, the tasks and actors a task or
// actor submits inherit its variables, merged under their own.
//
// The node keeps a pool of workers per environment: a call with these
// variables runs only in a worker started with exactly them (the job's
// first call of an environment waits for a process to start), and idle
// workers of an environment are stopped like other idle workers. Values
// appear in no command line, log or listing (they may be secrets); the
// head keeps an actor's in its state store, private to the cluster's
// user, to restart the actor with them, as Ray's GCS keeps runtime_env.
//
// A name that is empty or holds '=' or NUL, or a value that holds NUL,
// is ErrInvalidOption. So are names starting with RAYO_ (rayo's own: the
// worker's node address, job, token and TLS identity) and
// CUDA_VISIBLE_DEVICES, which the node sets from the GPUs it grants.
func EnvVars(env map[string]string) Option {
	return func(o *callOptions) error {
		for k, v := range env {
			if err := protocol.CheckEnvVar(k, v); err != nil {
				return err
			}
		}
		if o.env == nil {
			o.env = make(map[string]string, len(env))
		}
		maps.Copy(o.env, env)
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
