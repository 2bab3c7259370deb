"""Tasks, objects and actors on an embedded cluster (in the manner of
Ray's python/ray/tests/test_basic.py), and rayo.init itself.

The tests that start their own cluster (shutdown_only) come first: the
module's shared cluster (rayo_start) is started by the first test that
asks for it and lives to the module's end, and one process holds one
cluster at a time.
"""

import os

import pytest

import rayo
from rayo import exceptions as ex
from rayohead import poll

T = 60  # seconds: the bound on every get that could block


@rayo.remote
def identity(x):
    return x


@rayo.remote
def getenv(name):
    return os.environ.get(name)


# --- rayo.init and shutdown (each test starts its own cluster) --------------


def test_not_initialized(shutdown_only):
    assert not rayo.is_initialized()
    with pytest.raises(ex.RaySystemError):
        rayo.put(1)
    with pytest.raises(ex.RaySystemError):
        identity.remote(1)


def test_init_twice(shutdown_only):
    rayo.init(num_cpus=1, _temp_dir=shutdown_only)
    assert rayo.is_initialized()
    with pytest.raises(RuntimeError):
        rayo.init(num_cpus=1, _temp_dir=shutdown_only)
    rayo.init(num_cpus=1, _temp_dir=shutdown_only, ignore_reinit_error=True)
    # Still the first cluster.
    assert rayo.get(identity.remote(1), timeout=T) == 1


def test_init_unknown_argument(shutdown_only):
    with pytest.raises(TypeError, match="no_such_arg"):
        rayo.init(no_such_arg=1)
    assert not rayo.is_initialized()


def test_shutdown_and_init_again(shutdown_only):
    rayo.init(num_cpus=1, _temp_dir=shutdown_only)
    ref = rayo.put("first")
    assert rayo.get(ref, timeout=T) == "first"
    rayo.shutdown()
    assert not rayo.is_initialized()
    rayo.shutdown()  # a second shutdown does nothing
    rayo.init(num_cpus=1, _temp_dir=shutdown_only)
    assert rayo.get(identity.remote("second"), timeout=T) == "second"


def test_core_gone_is_a_ray_error(shutdown_only):
    # The bridge dying (killed, say) is a RaySystemError on the next call,
    # not a transport exception; shutdown still works.
    from rayo import _runtime, exceptions

    rayo.init(num_cpus=1, _temp_dir=shutdown_only)
    ref = rayo.put(1)
    core = _runtime.current()
    core.proc.kill()
    core.proc.wait(timeout=60)
    with pytest.raises(exceptions.RaySystemError, match="core process is gone"):
        for _ in range(100):  # the socket's end may take a moment to show
            rayo.get(ref, timeout=5)
    rayo.shutdown()
    assert not rayo.is_initialized()


def test_init_runtime_env(shutdown_only):
    rayo.init(num_cpus=1, runtime_env={"env_vars": {"PYT_JOB_VAR": "job-wide"}}, _temp_dir=shutdown_only)
    assert rayo.get(getenv.remote("PYT_JOB_VAR"), timeout=T) == "job-wide"
    # A task's own env_vars add to the job's.
    opts = getenv.options(runtime_env={"env_vars": {"PYT_TASK_VAR": "task"}})
    assert rayo.get(opts.remote("PYT_TASK_VAR"), timeout=T) == "task"
    assert rayo.get(opts.remote("PYT_JOB_VAR"), timeout=T) == "job-wide"


def test_custom_resources_and_gpus(shutdown_only):
    rayo.init(num_cpus=1, num_gpus=1, resources={"custom": 2}, _temp_dir=shutdown_only)
    assert rayo.get(identity.options(resources={"custom": 2}).remote(1), timeout=T) == 1
    assert rayo.get(identity.options(num_gpus=1).remote(2), timeout=T) == 2
    assert rayo.get(identity.options(num_gpus=0.5, resources={"custom": 0.5}).remote(3), timeout=T) == 3
    # More than the node has: it waits (Ray's infeasible task), until cancelled.
    r = identity.options(resources={"custom": 3}).remote(4)
    with pytest.raises(ex.GetTimeoutError):
        rayo.get(r, timeout=0.5)
    rayo.cancel(r)
    with pytest.raises(ex.TaskCancelledError):
        rayo.get(r, timeout=T)


def test_namespace(shutdown_only):
    rayo.init(num_cpus=1, namespace="my-namespace", _temp_dir=shutdown_only)

    @rayo.remote
    class A:
        def ping(self):
            return "pong"

    a = A.options(name="in-ns").remote()
    assert rayo.get(a.ping.remote(), timeout=T) == "pong"
    assert rayo.get_actor("in-ns") == a
    assert rayo.get_actor("in-ns", namespace="my-namespace") == a
    with pytest.raises(ValueError):
        rayo.get_actor("in-ns", namespace="another-namespace")


def test_printing_from_a_task_reaches_the_driver(shutdown_only, capfd):
    # The bridge writes the workers' output on the driver's stdout as it
    # arrives: it is started here, under capfd.
    rayo.init(num_cpus=1, _temp_dir=shutdown_only)

    @rayo.remote
    def speak(word):
        import sys
        print("hello from the task:", word)
        print("on stderr:", word, file=sys.stderr)
        return os.getpid()

    pid = rayo.get(speak.remote("abracadabra"), timeout=T)
    seen = []

    def printed():
        out, err = capfd.readouterr()
        seen.append(out + err)
        text = "".join(seen)
        return "hello from the task: abracadabra" in text and "on stderr: abracadabra" in text

    poll(printed, "the task's output on the driver", timeout=30)
    line = [ln for ln in "".join(seen).splitlines() if "hello from the task" in ln][0]
    # Ray's prefix: where it ran.
    assert line.startswith("(") and "speak" in line, line
    assert pid != os.getpid()


def test_log_to_driver_false(shutdown_only, capfd):
    rayo.init(num_cpus=1, log_to_driver=False, _temp_dir=shutdown_only)

    @rayo.remote
    def speak():
        print("should not reach the driver")
        return 1

    assert rayo.get(speak.remote(), timeout=T) == 1
    rayo.shutdown()  # lets output on its way arrive first
    out, err = capfd.readouterr()
    assert "should not reach the driver" not in out + err


# --- on the module's shared cluster ------------------------------------------


@rayo.remote
def add(a, b=1):
    return a + b


def test_task_and_put(rayo_start):
    assert rayo.get(add.remote(1, b=5)) == 6
    r = rayo.put({"a": [1, 2, 3]})
    assert rayo.get(r) == {"a": [1, 2, 3]}
    # A top-level ref argument arrives as its value.
    assert rayo.get(add.remote(rayo.put(2), 3)) == 5
    assert rayo.get([add.remote(i) for i in range(20)]) == list(range(1, 21))


@rayo.remote
class Counter:
    def __init__(self, start=0):
        self.n = start

    def incr(self, k=1):
        self.n += k
        return self.n


def test_actor(rayo_start):
    c = Counter.remote(10)
    assert rayo.get(c.incr.remote()) == 11
    assert rayo.get([c.incr.remote(2) for _ in range(5)]) == [13, 15, 17, 19, 21]


def test_init_while_the_module_cluster_runs(rayo_start):
    with pytest.raises(RuntimeError):
        rayo.init()
    rayo.init(ignore_reinit_error=True)
    assert rayo.get(add.remote(1), timeout=T) == 2

