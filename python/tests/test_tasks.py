"""Remote functions: calls, arguments, options and returns (in the manner of
Ray's python/ray/tests/test_basic.py and test_basic_2.py).

Everything here shares one embedded cluster of 2 CPUs (rayo_start). Classes
and helpers a task needs are defined inside the test or the task, as in
Ray's suite: the workers cannot import the test modules themselves.
"""

import os

import numpy as np
import pytest

import rayo
from rayo import exceptions as ex

T = 60  # seconds: the bound on every get that could block


@rayo.remote
def echo(*args, **kwargs):
    return args, kwargs


@rayo.remote
def add(a, b=1):
    return a + b


@rayo.remote
def identity(x):
    return x


@rayo.remote(num_cpus=1, max_retries=0)
def with_options(x):
    return x * 2


@rayo.remote
def is_ref(x):
    return isinstance(x, rayo.ObjectRef)


@rayo.remote
def get_in_task(refs):
    # refs: a list of ObjectRefs, nested in the argument.
    return [rayo.get(r, timeout=60) for r in refs]


def test_no_args(rayo_start):
    @rayo.remote
    def f():
        return 1

    assert rayo.get(f.remote(), timeout=T) == 1


def test_positional_and_keyword_args(rayo_start):
    assert rayo.get(add.remote(1), timeout=T) == 2
    assert rayo.get(add.remote(1, 2), timeout=T) == 3
    assert rayo.get(add.remote(1, b=5), timeout=T) == 6
    assert rayo.get(add.remote(a=3, b=4), timeout=T) == 7
    assert rayo.get(add.remote(b=4, a=3), timeout=T) == 7
    args, kwargs = rayo.get(echo.remote(1, "two", None, x=[1], y={"k": 3.5}), timeout=T)
    assert list(args) == [1, "two", None]
    assert kwargs == {"x": [1], "y": {"k": 3.5}}


def test_varargs_defaults_and_keyword_only(rayo_start):
    @rayo.remote
    def f(a, *rest, b=10, c, **more):
        return [a, list(rest), b, c, sorted(more.items())]

    assert rayo.get(f.remote(1, 2, 3, c=4, z=5), timeout=T) == [1, [2, 3], 10, 4, [["z", 5]]]


def test_wrong_arguments_fail_the_task(rayo_start):
    # Ray: the call's TypeError is raised in the worker and reaches get.
    with pytest.raises(TypeError):
        rayo.get(add.remote(), timeout=T)
    with pytest.raises(TypeError):
        rayo.get(add.remote(1, 2, 3), timeout=T)
    with pytest.raises(TypeError):
        rayo.get(add.remote(1, c=3), timeout=T)


def test_closure_and_lambda(rayo_start):
    k = 41

    @rayo.remote
    def f(x):
        return x + k

    assert rayo.get(f.remote(1), timeout=T) == 42
    g = rayo.remote(lambda x: x * 3)
    assert rayo.get(g.remote(5), timeout=T) == 15


def test_many_tasks(rayo_start):
    refs = [add.remote(i, b=i) for i in range(200)]
    assert rayo.get(refs, timeout=T) == [2 * i for i in range(200)]


def test_decorator_with_options(rayo_start):
    assert rayo.get(with_options.remote(21), timeout=T) == 42
    assert with_options._options == {"num_cpus": 1, "max_retries": 0}


def test_options_override_and_leave_the_original(rayo_start):
    f2 = add.options(num_cpus=0.5, max_retries=1, name="half-cpu-add")
    assert rayo.get(f2.remote(1, 2), timeout=T) == 3
    assert f2._options == {"num_cpus": 0.5, "max_retries": 1, "name": "half-cpu-add"}
    assert add._options == {}
    # options of options merge
    f3 = f2.options(num_cpus=0)
    assert f3._options == {"num_cpus": 0, "max_retries": 1, "name": "half-cpu-add"}
    assert rayo.get(f3.remote(2, 2), timeout=T) == 4


