"""get_runtime_context() and get_gpu_ids() (Ray's names)."""

from . import _runtime

__all__ = ["RuntimeContext", "get_runtime_context", "get_gpu_ids"]


def _task():
    from . import worker
    return worker.current_task()


def call_context():
    """The running call's resources, GPUs and placement group, asked of
    the Go worker; {} outside a call (in a driver)."""
    t = _task()
    if t is None:
        return {}
    return _runtime.current().call("py.ctx", {"id": t["id"]})


class RuntimeContext:
    """What the running driver, task or actor knows of itself."""

    def __init__(self, core):
        self._core = core

    def get_job_id(self):
        return self._core.job_id

    def get_node_id(self):
        return self._core.node_id

    def get_worker_id(self):
        return self._core.worker_id

    @property
    def namespace(self):
        return self._core.namespace

    def get_task_id(self):
        """The running task's (or actor call's) ID; None in a driver."""
        t = _task()
        if t is None:
            return None
        return t["actor"] if t.get("k") == "new" else t["id"]

    def get_actor_id(self):
        """The running actor's ID; None outside an actor."""
        t = _task()
        return t.get("actor") if t is not None else None

    @property
    def current_actor(self):
        """A handle to the running actor."""
        from ._actor import ActorHandle

        t = _task()
        if t is None or not t.get("actor"):
            raise RuntimeError("current_actor is only available in an actor")
        return ActorHandle(t["actor"], t.get("c", ""))

    def get_assigned_resources(self):
        """The resources the running call was scheduled with."""
        return dict(call_context().get("res") or {})

    def get_accelerator_ids(self):
        """The accelerators assigned to the running call, by kind (IDs as
        strings, as Ray gives them)."""
        return {"GPU": [str(g) for g in call_context().get("gpus") or []]}

    def is_canceled(self):
        """Whether the running call was cancelled (Ray's check for actor
        methods, which a cancel does not interrupt)."""
        return bool(call_context().get("cancelled"))

    def get_placement_group_id(self):
        return call_context().get("pg") or None

    def get(self):
        return {"job_id": self.get_job_id(), "node_id": self.get_node_id(), "namespace": self.namespace,
                "task_id": self.get_task_id(), "actor_id": self.get_actor_id()}


def get_runtime_context():
    return RuntimeContext(_runtime.current())


def get_gpu_ids():
    """The GPU IDs assigned to the running task or actor ([] in a driver)."""
    return list(call_context().get("gpus") or [])
