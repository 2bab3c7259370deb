package protocol

import (
	"errors"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// The one table of wire codes, in the manner of nats-server's errors.json:
// every code a server sends in an rpc.Error (or a task error's wire form
// carries) is a constant here, and maps to one sentinel. Servers send
// protocol.CodeX; clients match with errors.Is(err, sentinel), which
// rpc.Error.Is answers from this table (registered into rpc at init, as rpc
// sits below protocol), or with rpc.CodeOf(err) == protocol.CodeX. The
// transport's own codes (rpc.CodeBadRequest and the rest) are rpc's and
// appear in the table below by reference. A test fails the build on a
// string-literal code anywhere else. Ray's equivalent is its StatusCode
// enum (src/ray/common/status.h) and the error types ray.exceptions maps
// them to.

// Codes of a task's failure (errs.TaskError's cause on the wire), also
// used as rpc codes where a server answers with the same failure.
const (
	CodeTaskFailed        = "task_failed"
	CodeWorkerCrashed     = "worker_crashed"
	CodeTaskCancelled     = "cancelled"
	CodeBadCall           = "bad_call"
	CodeObjectLost        = "object_lost"
	CodeOwnerDied         = "owner_died"
	CodeInfeasible        = "infeasible"
	CodeNodeDied          = "node_died"
	CodeActorUnavailable  = "actor_unavail"
	CodeActorDied         = "actor_died"
	CodePGRemoved         = "pg_removed"
	CodeHeadUnavailable   = "head_unavail"
	CodeReconstructFailed = "reconstruct_failed"
	CodeActorNotFound     = "actor_not_found"
	CodeActorNameTaken    = "actor_name_taken"
	CodeBinaryMismatch    = "binary_mismatch"
	CodeObjectTooLarge    = "object_too_large"
	// CodeInvalidOption: a call the receiver refuses as misconfigured (an
	// actor call naming a concurrency group its actor lacks; force on an
	// actor call's forwarded Cancel).
	CodeInvalidOption = "invalid_option"
	// CodeGetTimeout: a get's timeout passed first (a Python driver's
	// get through internal/pybridge; Go callers see ErrGetTimeout).
	CodeGetTimeout = "get_timeout"
)

// Codes of the daemons' own answers.
const (
	CodeLeaseCancelled    = "lease_cancelled"
	CodePGNotFound        = "pg_not_found"
	CodeJobDead           = "job_dead"
	CodeJobEnded          = "job_ended"
	CodeBinaryUnavailable = "binary_unavailable"
	CodeBinaryNotFound    = "binary_not_found"
	CodeWorkerStartFailed = "worker_start_failed"
	CodeWorkerNotFound    = "worker_not_found"
	CodeBundleNoRoom      = "bundle_no_room"
	CodeBundleUnknown     = "bundle_unknown"
	CodeNodeStopping      = "node_stopping"
	CodeHeadStopping      = "head_stopping"
	CodeOwnerExiting      = "owner_exiting"
	CodeActorMismatch     = "actor_mismatch"
	CodeNodeNotFound      = "node_not_found"
	CodeObjectNotFound    = "object_not_found"
	CodeObjectExists      = "object_exists"
	CodeLogNotFound       = "log_not_found"
)

// Sentinels of the codes that have none in errs or rpc. A client tests
// them with errors.Is on the error a call returned. They are internal
// (Ray's equivalents are Status codes such as NotFound and
// ObjectNotFound, not exceptions a user sees).
var (
	ErrLeaseCancelled    = errors.New("rayo: the lease request was withdrawn")
	ErrJobDead           = errors.New("rayo: the job has ended")
	ErrJobEnded          = errors.New("rayo: the job ended or is unknown to the head")
	ErrBinaryUnavailable = errors.New("rayo: the node cannot fetch the job's binary")
	ErrBinaryNotFound    = errors.New("rayo: the head has no such binary")
	ErrWorkerStartFailed = errors.New("rayo: the node cannot start a worker")
	ErrWorkerNotFound    = errors.New("rayo: the node has no such worker")
	ErrBundleNoRoom      = errors.New("rayo: no room on the node for the bundle")
	ErrBundleUnknown     = errors.New("rayo: the bundle was not prepared on the node")
	ErrNodeStopping      = errors.New("rayo: the node daemon is stopping")
	ErrHeadStopping      = errors.New("rayo: the head is stopping")
	ErrOwnerExiting      = errors.New("rayo: the object's owner is shutting down")
	ErrActorMismatch     = errors.New("rayo: the worker does not host that actor incarnation")
	ErrNodeNotFound      = errors.New("rayo: no such live node")
	ErrNodeDead          = errors.New("rayo: the node was declared dead")
	ErrObjectNotFound    = errors.New("rayo: the node holds no such object")
	ErrObjectExists      = errors.New("rayo: the object already exists on the node")
	ErrLogNotFound       = errors.New("rayo: no such log file")
)

// CodeEntry is one row of the table: a wire code and its sentinel (a
// StatusCode and its exception class, in Ray's terms).
type CodeEntry struct {
	Code     string
	Sentinel error
}

// codeTable is the table. Transport rows (rpc's own codes) are listed so
// that the table is complete; rpc registers those itself.
var codeTable = []CodeEntry{
	// The transport's (rpc's).
	{rpc.CodeInternal, rpc.ErrInternal},
	{rpc.CodeUnauthenticated, rpc.ErrUnauthenticated},
	{rpc.CodeUnknownMethod, rpc.ErrUnknownMethod},
	{rpc.CodeBadRequest, rpc.ErrBadRequest},
	{rpc.CodeTLSRequired, rpc.ErrTLSRequired},
	{rpc.CodeCertificateRequired, rpc.ErrCertificateRefused},

	// A task's failure.
	{CodeTaskFailed, errs.ErrTaskFailed},
	{CodeWorkerCrashed, errs.ErrWorkerCrashed},
	{CodeTaskCancelled, errs.ErrTaskCancelled},
	{CodeBadCall, errs.ErrBadCall},
	{CodeObjectLost, errs.ErrObjectLost},
	{CodeOwnerDied, errs.ErrOwnerDied},
	{CodeInfeasible, errs.ErrInfeasible},
	{CodeNodeDied, errs.ErrNodeDied},
	{CodeActorUnavailable, errs.ErrActorUnavailable},
	{CodeActorDied, errs.ErrActorDied},
	{CodePGRemoved, errs.ErrPlacementGroupRemoved},
	{CodeHeadUnavailable, errs.ErrHeadUnavailable},
	{CodeReconstructFailed, errs.ErrObjectReconstructionFailed},
	{CodeNodeAffinityUnavailable, errs.ErrNodeAffinityUnavailable},
	{CodeActorNotFound, errs.ErrActorNotFound},
	{CodeActorNameTaken, errs.ErrActorNameTaken},
	{CodeBinaryMismatch, errs.ErrBinaryMismatch},
	{CodeObjectTooLarge, errs.ErrObjectTooLarge},
	{CodeInvalidOption, errs.ErrInvalidOption},
	{CodeGetTimeout, errs.ErrGetTimeout},

	// The daemons' answers.
	{CodeLeaseCancelled, ErrLeaseCancelled},
	{CodePGNotFound, errs.ErrPlacementGroupNotFound},
	{CodeJobDead, ErrJobDead},
	{CodeJobEnded, ErrJobEnded},
	{CodeBinaryUnavailable, ErrBinaryUnavailable},
	{CodeBinaryNotFound, ErrBinaryNotFound},
	{CodeWorkerStartFailed, ErrWorkerStartFailed},
	{CodeWorkerNotFound, ErrWorkerNotFound},
	{CodeBundleNoRoom, ErrBundleNoRoom},
	{CodeBundleUnknown, ErrBundleUnknown},
	{CodeNodeStopping, ErrNodeStopping},
	{CodeHeadStopping, ErrHeadStopping},
	{CodeOwnerExiting, ErrOwnerExiting},
	{CodeActorMismatch, ErrActorMismatch},
	{CodeNodeNotFound, ErrNodeNotFound},
	{CodeNodeDead, ErrNodeDead},
	{CodeObjectNotFound, ErrObjectNotFound},
	{CodeObjectExists, ErrObjectExists},
	{CodeLogNotFound, ErrLogNotFound},
}

// deathTable maps the causes of an actor's death (ActorDeath.Code, the
// Death* constants) to the sentinel an ActorDiedError matches besides
// ErrActorDied.
var deathTable = []CodeEntry{
	{DeathKilled, errs.ErrActorKilled},
	{DeathCrashed, errs.ErrActorCrashed},
	{DeathNodeDied, errs.ErrNodeDied},
	{DeathConstructor, errs.ErrConstructorFailed},
	{DeathOutOfScope, errs.ErrActorOutOfScope},
	{DeathExited, errs.ErrActorExited},
	{DeathOwnerDied, errs.ErrOwnerDied},
	{DeathPGRemoved, errs.ErrPlacementGroupRemoved},
	{DeathAffinity, errs.ErrNodeAffinityUnavailable},
}

// Codes returns a copy of the table (Ray has no list of its own; its
// StatusCode enum is the nearest).
func Codes() []CodeEntry { return append([]CodeEntry(nil), codeTable...) }

// DeathCodes returns a copy of the table of actor death causes (Ray's
// ActorDeathCause).
func DeathCodes() []CodeEntry { return append([]CodeEntry(nil), deathTable...) }

func init() {
	for _, e := range deathTable {
		errs.RegisterDeathCause(e.Code, e.Sentinel)
	}
	transport := rpc.Codes()
	for _, e := range codeTable {
		errs.RegisterCode(e.Code, e.Sentinel)
		if _, own := transport[e.Code]; !own {
			rpc.RegisterCode(e.Code, e.Sentinel)
		}
	}
}