def test_zero_cpu_tasks_run_beside_busy_cpus(rayo_start, tmp_path):
    # Two tasks hold both CPUs until a file appears; a num_cpus=0 task
    # still runs, and creates it.
    flag = str(tmp_path / "go")

    @rayo.remote
    def hold(path):
        import time
        deadline = time.monotonic() + 50
        while not os.path.exists(path):
            if time.monotonic() > deadline:
                return "timed out"
            time.sleep(0.01)
        return "released"

    @rayo.remote(num_cpus=0)
    def release(path):
        open(path, "w").close()
        return "done"

    held = [hold.remote(flag) for _ in range(2)]
    assert rayo.get(release.remote(flag), timeout=T) == "done"
    assert rayo.get(held, timeout=T) == ["released", "released"]


def test_submits_go_out_while_the_driver_waits_for_nothing(rayo_start, tmp_path):
    # Submits after the first wait in a batch for the one before it to be
    # acknowledged, a reply left for the driver's next wait to read; with
    # no wait to come, the reader thread must read it, or they never go.
    @rayo.remote
    def touch(path):
        open(path, "w").close()

    paths = [str(tmp_path / str(i)) for i in range(20)]
    refs = [touch.remote(p) for p in paths]
    import time
    deadline = time.monotonic() + T
    while not all(os.path.exists(p) for p in paths):
        assert time.monotonic() < deadline, "tasks submitted without a later wait never ran"
        time.sleep(0.01)
    del refs


def test_name_option_names_the_task(rayo_start):
    @rayo.remote
    def fails():
        raise ValueError("named failure")

    with pytest.raises(ex.RayTaskError) as info:
        rayo.get(fails.options(name="my-named-task").remote(), timeout=T)
    assert info.value.function_name == "my-named-task"
    assert str(info.value).startswith("my-named-task")
    # Without a name: the function's qualified name.
    with pytest.raises(ex.RayTaskError) as info:
        rayo.get(fails.remote(), timeout=T)
    assert info.value.function_name.endswith("test_name_option_names_the_task.<locals>.fails")


def test_runtime_env_env_vars(rayo_start):
    @rayo.remote
    def env(name):
        return os.environ.get(name)

    opts = env.options(runtime_env={"env_vars": {"PYT_TEST_VAR": "hello", "PYT_TEST_NUM": 7}})
    assert rayo.get(opts.remote("PYT_TEST_VAR"), timeout=T) == "hello"
    assert rayo.get(opts.remote("PYT_TEST_NUM"), timeout=T) == "7"
    # Not in tasks without it.
    assert rayo.get(env.remote("PYT_TEST_VAR"), timeout=T) is None
    # Names starting with RAYO_ are rayo's own: the submit is refused, and
    # the refusal is raised by get.
    r = env.options(runtime_env={"env_vars": {"RAYO_MINE": "x"}}).remote("RAYO_MINE")
    with pytest.raises(ValueError, match="RAYO_"):
        rayo.get(r, timeout=T)


def test_num_returns(rayo_start):
    @rayo.remote(num_returns=3)
    def three():
        return 1, "b", [3]

    refs = three.remote()
    assert isinstance(refs, list) and len(refs) == 3
    assert all(isinstance(r, rayo.ObjectRef) for r in refs)
    assert len(set(refs)) == 3
    assert rayo.get(refs, timeout=T) == [1, "b", [3]]
    assert rayo.get(refs[1], timeout=T) == "b"

    @rayo.remote
    def pair(x):
        return [x, x + 1]

    a, b = pair.options(num_returns=2).remote(5)
    assert rayo.get([b, a], timeout=T) == [6, 5]
    # num_returns=1 is a single ref, whatever the value.
    one = pair.options(num_returns=1).remote(5)
    assert isinstance(one, rayo.ObjectRef)
    assert rayo.get(one, timeout=T) == [5, 6]


