"""Errors with Ray's names and hierarchy (ray.exceptions), and the map
from the wire form of a Go task's failure (docs/encoding.md: the error
map with c code, n task name, i task ID, m message, s stack, p panicked,
pid, node, x registered errors, actor death) to them.

RayError is the root. A task's own exception reaches get() as a
RayTaskError; as_instanceof_cause() makes one that is also an instance of
the cause's class, so ``except ValueError`` catches a remote ValueError,
as in Ray.
"""

import re

__all__ = [
    "RayError", "RaySystemError", "CrossLanguageError", "RayTaskError", "TaskCancelledError",
    "WorkerCrashedError", "RayActorError", "ActorDiedError", "ActorUnavailableError",
    "NodeDiedError", "ObjectLostError", "OwnerDiedError", "ObjectReconstructionFailedError",
    "ObjectStoreFullError", "GetTimeoutError", "TaskPlacementGroupRemoved",
    "TaskUnschedulableError", "RuntimeEnvSetupError", "from_wire",
]


class RayError(Exception):
    """The root of rayo's errors (Ray's RayError)."""


class RaySystemError(RayError):
    """rayo itself failed, or refused a malformed call."""


class CrossLanguageError(RayError):
    """A failure in a task of the other language (Go), carried by its
    message and stack."""


class RayTaskError(RayError):
    """A task raised (or, in Go, returned an error or panicked).

    function_name is the task's registered name, traceback_str the remote
    stack, cause the original exception when it could travel (None for a
    Go error), pid and node_id where it ran."""

    def __init__(self, function_name="", traceback_str="", cause=None, pid=0, node_id="", message=""):
        self.function_name = function_name
        self.traceback_str = traceback_str
        self.cause = cause
        self.pid = pid
        self.node_id = node_id
        self.message = message or (repr(cause) if cause is not None else "")
        # Not super(): in a class mixed with the cause's, that would run
        # the cause's __init__, whose arguments these are not.
        Exception.__init__(self, self.message)

    def __str__(self):
        head = "%s (pid=%s, node=%s): %s" % (self.function_name or "a task", self.pid, self.node_id, self.message)
        return head + ("\n" + self.traceback_str if self.traceback_str else "")

    def as_instanceof_cause(self):
        """A copy that is also an instance of the cause's class (Ray's
        as_instanceof_cause), or self when the class cannot be mixed in."""
        cause = self.cause
        # A task that re-raised a nested task's error: the class to keep
        # is the original's (Ray's exception chains).
        while isinstance(cause, RayTaskError) and cause.cause is not None:
            cause = cause.cause
        cls = type(cause) if cause is not None else None
        if cls is None or issubclass(cls, RayTaskError) or not issubclass(cls, Exception):
            return self
        try:
            mixed = type("RayTaskError(%s)" % cls.__name__, (RayTaskError, cls), {
                # The cause's own __init__ and __str__ may expect other
                # arguments: RayTaskError's stand.
                "__init__": RayTaskError.__init__,
                "__str__": RayTaskError.__str__,
            })
            return mixed(self.function_name, self.traceback_str, cause, self.pid, self.node_id, self.message)
        except TypeError:  # a layout conflict (a builtin with slots, say)
            return self


class TaskCancelledError(RayError):
    """The task was cancelled (rayo.cancel)."""


class WorkerCrashedError(RayError):
    """The task's worker process died and its retries are spent."""


class RayActorError(RayError):
    """An actor call failed because of its actor (Ray's RayActorError)."""

    def __init__(self, message="", actor_id="", class_name="", name="", cause_code=""):
        super().__init__(message)
        self.actor_id, self.class_name, self.name, self.cause_code = actor_id, class_name, name, cause_code


class ActorDiedError(RayActorError):
    """The actor is dead: killed, out of scope, its constructor failed, or
    its process died with no restarts left."""


class ActorUnavailableError(RayActorError):
    """The actor's process died while the call ran (it may be restarting);
    the call was not retried."""


class NodeDiedError(RayError):
    """The node that ran the task died."""


class ObjectLostError(RayError):
    """An object's every copy is lost and it could not be rebuilt."""


class OwnerDiedError(ObjectLostError):
    """The process that owned the object died."""


class ObjectReconstructionFailedError(ObjectLostError):
    """Rebuilding a lost object failed: its task's retries are spent."""


class ObjectStoreFullError(RayError):
    """The object is larger than the store and its spill space hold."""


class GetTimeoutError(RayError, TimeoutError):
    """get() timed out (also a TimeoutError, as in Ray)."""


class TaskPlacementGroupRemoved(RayError):
    """The task's placement group was removed."""


class RuntimeEnvSetupError(RayError):
    """A worker could not set up the job's runtime_env (its working_dir or
    py_modules)."""


class TaskUnschedulableError(RayError):
    """No node can ever hold the task's resources."""


# Wire codes (internal/protocol/codes.go) to classes.
_BY_CODE = {
    "worker_crashed": WorkerCrashedError,
    "cancelled": TaskCancelledError,
    "object_lost": ObjectLostError,
    "owner_died": OwnerDiedError,
    "reconstruct_failed": ObjectReconstructionFailedError,
    "node_died": NodeDiedError,
    "object_too_large": ObjectStoreFullError,
    "pg_removed": TaskPlacementGroupRemoved,
    "infeasible": TaskUnschedulableError,
    "actor_unavail": ActorUnavailableError,
    "bad_call": RaySystemError,
    "invalid_option": RaySystemError,
    "head_unavail": RaySystemError,
}


# A Python actor's class as the core names it (rayo.py/<function ID>/Name,
# rayo.py/name:module.Name/Name): people read Name.
_PY_CLASS = re.compile(r"rayo\.py/[^/\s]+/")


def _text(m, key):
    v = m.get(key, "")
    return v.decode("utf-8", "replace") if isinstance(v, (bytes, bytearray)) else (v if isinstance(v, str) else str(v))


def from_wire(m):
    """The exception for a task failure's wire map (as rayo._codec.loads
    returns it). A map that is not one is a RaySystemError saying so."""
    if not isinstance(m, dict) or not isinstance(m.get("c"), str):
        return RaySystemError("a task failure in an unknown form: %r" % (m,))
    code, message = m["c"], _PY_CLASS.sub("", _text(m, "m"))
    actor = m.get("actor")
    if code == "actor_died" or isinstance(actor, dict):
        a = actor if isinstance(actor, dict) else {}
        cls = ActorUnavailableError if code == "actor_unavail" else ActorDiedError
        return cls(message or _text(a, "msg"), _text(a, "id"), _text(a, "class"), _text(a, "name"), _text(a, "code"))
    if code == "task_failed":
        return RayTaskError(_text(m, "n"), _text(m, "s"), None, m.get("pid", 0), _text(m, "node"), message)
    cls = _BY_CODE.get(code)
    if cls is None:
        return RaySystemError("%s (code %s)" % (message, code))
    if issubclass(cls, RayActorError):
        return cls(message)
    return cls(message)
