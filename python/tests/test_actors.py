"""Actors: @rayo.remote classes, their handles, names, lifetimes, failures
and concurrency (in the manner of Ray's python/ray/tests/test_actor.py,
test_actor_failures.py, test_actor_lifetime.py and
test_asyncio.py). All on one embedded cluster of 2 CPUs (rayo_start); an
actor takes no CPU while it runs (Ray's default), so the tests' actors do
not crowd out the tasks.
"""

import asyncio
import os
import time

import pytest

import rayo
from rayo import exceptions as ex
from rayohead import poll

T = 60  # seconds: the bound on every get that could block


@rayo.remote
class Counter:
    def __init__(self, start=0, *, step=1):
        self.n = start
        self.step = step
        self.log = []

    def incr(self, k=None):
        self.n += self.step if k is None else k
        return self.n

    def append(self, x):
        self.log.append(x)
        return len(self.log)

    def get_log(self):
        return self.log

    def value(self):
        return self.n

    def pid(self):
        return os.getpid()

    def fail(self, msg):
        raise ValueError(msg)

    def crash(self):
        os._exit(1)

    def echo(self, *args, **kwargs):
        return [list(args), kwargs]


def process_gone(pid):
    """True once pid has exited (or is a zombie)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


# --- basics ------------------------------------------------------------------


def test_constructor_args_and_state(rayo_start):
    c = Counter.remote(10, step=5)
    assert rayo.get(c.value.remote(), timeout=T) == 10
    assert rayo.get(c.incr.remote(), timeout=T) == 15
    assert rayo.get(c.incr.remote(k=1), timeout=T) == 16
    assert rayo.get(c.echo.remote(1, "a", key=[2]), timeout=T) == [[1, "a"], {"key": [2]}]
    # Two actors of one class have their own state.
    d = Counter.remote()
    assert rayo.get([c.value.remote(), d.value.remote()], timeout=T) == [16, 0]


def test_constructor_with_ref_args(rayo_start):
    c = Counter.remote(rayo.put(100), step=rayo.put(2))
    assert rayo.get(c.incr.remote(), timeout=T) == 102
    # A method's top-level ref argument is resolved; a nested one is not.
    assert rayo.get(c.incr.remote(rayo.put(8)), timeout=T) == 110

    @rayo.remote
    class Holder:
        def kinds(self, x, lst):
            return [isinstance(x, rayo.ObjectRef), isinstance(lst[0], rayo.ObjectRef), rayo.get(lst[0], timeout=60)]

    h = Holder.remote()
    r = rayo.put("v")
    assert rayo.get(h.kinds.remote(r, [r]), timeout=T) == [False, True, "v"]


def test_calls_run_in_order(rayo_start):
    c = Counter.remote()
    refs = [c.append.remote(i) for i in range(200)]
    assert rayo.get(refs, timeout=T) == list(range(1, 201))
    assert rayo.get(c.get_log.remote(), timeout=T) == list(range(200))


def test_one_process_per_actor(rayo_start):
    a, b = Counter.remote(), Counter.remote()
    pa, pb = rayo.get([a.pid.remote(), b.pid.remote()], timeout=T)
    assert pa != pb and os.getpid() not in (pa, pb)
    assert rayo.get(a.pid.remote(), timeout=T) == pa


def test_method_result_as_argument(rayo_start):
    a, b = Counter.remote(1), Counter.remote(0)
    # b.incr(a.incr()) : a's result, resolved, is b's argument.
    assert rayo.get(b.incr.remote(a.incr.remote(4)), timeout=T) == 5

    @rayo.remote
    def double(x):
        return 2 * x

    assert rayo.get(double.remote(a.value.remote()), timeout=T) == 10
    assert rayo.get(a.incr.remote(double.remote(3)), timeout=T) == 11


def test_method_exception_keeps_the_actor(rayo_start):
    c = Counter.remote(3)
    with pytest.raises(ex.RayTaskError) as info:
        rayo.get(c.fail.remote("actor failure"), timeout=T)
    assert isinstance(info.value, ValueError)
    assert "actor failure" in str(info.value)
    assert "in fail" in str(info.value)  # the remote traceback
    assert "Counter.fail" in info.value.function_name
    # The actor lives on, with its state.
    assert rayo.get(c.incr.remote(), timeout=T) == 4


def test_method_options(rayo_start):
    c = Counter.remote()
    with pytest.raises(ex.RayTaskError) as info:
        rayo.get(c.fail.options(name="named-call").remote("x"), timeout=T)
    assert info.value.function_name == "named-call"
    with pytest.raises(ValueError):
        c.incr.options(num_cpus=1)
    with pytest.raises(NotImplementedError):
        c.incr.options(num_returns=2).remote()


def test_handle_api(rayo_start):
    c = Counter.remote()
    assert c.class_name == "Counter"
    assert "Counter" in repr(c)
    same = rayo.get(rayo.put([c]), timeout=T)[0]
    assert same == c and hash(same) == hash(c)
    assert c != Counter.remote()
    with pytest.raises(AttributeError):
        c._private


def test_handle_passed_to_a_task(rayo_start):
    c = Counter.remote()

    @rayo.remote
    def use(counter, n):
        return rayo.get([counter.incr.remote() for _ in range(n)], timeout=60)

    assert rayo.get(use.remote(c, 3), timeout=T) == [1, 2, 3]
    # Nested in a list as well.

    @rayo.remote
    def use_nested(counters):
        return rayo.get(counters[0].incr.remote(10), timeout=60)

    assert rayo.get(use_nested.remote([c]), timeout=T) == 13
    assert rayo.get(c.value.remote(), timeout=T) == 13


def test_handle_passed_to_another_actor(rayo_start):
    c = Counter.remote()

    @rayo.remote
    class User:
        def __init__(self, counter):
            self.counter = counter

        def bump(self):
            return rayo.get(self.counter.incr.remote(), timeout=60)

        def bump_other(self, other):
            return rayo.get(other.incr.remote(100), timeout=60)

    u = User.remote(c)
    assert rayo.get([u.bump.remote() for _ in range(3)], timeout=T) == [1, 2, 3]
    d = Counter.remote()
    assert rayo.get(u.bump_other.remote(d), timeout=T) == 100
    assert rayo.get(c.value.remote(), timeout=T) == 3


def test_actor_created_in_a_task(rayo_start):
    @rayo.remote
    def make():
        c = Counter.remote(7)
        rayo.get(c.incr.remote(), timeout=60)
        return rayo.get(c.value.remote(), timeout=60)

    assert rayo.get(make.remote(), timeout=T) == 8


def test_handle_returned_from_an_actor(rayo_start):
    @rayo.remote
    class Factory:
        def __init__(self):
            self.made = []

        def make(self, start):
            c = Counter.remote(start)
            self.made.append(c)  # the factory keeps it alive
            return c

    f = Factory.remote()
    c = rayo.get(f.make.remote(40), timeout=T)
    assert rayo.get(c.incr.remote(2), timeout=T) == 42


def test_actor_method_calling_itself_through_a_handle(rayo_start):
    # A threaded actor can call itself (the call is not queued behind the
    # running one).
    @rayo.remote(max_concurrency=2)
    class Self:
        def __init__(self):
            self.me = None

        def set_me(self, me):
            self.me = me

        def outer(self):
            return rayo.get(self.me.inner.remote(), timeout=60) + 1

        def inner(self):
            return 1

    s = Self.remote()
    rayo.get(s.set_me.remote(s), timeout=T)
    assert rayo.get(s.outer.remote(), timeout=T) == 2


def test_actor_resources_and_env(rayo_start):
    @rayo.remote(num_cpus=1, runtime_env={"env_vars": {"PYT_ACTOR_VAR": "actor-env"}})
    class Env:
        def get(self, name):
            return os.environ.get(name)

    e = Env.remote()
    assert rayo.get(e.get.remote("PYT_ACTOR_VAR"), timeout=T) == "actor-env"
    rayo.kill(e)


def test_nonexistent_method(rayo_start):
    # Ray's handle knows its class's methods and raises AttributeError at
    # once; rayo's does not, and the call fails (the actor lives on).
    c = Counter.remote(1)
    with pytest.raises(ex.RayError, match="no_such_method"):
        rayo.get(c.no_such_method.remote(), timeout=T)
    assert rayo.get(c.value.remote(), timeout=T) == 1


# --- bad input ---------------------------------------------------------------


def test_actor_class_misuse(rayo_start):
    with pytest.raises(TypeError, match=r"\.remote\(\)"):
        Counter()
    with pytest.raises(ValueError, match="no_such_option"):
        Counter.options(no_such_option=1)
    with pytest.raises(ValueError, match="max_retries"):
        Counter.options(max_retries=1)  # a task's option
    for bad in ({"num_cpus": -1}, {"max_restarts": -2}, {"max_task_retries": 1.5}, {"max_concurrency": 0},
                {"max_concurrency": True}):
        with pytest.raises(ValueError):
            Counter.options(**bad)
    with pytest.raises(ValueError):
        Counter.options(lifetime="forever").remote()
    with pytest.raises(ValueError):
        Counter.options(get_if_exists=True).remote()  # no name
    with pytest.raises(ValueError):
        rayo.kill("not a handle")
    with pytest.raises(ValueError):
        rayo.get_actor("")


def test_async_init_refused(rayo_start):
    @rayo.remote
    class AsyncInit:
        async def __init__(self):
            pass

        async def f(self):
            return 1

    a = AsyncInit.remote()
    with pytest.raises(ex.RayActorError):
        rayo.get(a.f.remote(), timeout=T)


# --- names and namespaces ------------------------------------------------------


def test_named_actor(rayo_start):
    c = Counter.options(name="named-counter").remote(5)
    rayo.get(c.incr.remote(), timeout=T)
    h = rayo.get_actor("named-counter")
    assert h == c
    assert rayo.get(h.incr.remote(), timeout=T) == 7

    @rayo.remote
    def from_task():
        return rayo.get(rayo.get_actor("named-counter").incr.remote(), timeout=60)

    assert rayo.get(from_task.remote(), timeout=T) == 8
    rayo.kill(c)


def test_get_actor_missing(rayo_start):
    with pytest.raises(ValueError, match="no-such-actor"):
        rayo.get_actor("no-such-actor")


def test_duplicate_name(rayo_start):
    c = Counter.options(name="taken-name").remote()
    try:
        with pytest.raises(ValueError):
            Counter.options(name="taken-name").remote()
    finally:
        rayo.kill(c)


def test_duplicate_name_is_refused(rayo_start):
    c = Counter.options(name="taken-name-2").remote(1)
    with pytest.raises(ValueError, match="taken-name-2"):
        Counter.options(name="taken-name-2").remote()
    # The first is untouched.
    assert rayo.get(rayo.get_actor("taken-name-2").value.remote(), timeout=T) == 1
    rayo.kill(c)


def test_get_if_exists(rayo_start):
    a = Counter.options(name="singleton", get_if_exists=True).remote(1)
    rayo.get(a.incr.remote(), timeout=T)
    b = Counter.options(name="singleton", get_if_exists=True).remote(100)  # constructor args unused
    assert b == a
    assert rayo.get(b.incr.remote(), timeout=T) == 3
    rayo.kill(a)


def test_namespaces(rayo_start):
    a = Counter.options(name="same-name", namespace="ns-a").remote(1)
    b = Counter.options(name="same-name", namespace="ns-b").remote(2)
    assert a != b
    assert rayo.get(rayo.get_actor("same-name", namespace="ns-a").value.remote(), timeout=T) == 1
    assert rayo.get(rayo.get_actor("same-name", namespace="ns-b").value.remote(), timeout=T) == 2
    with pytest.raises(ValueError):
        rayo.get_actor("same-name")  # not in the job's namespace
    with pytest.raises(ValueError):
        rayo.get_actor("same-name", namespace="ns-c")
    rayo.kill(a)
    rayo.kill(b)


# --- kill, death and restarts -----------------------------------------------------


def test_kill(rayo_start):
    c = Counter.remote()
    pid = rayo.get(c.pid.remote(), timeout=T)
    rayo.kill(c)
    with pytest.raises(ex.RayActorError) as info:
        rayo.get(c.value.remote(), timeout=T)
    assert isinstance(info.value, ex.ActorDiedError)
    poll(lambda: process_gone(pid), "the killed actor's process to exit")
    # Killing it again is harmless.
    rayo.kill(c)


def test_kill_named_actor_frees_the_name(rayo_start):
    c = Counter.options(name="to-be-killed").remote()
    rayo.get(c.value.remote(), timeout=T)
    rayo.kill(c)
    with pytest.raises(ex.ActorDiedError):
        rayo.get(c.value.remote(), timeout=T)
    poll(lambda: _missing("to-be-killed"), "the killed actor's name to be freed")
    d = Counter.options(name="to-be-killed").remote(9)
    assert rayo.get(d.value.remote(), timeout=T) == 9
    rayo.kill(d)


def _missing(name):
    try:
        rayo.get_actor(name)
    except ValueError:
        return True
    return False


def test_pending_calls_fail_when_killed(rayo_start, tmp_path):
    gate = str(tmp_path / "gate")

    @rayo.remote
    class Slow:
        def wait(self, path):
            import time
            deadline = time.monotonic() + 50
            while not os.path.exists(path) and time.monotonic() < deadline:
                time.sleep(0.01)
            return "done"

        def ping(self):
            return "pong"

    s = Slow.remote()
    assert rayo.get(s.ping.remote(), timeout=T) == "pong"
    running = s.wait.remote(gate)
    queued = [s.ping.remote() for _ in range(3)]
    rayo.kill(s)
    for r in [running] + queued:
        with pytest.raises(ex.RayActorError):
            rayo.get(r, timeout=T)
    open(gate, "w").close()


def test_crash_without_restarts(rayo_start):
    c = Counter.remote()
    pid = rayo.get(c.pid.remote(), timeout=T)
    with pytest.raises(ex.RayActorError):
        rayo.get(c.crash.remote(), timeout=T)
    with pytest.raises(ex.ActorDiedError):
        rayo.get(c.value.remote(), timeout=T)
    poll(lambda: process_gone(pid), "the crashed actor's process to be gone")


def test_crash_with_restarts(rayo_start):
    c = Counter.options(max_restarts=2).remote(10)
    assert rayo.get(c.incr.remote(), timeout=T) == 11
    pid1 = rayo.get(c.pid.remote(), timeout=T)
    with pytest.raises(ex.RayActorError):
        rayo.get(c.crash.remote(), timeout=T)
    # Restarted: the constructor ran again (state is reset), in a new process.
    assert rayo.get(c.value.remote(), timeout=T) == 10
    pid2 = rayo.get(c.pid.remote(), timeout=T)
    assert pid2 != pid1
    with pytest.raises(ex.RayActorError):
        rayo.get(c.crash.remote(), timeout=T)
    assert rayo.get(c.incr.remote(), timeout=T) == 11
    # The restarts are spent: the third crash is its death.
    with pytest.raises(ex.RayActorError):
        rayo.get(c.crash.remote(), timeout=T)
    with pytest.raises(ex.ActorDiedError):
        rayo.get(c.value.remote(), timeout=T)


def test_crash_with_task_retries(rayo_start, tmp_path):
    # max_task_retries: the call that crashed the actor runs again on the
    # restarted one, and its result reaches the caller.
    path = str(tmp_path / "attempts")

    @rayo.remote(max_restarts=1, max_task_retries=1)
    class Flaky:
        def once(self, path):
            with open(path, "a") as f:
                f.write("x\n")
            with open(path) as f:
                if len(f.read().splitlines()) == 1:
                    os._exit(1)
            return "second attempt"

    f = Flaky.remote()
    assert rayo.get(f.once.remote(path), timeout=T) == "second attempt"
    with open(path) as fh:
        assert len(fh.read().splitlines()) == 2


def test_kill_with_restart(rayo_start):
    c = Counter.options(max_restarts=1).remote(1)
    pid = rayo.get(c.pid.remote(), timeout=T)
    rayo.kill(c, no_restart=False)
    # It comes back (a call may fail while it is down).

    def restarted():
        try:
            return rayo.get(c.pid.remote(), timeout=T) != pid
        except ex.RayActorError:
            return False

    poll(restarted, "the actor to restart after kill(no_restart=False)")
    assert rayo.get(c.value.remote(), timeout=T) == 1
    rayo.kill(c)
    with pytest.raises(ex.ActorDiedError):
        rayo.get(c.value.remote(), timeout=T)


def test_constructor_failure(rayo_start):
    @rayo.remote
    class BadInit:
        def __init__(self, msg):
            raise RuntimeError(msg)

        def f(self):
            return 1

    b = BadInit.remote("constructor failed")
    with pytest.raises(ex.ActorDiedError) as info:
        rayo.get(b.f.remote(), timeout=T)
    assert "constructor failed" in str(info.value)
    with pytest.raises(ex.ActorDiedError):
        rayo.get(b.f.remote(), timeout=T)


# --- lifetimes -------------------------------------------------------------------


def test_out_of_scope_actor_dies(rayo_start, tmp_path):
    # An actor whose handles are all gone is killed (Ray's scoping). Its
    # constructor tells its pid: no method call is made.
    path = str(tmp_path / "pid")

    @rayo.remote
    class Tells:
        def __init__(self, path):
            with open(path + ".tmp", "w") as f:
                f.write(str(os.getpid()))
            os.rename(path + ".tmp", path)

    c = Tells.remote(path)
    poll(lambda: os.path.exists(path), "the actor's constructor to run")
    with open(path) as f:
        pid = int(f.read())
    assert not process_gone(pid)
    del c
    poll(lambda: process_gone(pid), "the actor's process to exit once its handle is gone", timeout=30)


def test_out_of_scope_actor_dies_after_calls(rayo_start):
    c = Counter.remote()
    pid = rayo.get(c.pid.remote(), timeout=T)
    del c
    # A generous bound: the actor dies within a second when this works.
    poll(lambda: process_gone(pid), "the actor's process to exit once its handle is gone", timeout=5)


def test_handle_in_an_object_keeps_the_actor(rayo_start):
    c = Counter.remote(5)
    boxed = rayo.put([c])
    del c
    rayo._current().flush_releases()
    h = rayo.get(boxed, timeout=T)[0]
    assert rayo.get(h.value.remote(), timeout=T) == 5


def test_call_on_a_temporary_handle(rayo_start):
    # Actor.remote().method.remote(): the handle is gone at once, the call
    # still runs.
    assert rayo.get(Counter.remote(41).incr.remote(), timeout=T) == 42


def test_detached_actor_outlives_its_handle(rayo_start):
    c = Counter.options(name="detached-one", lifetime="detached").remote(3)
    pid = rayo.get(c.pid.remote(), timeout=T)
    del c
    rayo._current().flush_releases()
    h = rayo.get_actor("detached-one")
    assert rayo.get(h.value.remote(), timeout=T) == 3
    assert rayo.get(h.pid.remote(), timeout=T) == pid
    rayo.kill(h)
    poll(lambda: process_gone(pid), "the detached actor to exit when killed")


# --- concurrency -----------------------------------------------------------------


def test_threaded_actor_runs_calls_concurrently(rayo_start):
    @rayo.remote(max_concurrency=3)
    class Threaded:
        def __init__(self):
            import threading
            self.barrier = threading.Barrier(3, timeout=20)

        def meet(self, i):
            # Returns only once 3 calls are in here together.
            import threading
            self.barrier.wait()
            return i, threading.current_thread().name

        def plain(self):
            return "plain"

    t = Threaded.remote()
    results = rayo.get([t.meet.remote(i) for i in range(3)], timeout=T)
    assert sorted(i for i, _ in results) == [0, 1, 2]
    assert len({name for _, name in results}) == 3  # three threads
    assert rayo.get(t.plain.remote(), timeout=T) == "plain"


def test_max_concurrency_bounds_the_threads(rayo_start):
    @rayo.remote(max_concurrency=2)
    class Two:
        def __init__(self):
            import threading
            self.lock = threading.Lock()
            self.now = 0
            self.peak = 0

        def work(self):
            import time
            with self.lock:
                self.now += 1
                self.peak = max(self.peak, self.now)
            time.sleep(0.02)  # overlap: not a synchronisation
            with self.lock:
                self.now -= 1

        def peak_seen(self):
            return self.peak

    t = Two.remote()
    rayo.get([t.work.remote() for _ in range(10)], timeout=T)
    assert rayo.get(t.peak_seen.remote(), timeout=T) <= 2


def test_default_actor_runs_one_call_at_a_time(rayo_start):
    @rayo.remote
    class One:
        def __init__(self):
            self.inside = 0
            self.overlap = False

        def work(self):
            import time
            self.inside += 1
            if self.inside > 1:
                self.overlap = True
            time.sleep(0.005)
            self.inside -= 1

        def overlapped(self):
            return self.overlap

    o = One.remote()
    rayo.get([o.work.remote() for _ in range(10)], timeout=T)
    assert rayo.get(o.overlapped.remote(), timeout=T) is False


def test_async_actor_runs_calls_concurrently(rayo_start):
    @rayo.remote
    class AsyncActor:
        def __init__(self):
            import asyncio
            self.event = asyncio.Event()
            self.count = 0

        async def wait_for_event(self):
            import asyncio
            await asyncio.wait_for(self.event.wait(), 20)
            return "released"

        async def set_event(self):
            self.event.set()
            return "set"

        async def gather(self, n):
            import asyncio

            async def one(i):
                await asyncio.sleep(0)
                return i * i
            return await asyncio.gather(*[one(i) for i in range(n)])

        def sync_method(self):
            self.count += 1
            return self.count

    a = AsyncActor.remote()
    waiters = [a.wait_for_event.remote() for _ in range(5)]
    # The waiters are blocked in the actor, and the setter still runs.
    assert rayo.get(a.set_event.remote(), timeout=T) == "set"
    assert rayo.get(waiters, timeout=T) == ["released"] * 5
    assert rayo.get(a.gather.remote(4), timeout=T) == [0, 1, 4, 9]
    assert rayo.get([a.sync_method.remote() for _ in range(3)], timeout=T) == [1, 2, 3]


def test_async_actor_with_max_concurrency_one(rayo_start):
    @rayo.remote(max_concurrency=1)
    class Serial:
        def __init__(self):
            self.log = []

        async def step(self, i):
            import asyncio
            self.log.append(("in", i))
            await asyncio.sleep(0.001)
            self.log.append(("out", i))

        async def get_log(self):
            return self.log

    s = Serial.remote()
    rayo.get([s.step.remote(i) for i in range(3)], timeout=T)
    log = rayo.get(s.get_log.remote(), timeout=T)
    assert [tuple(e) for e in log] == [("in", 0), ("out", 0), ("in", 1), ("out", 1), ("in", 2), ("out", 2)]


def test_async_actor_exception(rayo_start):
    @rayo.remote
    class AsyncFails:
        async def fail(self):
            raise KeyError("async failure")

        async def ok(self):
            return "ok"

    a = AsyncFails.remote()
    with pytest.raises(KeyError) as info:
        rayo.get(a.fail.remote(), timeout=T)
    assert "async failure" in str(info.value)
    assert rayo.get(a.ok.remote(), timeout=T) == "ok"


def test_threaded_actor_exception(rayo_start):
    c = Counter.options(max_concurrency=4).remote()
    with pytest.raises(ValueError):
        rayo.get(c.fail.remote("threaded"), timeout=T)
    assert rayo.get(c.incr.remote(), timeout=T) == 1


def test_cancel_actor_call(rayo_start, tmp_path):
    # Cancelling a queued call of an actor ends it without running it.
    gate = str(tmp_path / "gate")
    marker = str(tmp_path / "ran")

    @rayo.remote
    class Blocked:
        def wait(self, path):
            import time
            deadline = time.monotonic() + 50
            while not os.path.exists(path) and time.monotonic() < deadline:
                time.sleep(0.01)
            return "waited"

        def mark(self, path):
            open(path, "w").close()
            return "marked"

    b = Blocked.remote()
    running = b.wait.remote(gate)
    queued = b.mark.remote(marker)
    rayo.cancel(queued)
    open(gate, "w").close()
    assert rayo.get(running, timeout=T) == "waited"
    with pytest.raises(ex.TaskCancelledError):
        rayo.get(queued, timeout=T)
    assert not os.path.exists(marker)


def test_cancel_running_actor_call_is_not_interrupted(rayo_start, tmp_path):
    # Ray's semantics: a regular actor's running call is not interrupted
    # (actors have state); it can see the cancel with is_canceled().
    started = str(tmp_path / "started")

    @rayo.remote
    class Spinner:
        def spin(self, deadline):
            open(started, "w").close()
            while not rayo.get_runtime_context().is_canceled():
                if time.time() > deadline:
                    return "never saw the cancel"
                time.sleep(0.005)
            return "saw the cancel"

        def alive(self):
            return True

    s = Spinner.remote()
    ref = s.spin.remote(time.time() + 30)
    poll(lambda: os.path.exists(started), "the call to start")
    rayo.cancel(ref)
    assert rayo.get(ref, timeout=T) == "saw the cancel"
    assert rayo.get(s.alive.remote(), timeout=T)  # the actor lives on


def test_cancel_async_actor_call_cancels_its_coroutine(rayo_start, tmp_path):
    started = str(tmp_path / "started")

    @rayo.remote
    class Sleeper:
        def __init__(self):
            self.cancelled = 0

        async def sleep(self):
            open(started, "w").close()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                self.cancelled += 1
                raise

        async def count(self):
            return self.cancelled

    s = Sleeper.remote()
    ref = s.sleep.remote()
    poll(lambda: os.path.exists(started), "the call to start")
    rayo.cancel(ref)
    with pytest.raises(ex.TaskCancelledError):
        rayo.get(ref, timeout=T)
    assert rayo.get(s.count.remote(), timeout=T) == 1


def test_await_ref_in_an_async_actor(rayo_start):
    @rayo.remote
    def slow_double(x):
        return 2 * x

    @rayo.remote
    class Awaiter:
        async def run(self, n):
            return sum(await asyncio.gather(*[slow_double.remote(i) for i in range(n)]))

    a = Awaiter.remote()
    assert rayo.get(a.run.remote(5), timeout=T) == 20


# --- a regular actor's calls reach its worker several at a time -------------

@rayo.remote
class Gated:
    """Calls that wait for a file, and calls that leave one."""

    def wait(self, path, at_least=0.0):
        start = time.monotonic()
        deadline = start + 50
        while not os.path.exists(path):
            if time.monotonic() > deadline:
                return "timed out"
            time.sleep(0.005)
        # A call that lasts: the worker takes cancels before the next call
        # of its batch once one has run 1 ms (worker.POLL_AFTER), also
        # when the gate opened before this call began.
        time.sleep(max(0.0, at_least - (time.monotonic() - start)))
        return "waited"

    def mark(self, path):
        open(path, "w").close()
        return os.path.basename(path)


def test_pipelined_calls_never_overlap_and_keep_their_order(rayo_start):
    @rayo.remote
    class Serial:
        def __init__(self):
            self.inside, self.log = False, []

        def step(self, i):
            assert not self.inside, "two calls of a serial actor ran at once"
            self.inside = True
            self.log.append(i)
            self.inside = False
            return i

        def get_log(self):
            return self.log

    s = Serial.remote()
    refs = [s.step.remote(i) for i in range(2000)]
    assert rayo.get(refs, timeout=T) == list(range(2000))
    assert rayo.get(s.get_log.remote(), timeout=T) == list(range(2000))


def test_cancel_of_a_call_queued_in_the_worker_drops_it(rayo_start, tmp_path):
    # Calls queued behind a long one reach the Python worker in one batch;
    # one cancelled while it waits there still does not run.
    g0, g1 = str(tmp_path / "g0"), str(tmp_path / "g1")
    marks = [str(tmp_path / ("m%d" % i)) for i in range(5)]
    a = Gated.remote()
    first = a.wait.remote(g0)
    second = a.wait.remote(g1, 0.05)
    refs = [a.mark.remote(m) for m in marks]
    open(g0, "w").close()  # the worker takes second and the marks together
    assert rayo.get(first, timeout=T) == "waited"
    rayo.cancel(refs[2])
    open(g1, "w").close()
    assert rayo.get(second, timeout=T) == "waited"
    with pytest.raises(ex.TaskCancelledError):
        rayo.get(refs[2], timeout=T)
    assert rayo.get(refs[:2] + refs[3:], timeout=T) == ["m0", "m1", "m3", "m4"]
    assert not os.path.exists(marks[2])


def test_exit_actor_runs_none_of_the_calls_queued_behind_it(rayo_start, tmp_path):
    log = str(tmp_path / "log")

    @rayo.remote
    class Quitter:
        def step(self, i, last):
            with open(log, "a") as f:
                f.write("%d\n" % i)
            if i == last:
                rayo.actor.exit_actor()
            return i

    q = Quitter.remote()
    refs = [q.step.remote(i, 5) for i in range(40)]
    assert rayo.get(refs[:5], timeout=T) == [0, 1, 2, 3, 4]
    assert rayo.get(refs[5], timeout=T) is None
    for r in refs[6:]:
        with pytest.raises(ex.RayActorError):
            rayo.get(r, timeout=T)
    with open(log) as f:
        assert f.read().split() == [str(i) for i in range(6)]


def test_recursive_cancel_reaches_the_tasks_of_a_pipelined_call(rayo_start, tmp_path):
    # The call's child is known as its own (the submit names its parent),
    # although the calls queued behind it are in the worker as well.
    never, started = str(tmp_path / "never"), str(tmp_path / "started")

    @rayo.remote(num_cpus=0)
    def child(path, started):
        open(started, "w").close()
        deadline = time.monotonic() + 50
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.005)
        return "ran out"

    @rayo.remote
    class Parent:
        def spawn(self):
            self.kid = child.remote(never, started)
            return rayo.get(self.kid)

        def kid_ref(self):
            return [self.kid]

    p = Parent.remote()
    spawned = p.spawn.remote()
    queued = [p.kid_ref.remote() for _ in range(5)]
    poll(lambda: os.path.exists(started), "the child task to run")
    rayo.cancel(spawned, recursive=True)
    with pytest.raises(ex.TaskCancelledError):
        rayo.get(spawned, timeout=T)
    [kid] = rayo.get(queued[0], timeout=T)
    with pytest.raises(ex.TaskCancelledError):
        rayo.get(kid, timeout=T)
