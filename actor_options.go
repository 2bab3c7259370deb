package rayo

import (
	"fmt"

	"github.com/rayo-dev/rayo/internal/core"
	"github.com/rayo-dev/rayo/internal/errs"
)

// Kinds of options for actor calls (Method.Options, RegisterMethod). They
// take high bits so that kinds added to options.go's list stay distinct.
const (
	methodCall optionKind = 1 << 6 // applies to an actor call
	callOnly   optionKind = 1 << 7 // applies to an actor call only, not to New
)

// DefaultConcurrencyGroup names an actor's default concurrency group, the
// one of the methods assigned to no group, limited by MaxConcurrency: as
// ConcurrencyGroup(DefaultConcurrencyGroup), it sends one call of a method
// registered in a named group to the default group instead.
const DefaultConcurrencyGroup = core.DefaultConcurrencyGroup

// ConcurrencyGroups gives an actor named concurrency groups, each running
// up to its limit of calls at once with a queue of its own, so that a call
// in one group never waits behind another group's (Ray's
// concurrency_groups={"io": 2, "compute": 4}). Methods not assigned to a
// group run in the default group, limited by MaxConcurrency. Assign a
// method with RegisterMethod(..., ConcurrencyGroup(name)), or one call
// with Method.Options(ConcurrencyGroup(name)). Methods of different groups
// may run at the same time: they must be safe for concurrent use. An
// empty name, the name "default" or a limit below 1 makes New fail with
// ErrInvalidOption.
func ConcurrencyGroups(groups map[string]int) Option {
	return func(o *callOptions) error {
		o.set |= actorOnly
		c := make(map[string]int, len(groups))
		for n, l := range groups {
			switch {
			case n == "":
				return fmt.Errorf("%w: a concurrency group needs a name", errs.ErrInvalidOption)
			case n == DefaultConcurrencyGroup:
				return fmt.Errorf("%w: the concurrency group %q is the actor's own (its limit is MaxConcurrency)", errs.ErrInvalidOption, n)
			case l < 1:
				return fmt.Errorf("%w: concurrency group %q: the limit must be ≥ 1, got %d", errs.ErrInvalidOption, n, l)
			}
			c[n] = l
		}
		o.groups = c
		return nil
	}
}

// ConcurrencyGroup runs an actor call in the named concurrency group of
// its actor (Ray's .options(concurrency_group=...)); given to
// RegisterMethod, it is the method's group for every call (Ray's
// @ray.method(concurrency_group=...)). A call naming a group its actor
// lacks fails with ErrInvalidOption.
func ConcurrencyGroup(name string) Option {
	return func(o *callOptions) error {
		o.set |= actorOnly | methodCall | callOnly
		if name == "" {
			return fmt.Errorf("%w: ConcurrencyGroup needs a name", errs.ErrInvalidOption)
		}
		o.group = name
		return nil
	}
}

// methodOptions are a method's call options: its registration's, then
// those Method.Options added.
type methodOptions struct {
	opts callOptions
	core core.ActorCallOptions
	err  error
}

func defaultMethodOptions() callOptions {
	// maxTaskRetries -2: the actor's (MaxTaskRetries refuses below -1).
	return callOptions{resources: map[string]float64{}, maxTaskRetries: -2}
}

// withMethodOptions applies opts over base, refusing those that do not
// apply to an actor call.
func withMethodOptions(base callOptions, opts []Option) *methodOptions {
	m := &methodOptions{opts: base.clone()}
	for i, f := range opts {
		prev := m.opts.set
		m.opts.set &^= methodCall
		err := f(&m.opts)
		if err == nil && m.opts.set&methodCall == 0 {
			err = fmt.Errorf("%w: option %d does not apply to an actor call; a call takes Name, ConcurrencyGroup, MaxTaskRetries and RetryExceptions (the actor's resources and placement are set at New)",
				errs.ErrInvalidOption, i+1)
		}
		m.opts.set |= prev
		if err != nil && m.err == nil {
			m.err = err
		}
	}
	o := m.opts
	m.core = core.ActorCallOptions{Name: o.name, Group: o.group, MaxTaskRetries: o.maxTaskRetries,
		SetRetries: o.maxTaskRetries != -2, RetryExceptions: o.retryExceptions}
	if m.core.Group == DefaultConcurrencyGroup {
		m.core.Group = ""
	}
	return m
}

// Options returns a copy of the method whose calls have these options, as
// Ray's actor.method.options(...): Name (the call's name in events, errors
// and `rayo list tasks`), ConcurrencyGroup, MaxTaskRetries (replaces the
// actor's for these calls: resends after the actor's worker died) and
// RetryExceptions (also resends, within those retries, a call that
// returned an error or panicked; a resent call may run after calls made
// later). Any other option makes every Remote of the copy fail with
// ErrInvalidOption: an actor's resources and placement are the actor's.
func (m *Method[A, R]) Options(opts ...Option) *Method[A, R] {
	if m == nil {
		return &Method[A, R]{call: &methodOptions{err: errZeroCall}}
	}
	c := *m
	c.call = m.options().with(opts)
	if c.call.err == nil && c.call.opts.set&streamOnly != 0 {
		c.call.err = fmt.Errorf("%w: StreamBackpressure applies to streaming methods (RegisterStreamMethod)", errs.ErrInvalidOption)
	}
	return &c
}

// with returns the options of a copy made with opts added (Method.Options
// and StreamMethod.Options): a copy of a copy keeps a misplaced option's
// error.
func (base *methodOptions) with(opts []Option) *methodOptions {
	o := withMethodOptions(base.opts, opts)
	if base.err != nil {
		o.err = base.err
	}
	return o
}

// options returns the method's call options; a Method made without
// RegisterMethod (decoded from another process) takes its registration's.
func (m *Method[A, R]) options() *methodOptions {
	if m.call != nil {
		return m.call
	}
	if m.actor == nil || m.def == nil {
		return &methodOptions{err: errZeroCall}
	}
	m.actor.mu.RLock()
	o := m.actor.callOpts[m.def.name]
	m.actor.mu.RUnlock()
	if o == nil {
		o = withMethodOptions(defaultMethodOptions(), nil)
	}
	return o
}