def test_num_returns_wrong_count_fails_every_return(rayo_start):
    @rayo.remote(num_returns=2)
    def three():
        return 1, 2, 3

    refs = three.remote()
    for r in refs:
        with pytest.raises(ex.RayTaskError) as info:
            rayo.get(r, timeout=T)
        assert isinstance(info.value, ValueError)
        assert "num_returns=2" in str(info.value)


def test_num_returns_result_feeds_another_task(rayo_start):
    @rayo.remote(num_returns=2)
    def split(x):
        return x // 10, x % 10

    tens, units = split.remote(42)
    assert rayo.get(add.remote(tens, units), timeout=T) == 6


def test_top_level_ref_args_are_resolved(rayo_start):
    r = rayo.put(41)
    assert rayo.get(add.remote(r), timeout=T) == 42
    assert rayo.get(add.remote(1, b=r), timeout=T) == 42
    assert rayo.get(is_ref.remote(r), timeout=T) is False
    # A task's result as another's argument (a chain).
    x = identity.remote(1)
    for _ in range(5):
        x = add.remote(x)
    assert rayo.get(x, timeout=T) == 6
    # The same ref twice.
    assert rayo.get(add.remote(r, r), timeout=T) == 82


def test_nested_refs_stay_refs(rayo_start):
    a, b = rayo.put("a"), rayo.put({"b": 2})

    @rayo.remote
    def kinds(lst, dct):
        return [isinstance(x, rayo.ObjectRef) for x in lst] + [isinstance(dct["k"], rayo.ObjectRef)]

    assert rayo.get(kinds.remote([a, b], {"k": a}), timeout=T) == [True, True, True]
    assert rayo.get(is_ref.remote([a]), timeout=T) is False  # the list itself
    assert rayo.get(get_in_task.remote([a, b]), timeout=T) == ["a", {"b": 2}]
    # A task's pending result nested in an argument: the task gets it itself.
    assert rayo.get(get_in_task.remote([add.remote(1, 1)]), timeout=T) == [2]


def test_refs_inside_custom_objects(rayo_start):
    class Box:
        def __init__(self, ref, label):
            self.ref, self.label = ref, label

    @rayo.remote
    def open_box(box):
        return [box.label, isinstance(box.ref, rayo.ObjectRef), rayo.get(box.ref, timeout=60)]

    inner = rayo.put([1, 2, 3])
    assert rayo.get(open_box.remote(Box(inner, "x")), timeout=T) == ["x", True, [1, 2, 3]]
    # And from put: the object keeps the ref's value alive.
    boxed = rayo.put(Box(rayo.put("kept"), "y"))
    assert rayo.get(open_box.remote(boxed), timeout=T) == ["y", True, "kept"]
    got = rayo.get(boxed, timeout=T)
    assert isinstance(got, Box) and rayo.get(got.ref, timeout=T) == "kept"


def test_task_returns_refs(rayo_start):
    @rayo.remote
    def make():
        return rayo.put("made in a task")

    @rayo.remote
    def make_many():
        return {"refs": [rayo.put(i) for i in range(3)]}

    r = rayo.get(make.remote(), timeout=T)
    assert isinstance(r, rayo.ObjectRef)
    assert rayo.get(r, timeout=T) == "made in a task"
    d = rayo.get(make_many.remote(), timeout=T)
    assert rayo.get(d["refs"], timeout=T) == [0, 1, 2]


def test_nested_task_submission(rayo_start):
    @rayo.remote
    def outer(n):
        return rayo.get([add.remote(i, b=100) for i in range(n)], timeout=60)

    assert rayo.get(outer.remote(5), timeout=T) == [100, 101, 102, 103, 104]


