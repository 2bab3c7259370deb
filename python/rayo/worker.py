"""A Python worker: `python -m rayo.worker`, started by a rayo worker (Go)
for a Python job's tasks, with its end of their socket pair as descriptor
RAYO_BRIDGE_FD. It pulls tasks (py.next, which carries the previous
task's result), loads each function once from the job's function table,
and runs it. A KeyboardInterrupt (the Go worker's SIGINT on rayo.cancel)
fails the task as cancelled."""

import os
import signal
import sys
import traceback

import cloudpickle

from . import _codec, _remote, _runtime


def _error(e, code=""):
    tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    m = {"m": "%s: %s" % (type(e).__name__, e), "s": tb}
    if code:
        m["c"] = code
    try:
        m["p"] = _codec.dumps(e)
    except Exception:  # an exception that cannot be pickled travels as text
        pass
    return m


class Worker:
    def __init__(self, core):
        self.core = core
        self.functions = {}

    def function(self, fid):
        fn = self.functions.get(fid)
        if fn is None:
            reply = self.core.call("py.fn.get", {"id": fid})
            fn = cloudpickle.loads(reply["v"])
            self.functions[fid] = fn
        return fn

    def run(self, task):
        """Runs one task and returns its result message."""
        out = {"id": task["id"]}
        try:
            try:
                fn = self.function(task["f"])
                args, kwargs = _remote.decode_args(self.core, task["a"])
            except KeyboardInterrupt:
                raise
            except Exception as e:
                out["e"] = _error(e, "bad_call")
                return out
            result = fn(*args, **kwargs)
            nret = task.get("nret", 0)
            if nret:
                values = list(result) if isinstance(result, (list, tuple)) else None
                if values is None or len(values) != nret:
                    raise ValueError("task %s has num_returns=%d but returned %r" % (task["d"], nret, type(result).__name__))
            else:
                values = [result]
            encoded, nested = [], []
            for v in values:
                data, refs = _codec.dumps_noting(v)
                encoded.append(data)
                nested.append([[r.object_id, r.owner_address] for r in refs])
            out["v"] = encoded
            if any(nested):
                out["n"] = nested
        except KeyboardInterrupt as e:
            out.pop("v", None)
            out["e"] = _error(e, "cancelled")
        except Exception as e:
            out["e"] = _error(e)
        return out

    def serve(self):
        done = None
        while True:
            try:
                task = self.core.call("py.next", {"done": done} if done else {})
            except KeyboardInterrupt:
                continue  # a cancel that came after its task ended
            done = self.run(task)


def main():
    fd = int(os.environ.pop("RAYO_BRIDGE_FD"))
    token = os.environ.pop("RAYO_BRIDGE_TOKEN")
    # The working directory's modules, as for the driver.
    sys.path.insert(0, os.getcwd())
    core = _runtime.connect_worker(fd, token)
    try:
        Worker(core).serve()
    except _runtime._rpc.ConnectionClosed:
        pass  # the Go worker went: so does this one
    finally:
        os._exit(0)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main()
