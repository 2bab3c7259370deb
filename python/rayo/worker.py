"""A Python worker: `python -m rayo.worker`, started by a rayo worker (Go)
for a Python job's tasks and actors, with its ends of their socket pairs
as the descriptors RAYO_BRIDGE_FD names.

It pulls work with py.next, which also carries the result of the work
before; functions and classes load once from the job's function table. A
task, and a call of an actor that runs one call at a time, run on the main
thread; a threaded actor's calls (max_concurrency > 1) run on a pool of
that many threads, and an async actor's on an event loop of its own
(Ray's async actors), their results sent with py.done. A KeyboardInterrupt
(the Go worker's SIGINT on rayo.cancel) fails the running task as
cancelled.
"""

import asyncio
import collections
import concurrent.futures
import contextvars
import importlib
import inspect
import os
import signal
import sys
import threading
import time
import traceback

import cloudpickle

from . import _actor, _codec, _packages, _remote, _runtime
from . import exceptions as _exc
from .actor import ActorExit as _ActorExit


def _error(e, code="", task=None):
    tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    m = {"m": "%s: %s" % (type(e).__name__, e), "s": tb}
    if code:
        m["c"] = code
    retry_on = task.get("retry_on") if task is not None else None
    if retry_on is not None and not isinstance(e, retry_on):
        m["nr"] = True  # not among the call's retry_exceptions: final
    try:
        m["p"] = _codec.dumps(e)
    except Exception:  # an exception that cannot be pickled travels as text
        pass
    return m


def _encode(out, values):
    encoded, nested, keep = [], [], []
    for v in values:
        data, refs = _codec.dumps_noting(v)
        encoded.append(data)
        nested.append([[r.object_id, r.owner_address] for r in refs])
        keep.extend(refs)
    out["v"] = encoded
    if any(nested):
        out["n"] = nested
        out[_KEEP] = keep
    return out


# A result message's ObjectRefs, kept alive (not sent) until the Go worker
# has answered the call that carries the result: it counts them first.
_KEEP = "_keep"


def _sendable(out):
    """out without its kept refs, and those refs (to hold until the reply)."""
    return out, out.pop(_KEEP, None)


class _Exit(Exception):
    """A SystemExit or KeyboardInterrupt out of an async actor's method,
    carried as an Exception: raised in the event loop it would stop it."""


async def _shield_exit(aw):
    try:
        return await aw
    except _ActorExit:
        raise
    except (SystemExit, KeyboardInterrupt) as e:
        raise _Exit(e) from None


# Set while the main thread runs a task's own code: only then does SIGINT
# (the Go worker's cancel of that task) raise KeyboardInterrupt.
_in_user_code = False


def _call_user(fn, args, kwargs):
    global _in_user_code
    if threading.current_thread() is not threading.main_thread():
        return fn(*args, **kwargs)
    _in_user_code = True
    try:
        return fn(*args, **kwargs)
    finally:
        _in_user_code = False


def _may_lead():
    """Whether this thread may read the connection's replies itself: not
    the main thread in a task's code, where a cancel's KeyboardInterrupt
    may come at any point (_rpc.Connection.may_lead)."""
    return not _in_user_code or threading.current_thread() is not threading.main_thread()


def _on_sigint(signum, frame):
    if _in_user_code:
        raise KeyboardInterrupt
    # Between tasks, or in rayo's own code: a cancel of a task whose
    # result is on its way, left alone.


def _import(qualified):
    """module.qualname, imported: the longest importable module prefix,
    then attributes."""
    parts = qualified.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError("no module of %r can be imported (is it on the workers' PYTHONPATH?)" % qualified)