def test_big_arguments_and_results(rayo_start):
    big = os.urandom(3 << 20)

    @rayo.remote
    def length_and_tail(b):
        return len(b), b[-16:]

    n, tail = rayo.get(length_and_tail.remote(big), timeout=T)
    assert n == len(big) and tail == big[-16:]

    @rayo.remote
    def make_big(n):
        return np.arange(n, dtype=np.float64)

    arr = rayo.get(make_big.remote(500_000), timeout=T)
    assert arr.dtype == np.float64 and arr.shape == (500_000,)
    assert arr[123_456] == 123_456.0


def test_numpy_arguments(rayo_start):
    @rayo.remote
    def describe(a):
        return [str(a.dtype), list(a.shape), float(a.sum())]

    assert rayo.get(describe.remote(np.arange(10, dtype=np.int32)), timeout=T) == ["int32", [10], 45.0]
    m = np.ones((3, 4), dtype=np.float32)
    assert rayo.get(describe.remote(m), timeout=T) == ["float32", [3, 4], 12.0]
    assert rayo.get(describe.remote(rayo.put(m)), timeout=T) == ["float32", [3, 4], 12.0]


def test_the_same_function_under_two_decorations(rayo_start):
    def plain(x):
        return -x

    f1, f2 = rayo.remote(plain), rayo.remote(num_cpus=0)(plain)
    assert rayo.get([f1.remote(1), f2.remote(2)], timeout=T) == [-1, -2]


def test_future(rayo_start):
    fut = add.remote(20, 22).future()
    assert fut.result(timeout=T) == 42


def test_remote_function_keeps_its_metadata(rayo_start):
    @rayo.remote
    def documented(x):
        """Doc."""
        return x

    assert documented.__name__ == "documented"
    assert documented.__doc__ == "Doc."


# --- bad input -------------------------------------------------------------


def test_calling_a_remote_function_directly(rayo_start):
    with pytest.raises(TypeError, match=r"\.remote\(\)"):
        add(1, 2)


def test_unknown_option(rayo_start):
    with pytest.raises(ValueError, match="no_such_option"):
        rayo.remote(no_such_option=1)(lambda: 1)
    with pytest.raises(ValueError, match="no_such_option"):
        add.options(no_such_option=1)
    # An actor's option is not a task's.
    with pytest.raises(ValueError, match="max_restarts"):
        add.options(max_restarts=1)


@pytest.mark.parametrize("opts", [
    {"num_cpus": -1}, {"num_gpus": -0.5}, {"memory": -1}, {"num_cpus": "1"}, {"num_cpus": True},
    {"max_retries": -2}, {"max_retries": 1.5}, {"num_returns": -1}, {"num_returns": "2"},
])
def test_bad_option_values(rayo_start, opts):
    with pytest.raises(ValueError):
        add.options(**opts)
    with pytest.raises(ValueError):
        rayo.remote(**opts)(lambda: 1)


def test_num_returns_zero_is_refused(rayo_start):
    with pytest.raises(ValueError):
        add.options(num_returns=0).remote(1)


def test_resources_must_not_name_cpu_or_gpu(rayo_start):
    for k in ("CPU", "GPU", "memory"):
        with pytest.raises(ValueError, match=k):
            add.options(resources={k: 1}).remote(1)


def test_remote_decorator_misuse(rayo_start):
    with pytest.raises(TypeError):
        rayo.remote(1, 2)
    with pytest.raises(TypeError):
        rayo.remote("not callable")

    async def coro():
        return 1

    with pytest.raises(TypeError):
        rayo.remote(coro)


def test_infeasible_task_waits_and_can_be_cancelled(rayo_start):
    # As in Ray, a task no node can hold waits (for a node that can);
    # get times out, and cancel ends it.
    r = identity.options(resources={"no-such-resource": 1}).remote(1)
    with pytest.raises(ex.GetTimeoutError):
        rayo.get(r, timeout=0.5)
    rayo.cancel(r)
    with pytest.raises(ex.TaskCancelledError):
        rayo.get(r, timeout=T)
