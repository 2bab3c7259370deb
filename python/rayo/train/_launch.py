"""Runs a training script for its rayo Train worker, unmodified:

    python -m rayo.train._launch script.py args...
    python -m rayo.train._launch -m package.module args...

It attaches the worker's connection (RAYO_TRAIN_FD), sets sys.argv and
sys.path as `python script.py` would, gives torch.distributed's
init_process_group a timeout of RAYO_TRAIN_COLLECTIVE_TIMEOUT seconds
when the script passes none (torch is not imported for that: the wrapper
goes in when the script imports torch.distributed), and runs the script as
__main__. An uncaught exception is sent to the worker ("fail": type,
message, traceback, and whether a collective timed out) and printed, and
the process exits 1; SystemExit keeps its code.
"""

import os
import runpy
import sys
import traceback

from rayo.train import _conn

_USAGE = "usage: python -m rayo.train._launch (script.py | -m module) [args...]"


def _timeout_seconds():
    v = os.environ.get("RAYO_TRAIN_COLLECTIVE_TIMEOUT")
    if not v:
        return None
    try:
        t = float(v)
    except ValueError:
        return None
    return t if t > 0 else None


def _wrap_init(module, seconds, also=()):
    """Replaces module.init_process_group with one that fills a missing
    timeout, once; modules in also that hold the same function get the
    same wrapper."""
    orig = getattr(module, "init_process_group", None)
    if orig is None or getattr(orig, "_rayo_wrapped", False):
        return
    import datetime
    import functools
    import inspect

    try:
        sig = inspect.signature(orig)
    except (TypeError, ValueError):
        sig = None

    def fill(args, kwargs):
        """(args, kwargs) with the timeout filled in, or None when the
        call gives one (or is malformed: torch says what is wrong)."""
        if sig is None:
            if kwargs.get("timeout") is None and len(args) < 3:
                return args, dict(kwargs, timeout=datetime.timedelta(seconds=seconds))
            return None
        try:
            bound = sig.bind_partial(*args, **kwargs)
        except TypeError:
            return None
        if bound.arguments.get("timeout") is not None:
            return None
        bound.arguments["timeout"] = datetime.timedelta(seconds=seconds)
        return bound.args, bound.kwargs

    @functools.wraps(orig)
    def init_process_group(*args, **kwargs):
        filled = fill(args, kwargs)
        if filled is not None:
            args, kwargs = filled
            _async_error_handling()
        return orig(*args, **kwargs)

    init_process_group._rayo_wrapped = True
    module.init_process_group = init_process_group
    for m in also:
        if getattr(m, "init_process_group", None) is orig:
            m.init_process_group = init_process_group


def _async_error_handling():
    """NCCL honours a timeout only with async error handling on: on,
    unless the environment says otherwise (named for the torch here)."""
    if "TORCH_NCCL_ASYNC_ERROR_HANDLING" in os.environ or "NCCL_ASYNC_ERROR_HANDLING" in os.environ:
        return
    import torch
    try:
        version = tuple(int(x) for x in torch.__version__.split(".")[:2])
    except ValueError:
        version = (2, 2)
    os.environ["TORCH_NCCL_ASYNC_ERROR_HANDLING" if version >= (2, 2) else "NCCL_ASYNC_ERROR_HANDLING"] = "1"


def _patch_distributed(dist, seconds):
    """Wraps init_process_group in torch.distributed.distributed_c10d,
    where torch's own callers find it, and in torch.distributed."""
    c10d = sys.modules.get("torch.distributed.distributed_c10d")
    if c10d is not None:
        _wrap_init(c10d, seconds, also=(dist,))
    _wrap_init(dist, seconds)


class _TorchDistributedHook:
    """A meta path finder that wraps init_process_group the moment
    torch.distributed has been executed, before the importer sees it."""

    def __init__(self, seconds):
        self.seconds = seconds

    def find_spec(self, name, path, target=None):
        if name != "torch.distributed":
            return None
        spec = None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader, seconds = spec.loader, self.seconds
        orig = loader.exec_module

        def exec_module(module):
            orig(module)
            _patch_distributed(module, seconds)

        loader.exec_module = exec_module
        return spec


