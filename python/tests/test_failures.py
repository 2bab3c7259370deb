"""Failures of tasks: exceptions, crashed workers, retries and cancellation
(in the manner of Ray's python/ray/tests/test_failure.py,
test_cancel.py and the retry tests of test_failure_2.py). All on one embedded cluster of 2
CPUs (rayo_start).

Attempts are counted in files under tmp_path: the workers run on this
machine. Exception classes are defined inside the tests, as in Ray's
suite: the workers cannot import the test modules.
"""

import os
import threading

import pytest

import rayo
from rayo import exceptions as ex
from rayohead import poll

T = 60  # seconds: the bound on every get that could block


def attempts(path):
    """How many lines count_attempt wrote to path."""
    try:
        with open(path) as f:
            return len(f.read().splitlines())
    except FileNotFoundError:
        return 0


@rayo.remote
def count_attempt_then(path, crash_until=0, raise_until=0, value="ok"):
    """Appends a line to path, then crashes its worker (os._exit) while
    this is attempt <= crash_until, raises while it is <= raise_until, and
    otherwise returns value."""
    with open(path, "a") as f:
        f.write("attempt\n")
    with open(path) as f:
        n = len(f.read().splitlines())
    if n <= crash_until:
        os._exit(1)
    if n <= raise_until:
        raise ValueError("attempt %d fails" % n)
    return value


# --- exceptions ------------------------------------------------------------


def test_exception_reaches_get(rayo_start):
    @rayo.remote
    def throws(msg):
        raise ValueError(msg)

    ref = throws.remote("the message")
    with pytest.raises(ex.RayTaskError) as info:
        rayo.get(ref, timeout=T)
    e = info.value
    # Also an instance of the cause's class (Ray's as_instanceof_cause).
    assert isinstance(e, ValueError)
    assert isinstance(e, ex.RayError)
    assert isinstance(e.cause, ValueError) and e.cause.args == ("the message",)
    s = str(e)
    assert "the message" in s
    # The remote traceback, with the failing function's frame.
    assert "Traceback (most recent call last)" in s
    assert "in throws" in s and 'raise ValueError(msg)' in s
    assert e.function_name.endswith("throws")
    assert e.pid > 0 and e.pid != os.getpid()
    # except ValueError catches it, as in Ray.
    try:
        rayo.get(ref, timeout=T)
    except ValueError as caught:
        assert "the message" in str(caught)


def test_exception_in_a_list_get(rayo_start):
    @rayo.remote
    def maybe(i):
        if i == 3:
            raise KeyError("three")
        return i

    refs = [maybe.remote(i) for i in range(5)]
    with pytest.raises(KeyError):
        rayo.get(refs, timeout=T)
    assert rayo.get(refs[:3] + refs[4:], timeout=T) == [0, 1, 2, 4]


def test_custom_exception_class(rayo_start):
    class MyError(Exception):
        def __init__(self, code, detail):
            super().__init__(code, detail)
            self.code, self.detail = code, detail

    class MySubError(MyError):
        pass

    @rayo.remote
    def throws():
        raise MySubError(42, "deep")

    with pytest.raises(MyError) as info:
        rayo.get(throws.remote(), timeout=T)
    e = info.value
    assert isinstance(e, MySubError) and isinstance(e, ex.RayTaskError)
    assert type(e.cause).__name__ == "MySubError"
    assert e.cause.code == 42 and e.cause.detail == "deep"
    assert "deep" in str(e)


def test_exception_with_a_cause_chain(rayo_start):
    @rayo.remote
    def chained():
        try:
            {}["missing"]
        except KeyError as k:
            raise RuntimeError("wrapped") from k

    with pytest.raises(RuntimeError) as info:
        rayo.get(chained.remote(), timeout=T)
    s = str(info.value)
    assert "wrapped" in s and "missing" in s  # both in the remote traceback
    # (pickle drops __cause__: the cause arrives without it, as in Ray)


