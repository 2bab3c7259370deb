package core

import (
	"fmt"
	"sort"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/protocol"
)

// DefaultConcurrencyGroup names the actor's default group in a call's
// options: the group of methods assigned to none, limited by the actor's
// MaxConcurrency. A call's Group "" means the same.
const DefaultConcurrencyGroup = "default"

// concGroup is one concurrency group of a hosted actor (Ray's
// concurrency_groups): its own limit and its own queue, so that calls in
// one group never wait behind another group's. Calls in a group start in
// the order they arrive. Guarded by the host's mu.
type concGroup struct {
	name    string
	limit   int
	running int
	queue   []*hostedCall
}

// admit takes a call that arrived: true when it may start at once (the
// group is below its limit and nothing waits before it), else it queues.
func (g *concGroup) admit(c *hostedCall) bool {
	if g.running < g.limit && len(g.queue) == 0 {
		g.running++
		return true
	}
	g.queue = append(g.queue, c)
	return false
}

// next returns the queued call that may start now, or nil.
func (g *concGroup) next() *hostedCall {
	if g.running >= g.limit || len(g.queue) == 0 {
		return nil
	}
	c := g.queue[0]
	g.queue[0] = nil
	g.queue = g.queue[1:]
	g.running++
	return c
}

// done records the end of a running call.
func (g *concGroup) done() { g.running-- }

// remove takes a queued call out of the queue; false if it is not queued
// (it runs, or ran).
func (g *concGroup) remove(c *hostedCall) bool {
	for i, x := range g.queue {
		if x == c {
			g.queue = append(g.queue[:i], g.queue[i+1:]...)
			return true
		}
	}
	return false
}

// newGroups builds an actor's groups from its spec: the default one with
// MaxConcurrency, and each named one. Limits below 1 (refused at New) are
// taken as 1 rather than blocking the group for good.
func newGroups(spec *protocol.ActorSpec) (def *concGroup, named map[string]*concGroup) {
	def = &concGroup{name: DefaultConcurrencyGroup, limit: max(spec.MaxConcurrency, 1)}
	if len(spec.ConcurrencyGroups) == 0 {
		return def, nil
	}
	named = make(map[string]*concGroup, len(spec.ConcurrencyGroups))
	for n, l := range spec.ConcurrencyGroups {
		named[n] = &concGroup{name: n, limit: max(l, 1)}
	}
	return def, named
}

// groupLocked returns the group a call asks for, or an ErrInvalidOption
// task error when the actor has no such group.
func (h *actorHost) groupLocked(c *hostedCall, name string) (*concGroup, *errs.TaskError) {
	if name == "" || name == DefaultConcurrencyGroup {
		return h.defGroup, nil
	}
	if g := h.groups[name]; g != nil {
		return g, nil
	}
	have := make([]string, 0, len(h.groups))
	for n := range h.groups {
		have = append(have, n)
	}
	sort.Strings(have)
	return nil, errs.NewTaskError(h.callName(c), c.req.TaskID, errs.ErrInvalidOption,
		fmt.Errorf("%w: actor %s has no concurrency group %q (it has %q and the default)", errs.ErrInvalidOption, h.spec.Class, name, have), "", false)
}

// callName is the name a call shows in events and errors.
func (h *actorHost) callName(c *hostedCall) string {
	if c.req.Name != "" {
		return c.req.Name
	}
	return h.spec.Class + "." + c.req.Method
}

// cancelHosted cancels a call this worker's actor has accepted, for the
// caller's Cancel: a queued call is dropped and answered ErrTaskCancelled;
// a running one (or one about to run) is marked, and run cancels its
// context or skips it. False if the actor holds no such call.
func (rt *Runtime) cancelHosted(taskID string) bool {
	rt.runningMu.Lock()
	h := rt.host
	rt.runningMu.Unlock()
	if h == nil {
		return false
	}
	h.mu.Lock()
	c := h.calls[taskID]
	if c == nil {
		h.mu.Unlock()
		return false
	}
	c.cancelled.Store(true)
	queued := c.group.remove(c)
	if queued {
		delete(h.calls, taskID)
	}
	h.mu.Unlock()
	if queued {
		w := cancelledCallError(h.callName(c), taskID).ToWire()
		c.reply(&protocol.PushTaskReply{Err: w}, nil)
	}
	return true
}

// cancelledCallError is the error of an actor call that Cancel stopped.
func cancelledCallError(name, taskID string) *errs.TaskError {
	return errs.NewTaskError(name, taskID, errs.ErrTaskCancelled, errs.ErrTaskCancelled, "", false)
}

// cancelledOutcome is a call's error once it ran or was about to: a
// cancelled call that fails (typically with its ctx's error) or never
// started reports ErrTaskCancelled; one that returned a value keeps it.
func cancelledOutcome(c *hostedCall, name string, terr *errs.TaskError) *errs.TaskError {
	if terr != nil && c.cancelled.Load() && terr.Cause != errs.ErrTaskCancelled {
		return cancelledCallError(name, c.req.TaskID)
	}
	return terr
}
