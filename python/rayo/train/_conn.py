"""The training script's connection to its rayo Train worker.

The worker (Go, train/internal/proc) starts the script through
rayo.train._launch with one end of a socket pair as descriptor
RAYO_TRAIN_FD. Requests are JSON lines {"id": N, "op": ...}; each reply is
a JSON line {"id": N, "ok": ...} or {"id": N, "error": {"type", "message"}},
followed by "nbytes" raw bytes when it has that key. One request is in
flight at a time (a lock), so threads may share the connection.
"""

import json
import math
import os
import socket
import threading


class TrainError(RuntimeError):
    """A request to the rayo Train worker failed (its message says why)."""

    def __init__(self, message, type=None):
        super().__init__(message)
        self.type = type


class NotInWorkerError(TrainError):
    """rayo.train was called outside a rayo Train worker's script."""


_lock = threading.Lock()
_conn = None


class _Conn:
    def __init__(self, fd):
        sock = socket.socket(fileno=fd)
        # Not for the script's own children (they would share the stream).
        sock.set_inheritable(False)
        self._sock = sock
        self._file = sock.makefile("rb", buffering=1 << 16)
        self._lock = threading.Lock()
        self._id = 0
        self._pid = os.getpid()
        self._broken = None  # why the stream is out of step, if it is

    def call(self, op, _wait=None, **args):
        """Sends one request; returns (ok, payload), payload being the
        reply's raw bytes (a 64-byte aligned numpy uint8 array) or None.
        _wait bounds the wait for another thread's request to finish
        (None: no bound)."""
        if os.getpid() != self._pid:
            raise TrainError("rayo.train is not usable in a forked child of the training script (a DataLoader worker?)")
        if not self._lock.acquire(timeout=-1 if _wait is None else _wait):
            raise TrainError("another thread's request to the rayo Train worker is still waiting")
        try:
            if self._broken:
                raise TrainError("the connection to the rayo Train worker is unusable: %s" % self._broken)
            self._id += 1
            req = dict(args, id=self._id, op=op)
            try:
                self._sock.sendall(json.dumps(req, allow_nan=False).encode() + b"\n")
                line = self._file.readline()
                if not line:
                    raise TrainError("the rayo Train worker closed the connection")
                rep = json.loads(line)
                payload = None
                n = rep.get("nbytes")
                if n:
                    payload = _aligned(n)
                    view, got = memoryview(payload), 0
                    while got < n:
                        k = self._file.readinto(view[got:])
                        if not k:
                            raise TrainError("the rayo Train worker closed the connection mid-reply")
                        got += k
            except OSError as e:
                self._broken = "%s failed: %s" % (op, e)
                raise TrainError("the connection to the rayo Train worker failed: %s" % e) from None
            except BaseException as e:
                # Cut off mid-request (KeyboardInterrupt, a closed stream):
                # the next reply on the stream would not be the next one's.
                self._broken = "%s was interrupted (%s)" % (op, type(e).__name__)
                raise
            if rep.get("id") != self._id:
                raise TrainError("protocol error: reply %r to request %d" % (rep.get("id"), self._id))
            err = rep.get("error")
            if err is not None:
                raise TrainError(err.get("message", "unknown error"), type=err.get("type"))
            return rep.get("ok"), payload
        finally:
            self._lock.release()


def _aligned(n):
    """A writable buffer of n bytes whose start is 64-byte aligned (the
    worker aligns each column within it)."""
    import numpy as np
    buf = np.empty(n + 64, dtype=np.uint8)
    shift = -buf.ctypes.data % 64
    return buf[shift:shift + n]


def attach(fd):
    """Makes descriptor fd this process's connection (the launcher's job)."""
    global _conn
    with _lock:
        _conn = _Conn(fd)


def attach_from_env():
    """Attaches RAYO_TRAIN_FD if set, and removes it from the environment
    (the script's own child processes are not the worker's)."""
    fd = os.environ.pop("RAYO_TRAIN_FD", None)
    if fd is not None:
        attach(int(fd))
        return True
    return False


def current():
    """The connection; NotInWorkerError outside a rayo Train worker."""
    c = _conn
    if c is None:
        raise NotInWorkerError(
            "not inside a rayo Train worker: rayo.train's report, get_checkpoint and "
            "get_dataset_shard work in a script that rayo's TorchTrainer runs")
    return c


def connected():
    return _conn is not None


def jsonable(value, where="metrics"):
    """value in JSON's terms: numpy and torch scalars become numbers,
    arrays lists, and NaN and the infinities {"__float__": "nan"|"inf"|
    "-inf"} (JSON has no such numbers; the worker turns them back)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return float(value)
        return {"__float__": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, dict):
        return {str(k): jsonable(v, "%s[%r]" % (where, k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, "%s[%d]" % (where, i)) for i, v in enumerate(value)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    item = getattr(value, "item", None)
    tolist = getattr(value, "tolist", None)
    if callable(tolist) and getattr(value, "ndim", 0) != 0:
        return jsonable(tolist(), where)
    if callable(item):  # numpy scalars, 0-d arrays, one-element tensors
        try:
            return jsonable(item(), where)
        except (TypeError, ValueError):
            pass
    raise TypeError("%s: %s is not a number, string, bool, None, list or dict" % (where, type(value).__name__))