def test_exception_that_cannot_be_pickled(rayo_start):
    # An exception holding a lock cannot travel: its text does, as a
    # plain RayTaskError.
    @rayo.remote
    def throws():
        class Unpicklable(Exception):
            pass

        e = Unpicklable("cannot travel")
        e.lock = threading.Lock()
        raise e

    with pytest.raises(ex.RayTaskError) as info:
        rayo.get(throws.remote(), timeout=T)
    e = info.value
    assert e.cause is None
    assert "cannot travel" in str(e) and "Unpicklable" in str(e)
    assert "Traceback" in str(e)


def test_exception_that_cannot_be_unpickled_on_the_driver(rayo_start):
    @rayo.remote
    def throws():
        class Bad(Exception):
            def __reduce__(self):
                return (_explode, ())

        def _explode():
            raise RuntimeError("no unpickling this")

        raise Bad("unloadable")

    with pytest.raises(ex.RayTaskError) as info:
        rayo.get(throws.remote(), timeout=T)
    assert info.value.cause is None
    assert "unloadable" in str(info.value)


def test_exception_class_that_cannot_be_mixed_in(rayo_start):
    # A builtin whose layout conflicts with RayTaskError's: get raises the
    # plain RayTaskError, with the cause.
    @rayo.remote
    def throws():
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad byte")

    with pytest.raises(ex.RayTaskError) as info:
        rayo.get(throws.remote(), timeout=T)
    assert isinstance(info.value.cause, UnicodeDecodeError)
    assert "bad byte" in str(info.value)


def test_system_exit_ends_the_worker(rayo_start):
    # SystemExit is no Exception: the Python worker exits with it, and the
    # task fails as a crash; the pool starts another worker.
    @rayo.remote
    def exits():
        raise SystemExit(3)

    with pytest.raises(ex.WorkerCrashedError):
        rayo.get(exits.options(max_retries=0).remote(), timeout=T)

    @rayo.remote
    def fine():
        return "fine"

    assert rayo.get(fine.remote(), timeout=T) == "fine"


def test_error_propagates_through_dependencies(rayo_start):
    @rayo.remote
    def fails():
        raise ZeroDivisionError("upstream")

    @rayo.remote
    def downstream(x):
        return x + 1

    @rayo.remote
    def further(x):
        return x

    r = further.remote(downstream.remote(fails.remote()))
    with pytest.raises(ex.RayTaskError) as info:
        rayo.get(r, timeout=T)
    assert isinstance(info.value, ZeroDivisionError)
    assert "upstream" in str(info.value)


def test_nested_task_error_text_reaches_the_driver(rayo_start):
    @rayo.remote
    def inner():
        raise IndexError("inner failed")

    @rayo.remote
    def outer():
        return rayo.get(inner.remote(), timeout=60)

    @rayo.remote
    def catches():
        try:
            rayo.get(inner.remote(), timeout=60)
        except IndexError as e:
            return type(e).__name__

    with pytest.raises(ex.RayTaskError) as info:
        rayo.get(outer.remote(), timeout=T)
    assert "inner failed" in str(info.value) and "in outer" in str(info.value)
    # Within a task, the nested error is an IndexError.
    assert rayo.get(catches.remote(), timeout=T) == "RayTaskError(IndexError)"


def test_nested_task_error_reaches_the_driver(rayo_start):
    @rayo.remote
    def inner():
        raise IndexError("inner failed")

    @rayo.remote
    def outer():
        return rayo.get(inner.remote(), timeout=60)

    with pytest.raises(IndexError) as info:
        rayo.get(outer.remote(), timeout=T)
    assert "inner failed" in str(info.value)


