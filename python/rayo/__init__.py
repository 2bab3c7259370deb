"""rayo for Python: Ray's programming model on rayo's Go engine.

A pure-Python package (no compiled extension): a driver's calls go to the
Go core in a `rayo python-bridge` child, over private socket pairs
(internal/pybridge), in the cluster's own value format (docs/encoding.md);
a Python job's tasks run in `python -m rayo.worker` children of Go
workers. Dependencies are Debian's python3-msgpack, python3-cloudpickle
and python3-numpy. docs/python.md has the API table against Ray's.
"""

import inspect as _inspect

from . import cross_language, exceptions, util
from ._context import RuntimeContext, get_gpu_ids, get_runtime_context
from ._actor import ActorClass, ActorHandle, get_actor, kill
from ._remote import RemoteFunction
from ._runtime import ObjectRef, cancel, get, is_initialized, put, shutdown, wait
from ._runtime import _state, current as _current

__all__ = [
    "init", "shutdown", "is_initialized", "remote", "get", "put", "wait", "cancel", "ObjectRef",
    "RemoteFunction", "ActorClass", "ActorHandle", "get_actor", "kill", "exceptions", "util", "cross_language",
    "get_runtime_context", "RuntimeContext", "get_gpu_ids", "nodes", "cluster_resources", "available_resources",
]


def nodes():
    """The cluster's nodes, in Ray's form (NodeID, Alive, Resources, ...)."""
    out = []
    for n in _current().call("py.nodes", {})["nodes"]:
        host, _, port = n["addr"].rpartition(":")
        out.append({"NodeID": n["id"], "Alive": n["alive"], "NodeManagerAddress": host, "NodeManagerPort": int(port or 0),
                    "NodeManagerHostname": n["host"], "Resources": dict(n["res"]) if n["alive"] else {},
                    "Labels": dict(n["labels"] or {}), "IsHead": n["head"], "State": n["state"],
                    "ObjectStoreMemory": n["store"]})
    return out


def cluster_resources():
    """The total resources of the cluster's live nodes."""
    total = {}
    for n in _current().call("py.nodes", {})["nodes"]:
        if n["alive"]:
            for k, v in n["res"].items():
                total[k] = total.get(k, 0.0) + v
    return total


def available_resources():
    """The resources of the live nodes not held by anything now."""
    total = {}
    for n in _current().call("py.nodes", {})["nodes"]:
        if n["alive"]:
            for k, v in n["avail"].items():
                if v > 0:
                    total[k] = total.get(k, 0.0) + v
    return total


def init(address=None, *, num_cpus=None, num_gpus=None, resources=None, object_store_memory=None, namespace=None,
         runtime_env=None, ignore_reinit_error=False, log_to_driver=True, go_binary=None, _temp_dir=None, **kwargs):
    """Connects this program to a cluster (Ray's ray.init).

    address (or RAYO_ADDRESS) names a running cluster's head; with
    neither, a local cluster is started for the program's lifetime with
    the rayo binary (on PATH, or RAYO_BINARY) and stopped at exit, also
    when the program crashes. go_binary names the job's Go program: its
    workers run it, so that rayo.cross_language can call the Go tasks and
    actors it registers (it must call rayo.Init in main)."""
    import os

    from . import _runtime

    if kwargs:
        raise TypeError("rayo.init() got unknown arguments: %s" % ", ".join(sorted(kwargs)))
    with _state:
        if _runtime.is_initialized():
            if ignore_reinit_error:
                return
            raise RuntimeError("rayo.init() called twice: call rayo.shutdown() first (or pass ignore_reinit_error=True)")
        if address in (None, "", "auto", "local"):
            address = None if address == "local" else (os.environ.get("RAYO_ADDRESS") or None)
        from . import _packages

        packages, package_env = _packages.driver_env(runtime_env)
        cfg = _runtime.driver_config(address, namespace, num_cpus, num_gpus, resources, object_store_memory,
                                     runtime_env, log_to_driver, _temp_dir, package_env)
        if go_binary:
            if not os.access(go_binary, os.X_OK):
                raise ValueError("go_binary %r is not an executable file" % (go_binary,))
            cfg["job_binary"] = os.path.abspath(go_binary)
        core = _runtime.start_driver(cfg)
        try:
            for p in packages:
                _packages.upload(core, p)
        except BaseException:
            _runtime.shutdown()
            raise


def remote(*args, **options):
    """@rayo.remote, with or without options (Ray's ray.remote)."""
    if len(args) == 1 and not options and callable(args[0]):
        return _make(args[0], {})
    if args:
        raise TypeError("@rayo.remote takes one function or class, or keyword options only")

    def deco(f):
        return _make(f, options)
    return deco


def _make(target, options):
    if _inspect.isclass(target):
        return ActorClass(target, options)
    return RemoteFunction(target, options)
