"""Calls into Go (Ray's ray.cross_language): tasks and actors registered
in the job's Go binary (rayo.init(go_binary=...)), by their registered
names. Arguments are positional values both languages know (None, bools,
numbers, strings, bytes, lists, dicts, numpy arrays, ObjectRefs); Go
decodes each into its parameter's type, and its result comes back as the
same kinds of values."""

from . import _runtime
from ._actor import ActorClass, _check_actor_options, _handle, new_actor_message
from ._remote import TASK_OPTIONS, _check_options, encode_args, task_options

__all__ = ["go_function", "go_actor_class"]


class GoFunction:
    """A Go task by its registered name: .remote(*args) -> ObjectRef."""

    def __init__(self, name, options=None):
        if not name or not isinstance(name, str):
            raise ValueError("go_function needs the task's registered name")
        self._name = name
        self._options = dict(options or {})
        _check_options(self._options, TASK_OPTIONS, "a Go function")

    def options(self, **opts):
        merged = dict(self._options)
        merged.update(opts)
        return GoFunction(self._name, merged)

    def remote(self, *args, **kwargs):
        core = _runtime.current()
        o = {"num_cpus": 1, "max_retries": 3}
        o.update(self._options)
        if o.get("num_returns", 1) != 1:
            raise NotImplementedError("num_returns other than 1 for Go functions is not supported by rayo's Python API")
        if isinstance(o.get("retry_exceptions"), (list, tuple)):
            raise ValueError("a Go function's retry_exceptions is a bool (Go errors have no Python classes)")
        opts = task_options(o)
        tid = core.new_task_id()
        keep = []
        core.submit({"id": tid, "go": True, "f": self._name, "d": self._name,
                     "a": encode_args(args, kwargs, layout=False, keep=keep), "o": opts}, keep=keep)
        return _runtime.ObjectRef(tid, core.address, core)


class GoActorClass(ActorClass):
    """A Go actor type by its registered name: .remote(*args) starts one
    and returns its handle; its methods take positional arguments."""

    def __init__(self, name, options=None):
        if not name or not isinstance(name, str):
            raise ValueError("go_actor_class needs the actor type's registered name")
        options = dict(options or {})
        _check_actor_options(options)
        self._name, self._options = name, options
        self.__name__ = self.__qualname__ = name

    def options(self, **opts):
        merged = dict(self._options)
        merged.update(opts)
        return GoActorClass(self._name, merged)

    def remote(self, *args, **kwargs):
        core = _runtime.current()
        o = self._options
        keep = []
        m = new_actor_message(self._name, encode_args(args, kwargs, layout=False, keep=keep), o, o.get("max_concurrency", 1))
        return _handle(core, core.call("py.actor.new", m))


def go_function(name):
    """The Go task registered under name in the job's Go binary."""
    return GoFunction(name)


def go_actor_class(name):
    """The Go actor type registered under name in the job's Go binary."""
    return GoActorClass(name)