def _install_torch_hook():
    seconds = _timeout_seconds()
    if seconds is None:
        return
    dist = sys.modules.get("torch.distributed")
    if dist is not None:
        _patch_distributed(dist, seconds)
    else:
        sys.meta_path.insert(0, _TorchDistributedHook(seconds))


def _from_torch_distributed(tb):
    marker = os.sep + os.path.join("torch", "distributed") + os.sep
    while tb is not None:
        if marker in tb.tb_frame.f_code.co_filename:
            return True
        tb = tb.tb_next
    return False


def is_collective_timeout(exc):
    """Whether exc (or what caused it) is torch.distributed's report of a
    timed-out collective or rendezvous: a Dist*Error, or a RuntimeError
    raised within torch.distributed, whose message says it timed out."""
    seen = 0
    while exc is not None and seen < 16:
        msg = str(exc).lower()
        if "timed out" in msg or "timeout" in msg:
            if type(exc).__name__ in ("DistBackendError", "DistNetworkError", "DistStoreError", "DistError"):
                return True
            if isinstance(exc, RuntimeError) and _from_torch_distributed(exc.__traceback__):
                return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _type_name(t):
    mod = getattr(t, "__module__", "builtins")
    return t.__qualname__ if mod == "builtins" else "%s.%s" % (mod, t.__qualname__)


def _trim(tb):
    """The traceback from the script's first frame (this launcher's and
    runpy's frames go)."""
    me = os.path.abspath(__file__)
    while tb is not None and (tb.tb_frame.f_globals.get("__name__") == "runpy"
                              or os.path.abspath(tb.tb_frame.f_code.co_filename) == me):
        tb = tb.tb_next
    return tb


def _fix_path(script):
    """sys.path[0] as `python script.py` (the script's directory) or
    `python -m module` (the working directory) would have it. The worker
    starts this launcher with PYTHONSAFEPATH=1 (RAYO_TRAIN_SAFEPATH=1 says
    so) so that nothing in the working directory shadows rayo itself;
    both go from the environment here, for the script's own children."""
    ours = os.environ.pop("RAYO_TRAIN_SAFEPATH", None) == "1"
    if ours:
        os.environ.pop("PYTHONSAFEPATH", None)
    elif os.environ.get("PYTHONSAFEPATH"):
        return  # the user's choice: no script directory on the path
    first = os.path.dirname(os.path.abspath(script)) if script is not None else os.getcwd()
    if not getattr(sys.flags, "safe_path", False) and sys.path:
        sys.path[0] = first  # -m put the working directory there
    else:
        sys.path.insert(0, first)


def main(argv):
    if not argv or (argv[0] == "-m" and len(argv) < 2):
        print(_USAGE, file=sys.stderr)
        return 2
    if argv[0] == "-m":
        script, module, args = None, argv[1], argv[2:]
    else:
        script, module, args = argv[0], None, argv[1:]
    _conn.attach_from_env()
    _fix_path(script)
    _install_torch_hook()
    try:
        if module is not None:
            sys.argv = [module] + args
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        else:
            sys.argv = [script] + args
            runpy.run_path(script, run_name="__main__")
    except SystemExit:
        raise
    except BaseException as e:  # noqa: B902 (KeyboardInterrupt too)
        tb = _trim(e.__traceback__)
        text = "".join(traceback.format_exception(type(e), e, tb))
        if _conn.connected():
            try:
                # Bounded: a thread of the script may hold the connection
                # in a request that never ends.
                _conn.current().call("fail", _wait=5, type=_type_name(type(e)), message=str(e), traceback=text,
                                     collective_timeout=is_collective_timeout(e))
            except Exception as report_err:  # the worker may be gone: the exit says enough
                print("rayo.train: could not report the failure to the worker: %s" % report_err, file=sys.stderr)
        sys.stderr.write(text)
        sys.stderr.flush()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
