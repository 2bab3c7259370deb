package protocol

import (
	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/sched"
)

// Head methods for actors.
const (
	HeadCreateActor = "head.CreateActor"
	HeadGetActor    = "head.GetActor"
	HeadKillActor   = "head.KillActor"
	HeadActorExited = "head.ActorExited"
	HeadListActors  = "head.ListActors"
)

// Worker methods for actors.
const (
	WorkerCreateActor = "core.CreateActor"
	WorkerActorCall   = "core.ActorCall"
)

// Actor states, as Ray names them.
const (
	ActorPending    = "PENDING_CREATION"
	ActorAlive      = "ALIVE"
	ActorRestarting = "RESTARTING"
	ActorDead       = "DEAD"
)

// Death causes (ActorDeath.Code).
const (
	DeathKilled      = "killed"
	DeathCrashed     = "process_crashed"
	DeathNodeDied    = "node_died"
	DeathConstructor = "constructor_failed"
	DeathOutOfScope  = "out_of_scope"
	DeathExited      = "exited"
	DeathOwnerDied   = "owner_died"
	DeathPGRemoved   = "pg_removed"
)

// ActorSpec is everything needed to create (and re-create) an actor.
type ActorSpec struct {
	ActorID        string          `msgpack:"id"`
	Class          string          `msgpack:"class"`
	Name           string          `msgpack:"name,omitempty"`
	Namespace      string          `msgpack:"ns,omitempty"`
	Detached       bool            `msgpack:"detached,omitempty"`
	GetIfExists    bool            `msgpack:"getex,omitempty"`
	Args           []Arg           `msgpack:"args"`
	Resources      sched.Resources `msgpack:"res,omitempty"`
	Strategy       sched.Strategy  `msgpack:"strat"`
	MaxRestarts    int             `msgpack:"maxrs"`
	MaxTaskRetries int             `msgpack:"maxtr"`
	MaxConcurrency int             `msgpack:"maxc"`
	Job            JobSpec         `msgpack:"job"`
	OwnerAddr      string          `msgpack:"owner"`
	// Env is the actor's own environment (env.go), on top of the job's.
	Env []string `msgpack:"env,omitempty"`

	// ConcurrencyGroups are the actor's named groups and their limits
	// (Ray's concurrency_groups); the default group has MaxConcurrency.
	ConcurrencyGroups map[string]int `msgpack:"cgroups,omitempty"`
}

type CreateActorReply struct {
	ActorID string `msgpack:"id"`
	// Existed is set when GetIfExists found an actor of that name.
	Existed bool   `msgpack:"existed,omitempty"`
	Class   string `msgpack:"class"`
}

// ActorDeath says why an actor died.
type ActorDeath struct {
	Code    string              `msgpack:"code"`
	Message string              `msgpack:"msg"`
	Ctor    *errs.WireTaskError `msgpack:"ctor,omitempty"`
}

// ActorInfo is an actor's entry in the head's directory.
type ActorInfo struct {
	ActorID        string          `msgpack:"id"`
	Class          string          `msgpack:"class"`
	Name           string          `msgpack:"name,omitempty"`
	Namespace      string          `msgpack:"ns,omitempty"`
	JobID          string          `msgpack:"job"`
	Detached       bool            `msgpack:"detached,omitempty"`
	State          string          `msgpack:"state"`
	Addr           string          `msgpack:"addr,omitempty"`
	WorkerID       string          `msgpack:"worker,omitempty"`
	NodeID         string          `msgpack:"node,omitempty"`
	Pid            int             `msgpack:"pid,omitempty"`
	Incarnation    int             `msgpack:"inc"`
	NumRestarts    int             `msgpack:"restarts"`
	MaxRestarts    int             `msgpack:"maxrs"`
	MaxTaskRetries int             `msgpack:"maxtr"`
	MaxConcurrency int             `msgpack:"maxc"`
	Resources      sched.Resources `msgpack:"res,omitempty"`
	Infeasible     bool            `msgpack:"inf,omitempty"`
	Death          *ActorDeath     `msgpack:"death,omitempty"`
	Version        uint64          `msgpack:"ver"`
}

// GetActorRequest finds an actor by ID, or by name in a namespace. With
// AfterVersion > 0 it waits (a bounded long poll) until the entry's
// version passes it.
type GetActorRequest struct {
	ActorID      string `msgpack:"id,omitempty"`
	Name         string `msgpack:"name,omitempty"`
	Namespace    string `msgpack:"ns,omitempty"`
	AfterVersion uint64 `msgpack:"after,omitempty"`
}

type KillActorRequest struct {
	ActorID   string `msgpack:"id"`
	NoRestart bool   `msgpack:"norestart"`
	// Cause is DeathKilled unless the owner reports its handles gone
	// (DeathOutOfScope).
	Cause string `msgpack:"cause,omitempty"`
}

type ActorExitedRequest struct {
	ActorID     string `msgpack:"id"`
	Incarnation int    `msgpack:"inc"`
}

type ListActorsReply struct {
	Actors []ActorInfo `msgpack:"actors"`
}

// CreateActorRequest is pushed by the head to the worker it leased.
type CreateActorRequest struct {
	Spec        ActorSpec `msgpack:"spec"`
	Incarnation int       `msgpack:"inc"`
	GPUIDs      []int     `msgpack:"gpus,omitempty"`
}

type WorkerCreateActorReply struct {
	Err *errs.WireTaskError `msgpack:"e,omitempty"`
}

// ActorCallRequest is one method call, sent straight to the actor's worker.
type ActorCallRequest struct {
	ActorID     string `msgpack:"id"`
	Incarnation int    `msgpack:"inc"`
	TaskID      string `msgpack:"task"`
	Method      string `msgpack:"m"`
	Args        []Arg  `msgpack:"args"`
	OwnerAddr   string `msgpack:"owner"`

	// Group is the concurrency group the call runs in ("": the default).
	Group string `msgpack:"g,omitempty"`
	// Name is the call's display name in events and errors ("": Class.Method).
	Name string `msgpack:"n,omitempty"`
	// Stream is set for a streaming method call (stream.go).
	Stream *StreamSpec `msgpack:"stream,omitempty"`
}