class _Actor:
    def __init__(self, instance, max_concurrency):
        self.instance = instance
        self.loop = None
        self.pool = None
        # An async actor that runs one call at a time: its calls arrive
        # several at once (the Go worker pipelines a serial actor's), so
        # each waits here for the one before, in order (asyncio's locks
        # are first come, first served).
        self.one_at_a_time = None
        if inspect.iscoroutinefunction(getattr(type(instance), "__init__", None)):
            raise TypeError("an actor's __init__ cannot be async")
        if _actor.is_async_class(type(instance)):
            if max_concurrency <= 1:
                self.one_at_a_time = asyncio.Lock()
            self.loop = asyncio.new_event_loop()
            threading.Thread(target=self.loop.run_forever, name="rayo-actor-loop", daemon=True).start()
        elif max_concurrency > 1:
            self.pool = concurrent.futures.ThreadPoolExecutor(max_concurrency, thread_name_prefix="rayo-actor")


class Worker:
    def __init__(self, core, setup_error=None):
        self.core = core
        # Why the job's runtime_env could not be set up: every task fails with it.
        self.setup_error = setup_error
        self.functions = {}
        self.actors = {}
        # An async actor's running calls, by task ID: a cancel notice
        # cancels the coroutine (Ray's cancel of an async actor task). A
        # notice that comes before its coroutine started is kept here.
        self.coroutines = {}
        self.cancelled_early = set()
        self.exited = set()  # actors whose method called exit_actor

    def function(self, fid):
        """The function or class of a task: by its ID in the job's
        function table, or "name:module.qualname" (a call from Go)."""
        fn = self.functions.get(fid)
        if fn is None:
            if fid.startswith("name:"):
                fn = _import(fid[len("name:"):])
            else:
                reply = self.core.call("py.fn.get", {"id": fid})
                fn = cloudpickle.loads(reply["v"])
            self.functions[fid] = fn
        return fn

    def prepare(self, task):
        """The callable and arguments of task; raises for a bad call. The
        exception classes to retry are kept in task["retry_on"]."""
        args, kwargs, task["retry_on"] = _remote.decode_args(self.core, task["a"], task.get("refs"))
        kind = task.get("k")
        if kind == "call":
            actor = self.actors.get(task["actor"])
            if actor is None:
                raise RuntimeError("actor %s is not in this worker" % task["actor"])
            method = getattr(actor.instance, task["m"], None)
            if method is None or task["m"].startswith("__"):
                raise AttributeError("actor %s has no method %r" % (type(actor.instance).__name__, task["m"]))
            return method, args, kwargs
        return self.function(task["f"]), args, kwargs

    def stream(self, task, gen):
        """Sends each item gen yields (py.emit), until it ends or the
        consumer closes the stream."""
        if not inspect.isgenerator(gen) and not hasattr(gen, "__next__"):
            raise TypeError('%s has num_returns="streaming" but returned a %s, not a generator'
                            % (task["d"], type(gen).__name__))
        try:
            for item in gen:
                if self.emit(task, item):
                    break
        finally:
            gen.close()
        return {"id": task["id"], "v": []}

    def emit(self, task, item):
        """Reports one item; True once the consumer closed the stream."""
        data, refs = _codec.dumps_noting(item)
        m = {"id": task["id"], "v": data}
        if refs:
            m["n"] = [[r.object_id, r.owner_address] for r in refs]
        return self.core.call("py.emit", m).get("stopped", False)

    async def astream(self, task, agen):
        loop = asyncio.get_running_loop()
        try:
            async for item in agen:
                if await loop.run_in_executor(None, self.emit, task, item):
                    break
        finally:
            await agen.aclose()
        return {"id": task["id"], "v": []}

    def complete(self, task, result):
        if task.get("stream"):
            return self.stream(task, result)
        out = {"id": task["id"]}
        kind = task.get("k")
        if kind == "new":
            self.actors[task["actor"]] = _Actor(result, task.get("maxc", 1))
            out["v"] = []
            return out
        nret = task.get("nret", 0)
        if nret:
            values = list(result) if isinstance(result, (list, tuple)) else None
            if values is None or len(values) != nret:
                raise ValueError("task %s has num_returns=%d but returned a %s" % (task["d"], nret, type(result).__name__))
        else:
            parts, refs = _codec.dumps_parts_noting(result)
            size = sum(memoryview(p).nbytes for p in parts)
            if size >= _runtime.PUT_IN_PLACE and self.write_result(task, parts, size):
                out["stored"] = size
            else:
                out["v"] = [_codec._join(parts)]
            if refs:
                out["n"] = [[[r.object_id, r.owner_address] for r in refs]]
                out[_KEEP] = refs
            return out
        return _encode(out, values)

    def write_result(self, task, parts, size):
        """Writes a large result into the store in place (the Go worker
        reserved it under the result's ID); False when it cannot, and the
        bytes go over the socket instead."""
        try:
            loc = self.core.call("py.result.create", {"id": task["id"], "s": size})
        except ValueError:
            return False
        _runtime.write_stored(loc, parts, size)
        return True

    def run(self, task):
        """Runs task on this thread and returns its result message."""
        token = _current.set(task)
        try:
            if self.setup_error is not None:
                return {"id": task["id"], "e": _error(self.setup_error)}
            try:
                fn, args, kwargs = self.prepare(task)
            except KeyboardInterrupt:
                raise
            except Exception as e:
                return {"id": task["id"], "e": _error(e, "bad_call")}
            try:
                result = _call_user(fn, args, kwargs)
            except _ActorExit:
                result = None
                self.exited.add(task.get("actor"))
            return self.complete(task, result)
        except KeyboardInterrupt as e:
            return {"id": task["id"], "e": _error(e, "cancelled")}
        except Exception as e:
            return {"id": task["id"], "e": _error(e, task=task)}
        except BaseException as e:
            if threading.current_thread() is threading.main_thread():
                raise  # SystemExit ends this worker, as in Ray: the task fails as a crash
            # On a threaded actor's pool thread it would end nothing, and
            # the call would never be answered.
            return {"id": task["id"], "e": _error(e, task=task)}
        finally:
            _current.reset(token)

    def send(self, out):
        out, keep = _sendable(out)
        self.core.call("py.done", out)
        del keep  # counted by the Go worker now

    def dispatch(self, task):
        """Runs task here and returns its result, or hands it to its
        actor's pool or loop and returns None."""
        actor = self.actors.get(task.get("actor")) if task.get("k") == "call" else None
        if actor is None or (actor.loop is None and actor.pool is None):
            return self.run(task)
        if actor.pool is not None:
            actor.pool.submit(lambda: self.send(self.run(task)))
            return None
        asyncio.run_coroutine_threadsafe(self.run_async(task, actor.one_at_a_time), actor.loop)
        return None

    async def run_async(self, task, one_at_a_time=None):
        if one_at_a_time is not None:
            async with one_at_a_time:
                await self.run_async(task)
            return
        token = _current.set(task)
        try:
            out = None
            if self.setup_error is not None:
                out = {"id": task["id"], "e": _error(self.setup_error)}
            else:
                try:
                    fn, args, kwargs = self.prepare(task)
                except Exception as e:
                    out = {"id": task["id"], "e": _error(e, "bad_call")}
            if out is None:
                try:
                    result = fn(*args, **kwargs)
                    streamed = task.get("stream") and inspect.isasyncgen(result)
                    if streamed:
                        result = self.astream(task, result)
                    if inspect.isawaitable(result):
                        # Its own asyncio task, which a cancel notice
                        # cancels (the result still goes out below).
                        inner = asyncio.ensure_future(_shield_exit(result))
                        self.coroutines[task["id"]] = inner
                        if task["id"] in self.cancelled_early:
                            self.cancelled_early.discard(task["id"])
                            inner.cancel()
                        try:
                            result = await inner
                        except _ActorExit:
                            result = None
                        finally:
                            self.coroutines.pop(task["id"], None)
                    out = result if streamed else self.complete(task, result)
                except asyncio.CancelledError as e:
                    out = {"id": task["id"], "e": _error(e, "cancelled")}
                except _Exit as e:
                    out = {"id": task["id"], "e": _error(e.args[0], task=task)}
                except BaseException as e:  # SystemExit too: the call still gets an answer
                    out = {"id": task["id"], "e": _error(e, task=task)}
        finally:
            _current.reset(token)
        # Sent without waiting for the reply: the loop's other coroutines
        # go on at once.
        out, keep = _sendable(out)
        self.core.send_async("py.done", out, keep)

    def cancel_coroutine(self, task_id):
        """Cancels an async actor call's coroutine: it sees CancelledError
        at its next await (or at once, if it has not started yet)."""
        inner = self.coroutines.get(task_id)
        if inner is not None:
            inner.get_loop().call_soon_threadsafe(inner.cancel)
        else:
            if len(self.cancelled_early) > 4096:
                self.cancelled_early.clear()  # notices for calls that ran to their end (regular actors)
            self.cancelled_early.add(task_id)

    def serve(self):
        """Takes work with py.next (several pieces when an actor's calls
        wait), runs it in order, and hands the results back with the next
        py.next. Once a call of a batch has run for POLL_AFTER, the rest
        have waited: before the next starts, the results so far go out
        and the cancels that came meanwhile come in (py.next's poll), so
        that a call cancelled while it waited does not run, as a queued
        call in the Go worker would not."""
        done, keep = [], []
        queue = collections.deque()

        def pull(poll):
            nonlocal done, keep
            req = {"done": done, "poll": True} if poll else ({"done": done} if done else {})
            work = self.core.call("py.next", req)["w"]
            # The results' refs are counted by the Go worker now.
            done, keep = [], []
            self.take(queue, work, done)

        while True:
            if not queue:
                pull(False)
                continue
            task = queue.popleft()
            if task.get("k") == "call" and task.get("actor") in self.exited:
                # A call queued behind exit_actor (a serial actor's calls
                # come several at a time): it does not run; the Go worker
                # exits, and its caller sees the actor dead.
                continue
            started = time.monotonic()
            out = self.dispatch(task)
            if out is not None:
                out, refs = _sendable(out)
                done.append(out)
                keep.append(refs)
            if queue and time.monotonic() - started >= POLL_AFTER:
                pull(True)

    def take(self, queue, work, done):
        """Queues the work py.next gave; a cancel of a call still queued
        here fails it without running it (its result joins done)."""
        for task in work:
            if task.get("k") != "cancel":
                queue.append(task)
                continue
            waiting = next((t for t in queue if t["id"] == task["id"]), None)
            if waiting is None:
                self.cancel_coroutine(task["id"])
                continue
            queue.remove(waiting)
            e = _exc.TaskCancelledError("%s was cancelled before it started" % waiting.get("d", waiting["id"]))
            done.append({"id": waiting["id"], "e": _error(e, "cancelled")})


