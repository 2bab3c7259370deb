"""rayo.exceptions: Ray's hierarchy, and Go's wire failures mapped to it."""

import json
import os

import pytest

from rayo import _codec, exceptions as ex

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "..", "internal", "codec", "testdata", "golden")


def test_hierarchy():
    for cls in (ex.RaySystemError, ex.RayTaskError, ex.TaskCancelledError, ex.WorkerCrashedError, ex.RayActorError,
                ex.NodeDiedError, ex.ObjectLostError, ex.ObjectStoreFullError, ex.GetTimeoutError,
                ex.TaskPlacementGroupRemoved, ex.TaskUnschedulableError, ex.CrossLanguageError):
        assert issubclass(cls, ex.RayError)
    assert issubclass(ex.ActorDiedError, ex.RayActorError)
    assert issubclass(ex.OwnerDiedError, ex.ObjectLostError)
    assert issubclass(ex.GetTimeoutError, TimeoutError)


def test_golden_task_failure():
    with open(os.path.join(GOLDEN, "wire_task_error.bin"), "rb") as f:
        m = _codec.loads(f.read())
    e = ex.from_wire(m)
    assert type(e) is ex.RayTaskError
    assert e.function_name == m["n"] and e.message == m["m"]
    assert m["m"] in str(e)


@pytest.mark.parametrize("code,cls", [
    ("worker_crashed", ex.WorkerCrashedError), ("cancelled", ex.TaskCancelledError),
    ("object_lost", ex.ObjectLostError), ("owner_died", ex.OwnerDiedError),
    ("reconstruct_failed", ex.ObjectReconstructionFailedError), ("node_died", ex.NodeDiedError),
    ("object_too_large", ex.ObjectStoreFullError), ("pg_removed", ex.TaskPlacementGroupRemoved),
    ("infeasible", ex.TaskUnschedulableError), ("actor_unavail", ex.ActorUnavailableError),
    ("bad_call", ex.RaySystemError),
])
def test_codes(code, cls):
    e = ex.from_wire({"c": code, "n": "pkg.f", "m": "why"})
    assert type(e) is cls and "why" in str(e)


def test_actor_death():
    e = ex.from_wire({"c": "actor_died", "m": "", "actor": {"id": "a1", "class": "pkg.Counter", "name": "c",
                                                          "code": "actor_killed", "msg": "killed by rayo.kill"}})
    assert isinstance(e, ex.ActorDiedError) and e.actor_id == "a1" and e.class_name == "pkg.Counter"
    assert e.cause_code == "actor_killed" and "killed by rayo.kill" in str(e)


def test_unknown_forms():
    assert isinstance(ex.from_wire({"c": "brand_new", "m": "x"}), ex.RaySystemError)
    assert isinstance(ex.from_wire("not a map"), ex.RaySystemError)
    assert isinstance(ex.from_wire({"m": "no code"}), ex.RaySystemError)


def test_as_instanceof_cause():
    e = ex.RayTaskError("mod.f", "Traceback ...", ValueError("bad input"), 42, "n1")
    mixed = e.as_instanceof_cause()
    assert isinstance(mixed, ValueError) and isinstance(mixed, ex.RayTaskError)
    assert mixed.cause.args == ("bad input",) and "bad input" in str(mixed) and "Traceback" in str(mixed)
    with pytest.raises(ValueError):
        raise mixed

    class Odd(Exception):
        def __init__(self, a, b):  # a signature RayTaskError's arguments do not fit
            super().__init__(a, b)

    assert isinstance(ex.RayTaskError("f", "", Odd(1, 2)).as_instanceof_cause(), Odd)
    assert ex.RayTaskError("f", "", None).as_instanceof_cause().cause is None