def test_worker_survives_an_exception(rayo_start):
    @rayo.remote
    def raise_with_pid():
        raise ValueError(os.getpid())

    with pytest.raises(ValueError) as info:
        rayo.get(raise_with_pid.remote(), timeout=T)
    pid = info.value.cause.args[0]
    # The Python worker that raised is still there (an exception is no crash).
    with open("/proc/%d/stat" % pid) as f:
        assert f.read().rsplit(")", 1)[1].split()[0] != "Z"


# --- crashes and retries ---------------------------------------------------


def test_crash_is_retried(rayo_start, tmp_path):
    path = str(tmp_path / "n")
    r = count_attempt_then.options(max_retries=1).remote(path, crash_until=1)
    assert rayo.get(r, timeout=T) == "ok"
    assert attempts(path) == 2


def test_crash_retried_by_default(rayo_start, tmp_path):
    # Ray's default: 3 retries after a worker dies.
    path = str(tmp_path / "n")
    assert rayo.get(count_attempt_then.remote(path, crash_until=2), timeout=T) == "ok"
    assert attempts(path) == 3


@pytest.mark.parametrize("max_retries,crash_until,runs", [(0, 1, 1), (1, 5, 2)], ids=["without_retries", "retries_spent"])
def test_crash_fails_once_retries_are_spent(rayo_start, tmp_path, max_retries, crash_until, runs):
    path = str(tmp_path / "n")
    r = count_attempt_then.options(max_retries=max_retries).remote(path, crash_until=crash_until)
    with pytest.raises(ex.WorkerCrashedError):
        rayo.get(r, timeout=T)
    assert attempts(path) == runs


def test_exceptions_are_not_retried_by_default(rayo_start, tmp_path):
    path = str(tmp_path / "n")
    r = count_attempt_then.options(max_retries=3).remote(path, raise_until=1)
    with pytest.raises(ValueError, match="attempt 1 fails"):
        rayo.get(r, timeout=T)
    assert attempts(path) == 1


def test_retry_exceptions(rayo_start, tmp_path):
    path = str(tmp_path / "n")
    r = count_attempt_then.options(max_retries=2, retry_exceptions=True).remote(path, raise_until=2)
    assert rayo.get(r, timeout=T) == "ok"
    assert attempts(path) == 3


def test_retry_exceptions_spent(rayo_start, tmp_path):
    path = str(tmp_path / "n")
    r = count_attempt_then.options(max_retries=1, retry_exceptions=True).remote(path, raise_until=5)
    with pytest.raises(ValueError, match="attempt 2 fails"):
        rayo.get(r, timeout=T)
    assert attempts(path) == 2


def test_retry_exceptions_list(rayo_start, tmp_path):
    path = str(tmp_path / "n")
    r = count_attempt_then.options(max_retries=2, retry_exceptions=[KeyError]).remote(path, raise_until=1)
    with pytest.raises(ValueError, match="attempt 1 fails"):
        rayo.get(r, timeout=T)
    assert attempts(path) == 1


def test_crash_of_a_dependency_is_retried(rayo_start, tmp_path):
    path = str(tmp_path / "n")

    @rayo.remote
    def plus_one(x):
        return x + "!"

    r = plus_one.remote(count_attempt_then.options(max_retries=1).remote(path, crash_until=1, value="dep"))
    assert rayo.get(r, timeout=T) == "dep!"
    assert attempts(path) == 2


# --- cancel ----------------------------------------------------------------


@rayo.remote
def interruptible(started, interrupted):
    """Loops until interrupted (at most 50 s), noting both in files."""
    import time
    open(started, "w").close()
    deadline = time.monotonic() + 50
    try:
        while time.monotonic() < deadline:
            time.sleep(0.01)
    except KeyboardInterrupt:
        open(interrupted, "w").close()
        raise
    return "not interrupted"