# How long a call of a batch runs before the worker, ahead of the next,
# sends the results so far and takes cancels (Worker.serve).
POLL_AFTER = 0.001


_worker = None


# The running call's message, per thread and per coroutine.
_current = contextvars.ContextVar("rayo_current_task", default=None)


def _current_call_id():
    t = _current.get()
    return t["id"] if t is not None else None


def current_task():
    """The running call's message in this thread or coroutine (None
    outside one)."""
    return _current.get()


def main():
    global _worker
    fds = os.environ.pop("RAYO_BRIDGE_FD")
    token = os.environ.pop("RAYO_BRIDGE_TOKEN")
    core = _runtime.connect_worker(fds, token)
    core.conn.may_lead = _may_lead
    core.current_call = _current_call_id
    setup_error = None
    try:
        _packages.worker_setup(core)
    except Exception as e:
        traceback.print_exc()
        setup_error = _exc.RuntimeEnvSetupError("setting up the job's runtime_env on this node: %s: %s" % (type(e).__name__, e))
    _worker = Worker(core, setup_error)
    try:
        _worker.serve()
    except (_runtime._rpc.ConnectionClosed, _runtime.CoreGone):
        pass  # the Go worker went: so does this one
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    # Run as rayo.worker, not __main__, so that the package's own imports
    # of this module see the worker (and its SIGINT flag).
    from rayo import worker as _canonical

    signal.signal(signal.SIGINT, _canonical._on_sigint)
    _canonical.main()