def test_cancel_running_task(rayo_start, tmp_path):
    started, interrupted = str(tmp_path / "started"), str(tmp_path / "interrupted")
    r = interruptible.remote(started, interrupted)
    poll(lambda: os.path.exists(started), "the task to start")
    rayo.cancel(r)
    with pytest.raises(ex.TaskCancelledError):
        rayo.get(r, timeout=T)
    # The task saw a KeyboardInterrupt (Ray's cancel of a running task).
    poll(lambda: os.path.exists(interrupted), "the task's KeyboardInterrupt")
    # The worker lives on: a task after it runs.
    assert rayo.get(count_attempt_then.remote(str(tmp_path / "n"), value="after"), timeout=T) == "after"


def test_force_cancel_running_task(rayo_start, tmp_path):
    started, interrupted = str(tmp_path / "started"), str(tmp_path / "interrupted")
    r = interruptible.remote(started, interrupted)
    poll(lambda: os.path.exists(started), "the task to start")
    rayo.cancel(r, force=True)
    with pytest.raises(ex.TaskCancelledError):
        rayo.get(r, timeout=T)
    # Tasks run after it.
    assert rayo.get(count_attempt_then.remote(str(tmp_path / "n"), value="after"), timeout=T) == "after"


def test_cancel_running_task_that_swallows_the_interrupt(rayo_start, tmp_path):
    # The task returns a value after its KeyboardInterrupt: it was
    # cancelled all the same.
    started = str(tmp_path / "started")

    @rayo.remote
    def stubborn(started):
        import time
        open(started, "w").close()
        try:
            deadline = time.monotonic() + 50
            while time.monotonic() < deadline:
                time.sleep(0.01)
        except KeyboardInterrupt:
            return "swallowed"
        return "not interrupted"

    r = stubborn.remote(started)
    poll(lambda: os.path.exists(started), "the task to start")
    rayo.cancel(r)
    with pytest.raises(ex.TaskCancelledError):
        rayo.get(r, timeout=T)


def test_cancel_pending_task(rayo_start, tmp_path):
    # Both CPUs busy: a third task waits, and cancelling it ends it
    # without it ever running.
    started = [str(tmp_path / ("started%d" % i)) for i in range(2)]
    interrupted = [str(tmp_path / ("interrupted%d" % i)) for i in range(2)]
    busy = [interruptible.remote(s, i) for s, i in zip(started, interrupted)]
    try:
        for s in started:
            poll(lambda: os.path.exists(s), "a busy task to start")
        path = str(tmp_path / "never")
        waiting = count_attempt_then.remote(path)
        with pytest.raises(ex.GetTimeoutError):
            rayo.get(waiting, timeout=0.2)
        rayo.cancel(waiting)
        with pytest.raises(ex.TaskCancelledError):
            rayo.get(waiting, timeout=T)
    finally:
        for r in busy:
            rayo.cancel(r)
    for r in busy:
        with pytest.raises(ex.TaskCancelledError):
            rayo.get(r, timeout=T)
    assert attempts(path) == 0


def test_cancel_finished_task(rayo_start, tmp_path):
    r = count_attempt_then.remote(str(tmp_path / "n"), value="done")
    assert rayo.get(r, timeout=T) == "done"
    rayo.cancel(r)
    assert rayo.get(r, timeout=T) == "done"


def test_cancel_dependent_task(rayo_start, tmp_path):
    # A task waiting on an argument is cancelled before it runs.
    started, interrupted = str(tmp_path / "started"), str(tmp_path / "interrupted")
    upstream = interruptible.remote(started, interrupted)
    path = str(tmp_path / "never")

    @rayo.remote
    def downstream(x, path):
        open(path, "w").close()
        return x

    r = downstream.remote(upstream, path)
    rayo.cancel(r)
    with pytest.raises(ex.TaskCancelledError):
        rayo.get(r, timeout=T)
    rayo.cancel(upstream)
    with pytest.raises(ex.TaskCancelledError):
        rayo.get(upstream, timeout=T)
    assert not os.path.exists(path)


def test_cancel_bad_input(rayo_start):
    with pytest.raises(TypeError):
        rayo.cancel("not a ref")
