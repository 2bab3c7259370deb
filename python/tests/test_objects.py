"""rayo.put, rayo.get and rayo.wait (in the manner of Ray's
python/ray/tests/test_get_or_put.py, test_basic.py's put/get tests and
test_wait.py). All on one embedded cluster of 2 CPUs (rayo_start)."""

import collections
import enum
import fractions
import os
import time

import numpy as np
import pytest

import rayo
from rayo import exceptions as ex

T = 60  # seconds: the bound on every get that could block


@rayo.remote
def identity(x):
    return x


@rayo.remote
def wait_for_file(path, value):
    """Returns value once path exists (within 50 s: a test that forgot to
    create it fails rather than hangs)."""
    import time
    deadline = time.monotonic() + 50
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError("no " + path)
        time.sleep(0.005)
    return value


@pytest.fixture
def gate(tmp_path):
    """A file tasks wait for (wait_for_file); the test opens it, and the
    teardown opens it anyway so that no task is left waiting."""
    path = str(tmp_path / "gate")
    yield path
    if not os.path.exists(path):
        open(path, "w").close()


def open_gate(path):
    open(path, "w").close()


# --- put and get ---------------------------------------------------------------


@pytest.mark.parametrize("value", [
    None, True, False, 0, -1, 2**63 - 1, -(2**63), 2**64 + 5, -(2**100), 1.5, float("inf"), "", "text", "ünïcødé ☃",
    b"", b"\x00\x01bytes", [], [1, [2, [3, [4]]]], {}, {"a": 1, "b": [1, 2], "c": {"d": None}},
    {1: "int key", 2.5: "float key"}, {(1, 2): "tuple key"}, {1, 2, 3}, frozenset([4]),
    complex(1, 2), fractions.Fraction(1, 3), collections.OrderedDict([("x", 1), ("y", 2)]),
    collections.Counter("hello"),
], ids=repr)
def test_put_get_roundtrip(rayo_start, value):
    got = rayo.get(rayo.put(value), timeout=T)
    assert got == value
    assert type(got) is type(value)
    # And through a task, both ways.
    got = rayo.get(identity.remote(value), timeout=T)
    assert got == value
    assert type(got) is type(value)


def test_float_nan(rayo_start):
    got = rayo.get(rayo.put(float("nan")), timeout=T)
    assert got != got


def test_tuples_and_bytearrays_come_back_as_lists_and_bytes(rayo_start):
    # docs/encoding.md: a tuple is a msgpack array (Go has no tuple), so it
    # decodes to a list; tuple keys of a map decode to tuples. (Ray gives
    # back the tuple.)
    assert rayo.get(rayo.put((1, 2, (3,))), timeout=T) == [1, 2, [3]]
    assert rayo.get(rayo.put({(1, 2): "k"}), timeout=T) == {(1, 2): "k"}
    # Likewise bytearray and memoryview are msgpack bin: they come back as bytes.
    assert rayo.get(rayo.put([bytearray(b"ba"), memoryview(b"mv")]), timeout=T) == [b"ba", b"mv"]


def test_namedtuple_and_enum_keep_their_type(rayo_start):
    Point = collections.namedtuple("Point", "x y")

    class Color(enum.IntEnum):
        RED = 1

    got = rayo.get(rayo.put(Point(1, 2)), timeout=T)
    assert got == Point(1, 2) and type(got).__name__ == "Point" and got.x == 1
    got = rayo.get(rayo.put(Color.RED), timeout=T)
    assert got == Color.RED and got.name == "RED"


def test_custom_classes(rayo_start):
    class Thing:
        def __init__(self, a, b):
            self.a, self.b = a, b

        def total(self):
            return self.a + self.b

    class Slotted:
        __slots__ = ("v",)

        def __init__(self, v):
            self.v = v

    t = rayo.get(rayo.put(Thing(1, [2])), timeout=T)
    assert isinstance(t, Thing) and t.a == 1 and t.b == [2]
    s = rayo.get(rayo.put([Slotted(7), Slotted(8)]), timeout=T)
    assert [x.v for x in s] == [7, 8]

    @rayo.remote
    def total(thing):
        return thing.total()

    assert rayo.get(total.remote(Thing(2, 3)), timeout=T) == 5


def test_shared_references_in_one_value(rayo_start):
    inner = [1, 2]
    got = rayo.get(rayo.put({"a": inner, "b": inner, "self": None, "obj": object}), timeout=T)
    assert got["a"] == got["b"] == [1, 2]
    assert got["obj"] is object
    cyclic = [1]
    cyclic.append(cyclic)
    got = rayo.get(rayo.put(cyclic), timeout=T)
    assert got[0] == 1 and got[1] is got


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
                                   "float32", "float64", "bool", "complex128", "<U5", "object"])
def test_numpy_arrays(rayo_start, dtype):
    a = np.arange(24).astype(dtype)
    for value in (a, a.reshape(2, 3, 4), a[::2], np.asfortranarray(a.reshape(4, 6))):
        got = rayo.get(rayo.put(value), timeout=T)
        assert isinstance(got, np.ndarray)
        assert got.dtype == value.dtype and got.shape == value.shape
        np.testing.assert_array_equal(got, value)
    got = rayo.get(identity.remote(a.reshape(4, 6)), timeout=T)
    np.testing.assert_array_equal(got, a.reshape(4, 6))


def test_numpy_empty_and_scalars(rayo_start):
    e = rayo.get(rayo.put(np.zeros(0, dtype=np.float32)), timeout=T)
    assert e.dtype == np.float32 and e.shape == (0,)
    s = rayo.get(rayo.put(np.float32(1.5)), timeout=T)
    assert s == np.float32(1.5) and type(s) is np.float32


def test_numpy_results_are_read_only(rayo_start):
    # As in Ray: an array from the store is a read-only view.
    got = rayo.get(rayo.put(np.arange(1000, dtype=np.int64)), timeout=T)
    assert not got.flags.writeable
    with pytest.raises(ValueError):
        got[0] = 1
    # A copy is writable.
    c = got.copy()
    c[0] = 5
    assert c[0] == 5


def test_big_values(rayo_start):
    b = os.urandom(5 << 20)
    assert rayo.get(rayo.put(b), timeout=T) == b
    arr = np.random.default_rng(0).random(1 << 20)  # 8 MiB
    got = rayo.get(rayo.put(arr), timeout=T)
    np.testing.assert_array_equal(got, arr)
    m = arr.reshape(1024, 1024)
    np.testing.assert_array_equal(rayo.get(rayo.put(m), timeout=T), m)
    many = {"k%d" % i: os.urandom(1024) for i in range(2000)}
    assert rayo.get(rayo.put(many), timeout=T) == many
    s = "x" * (3 << 20)
    assert rayo.get(identity.remote(s), timeout=T) == s


def test_get_list_and_tuple(rayo_start):
    refs = [rayo.put(i) for i in range(10)]
    assert rayo.get(refs, timeout=T) == list(range(10))
    assert rayo.get(tuple(refs[:3]), timeout=T) == [0, 1, 2]
    assert rayo.get([], timeout=T) == []
    # The same ref twice.
    assert rayo.get([refs[0], refs[0]], timeout=T) == [0, 0]


def test_get_mixed_ready_and_pending(rayo_start, gate):
    pending = wait_for_file.remote(gate, "late")
    ready = rayo.put("early")
    with pytest.raises(ex.GetTimeoutError):
        rayo.get([ready, pending], timeout=0.2)
    open_gate(gate)
    assert rayo.get([ready, pending], timeout=T) == ["early", "late"]


def test_get_timeout(rayo_start, gate):
    r = wait_for_file.remote(gate, 1)
    start = time.monotonic()
    with pytest.raises(ex.GetTimeoutError) as info:
        rayo.get(r, timeout=0.3)
    elapsed = time.monotonic() - start
    assert 0.25 <= elapsed < 10
    assert isinstance(info.value, TimeoutError)  # as in Ray
    with pytest.raises(ex.GetTimeoutError):
        rayo.get(r, timeout=0)
    with pytest.raises(ex.GetTimeoutError):
        rayo.get([r], timeout=0.01)
    # The task is unaffected.
    open_gate(gate)
    assert rayo.get(r, timeout=T) == 1


def test_get_of_a_ready_object_with_timeout_zero(rayo_start):
    small, big = rayo.put("x"), rayo.put(b"x" * (1 << 20))
    assert rayo.get([small, big], timeout=T) == ["x", b"x" * (1 << 20)]  # both ready now
    for _ in range(20):
        assert rayo.get(small, timeout=0) == "x"
        assert len(rayo.get(big, timeout=0)) == 1 << 20


def test_get_bad_input(rayo_start):
    with pytest.raises(TypeError):
        rayo.get(1)
    with pytest.raises(TypeError):
        rayo.get("not a ref")
    with pytest.raises(TypeError):
        rayo.get([rayo.put(1), 2])
    with pytest.raises(TypeError):
        rayo.get({rayo.put(1)})
    with pytest.raises(ValueError):
        rayo.get(rayo.put(1), timeout=-1)


def test_put_of_a_ref(rayo_start):
    with pytest.raises(TypeError):
        rayo.put(rayo.put(1))


def test_put_of_something_that_cannot_be_pickled(rayo_start):
    import threading
    with pytest.raises(Exception) as info:
        rayo.put(threading.Lock())
    assert "lock" in str(info.value).lower()
    with pytest.raises(Exception):
        identity.remote(threading.Lock())
    # The connection is unaffected.
    assert rayo.get(rayo.put(1), timeout=T) == 1


def test_refs_in_values(rayo_start):
    a = rayo.put("a")
    outer = rayo.put({"inner": [a]})
    got = rayo.get(outer, timeout=T)
    assert isinstance(got["inner"][0], rayo.ObjectRef)
    assert got["inner"][0] == a
    assert rayo.get(got["inner"][0], timeout=T) == "a"


def test_nested_ref_outlives_its_first_handle(rayo_start):
    outer = rayo.put([rayo.put("still here")])
    # The only driver-side ObjectRef to the inner object is gone; the outer
    # object keeps it alive.
    import gc
    gc.collect()
    rayo._current().flush_releases()
    inner = rayo.get(outer, timeout=T)[0]
    assert rayo.get(inner, timeout=T) == "still here"


def test_object_ref_api(rayo_start):
    r = rayo.put(1)
    same = rayo.get(rayo.put([r]), timeout=T)[0]
    assert r == same and hash(r) == hash(same) and r is not same
    assert r != rayo.put(1)
    assert r.hex() == r.object_id and isinstance(r.hex(), str)
    assert r.hex() in repr(r)
    assert len({r, same}) == 1
    assert r != r.hex()


def test_many_puts(rayo_start):
    refs = [rayo.put(i) for i in range(500)]
    assert rayo.get(refs, timeout=T) == list(range(500))


def test_future(rayo_start):
    f = rayo.put([1, 2]).future()
    assert f.result(timeout=T) == [1, 2]


# --- wait ----------------------------------------------------------------------


def test_wait_all_ready(rayo_start):
    refs = [rayo.put(i) for i in range(5)]
    ready, not_ready = rayo.wait(refs, num_returns=5, timeout=T)
    assert ready == refs and not_ready == []
    ready, not_ready = rayo.wait(refs, timeout=T)
    assert len(ready) == 1 and len(not_ready) == 4
    assert set(ready) | set(not_ready) == set(refs)


def test_wait_num_returns_and_timeout(rayo_start, gate):
    slow = [wait_for_file.remote(gate, i) for i in range(2)]
    fast = [rayo.put(i) for i in range(3)]
    refs = [slow[0], fast[0], slow[1], fast[1], fast[2]]
    ready, not_ready = rayo.wait(refs, num_returns=2, timeout=T)
    assert len(ready) == 2 and set(ready) <= set(fast)
    assert len(not_ready) == 3
    # Fewer ready than asked for: the timeout ends the wait.
    start = time.monotonic()
    ready, not_ready = rayo.wait(refs, num_returns=5, timeout=0.3)
    assert time.monotonic() - start >= 0.25
    assert ready == fast[:1] + fast[1:]  # in the list's order
    assert not_ready == slow
    ready, not_ready = rayo.wait(refs, num_returns=5, timeout=0)
    assert ready == fast and not_ready == slow
    open_gate(gate)
    ready, not_ready = rayo.wait(refs, num_returns=5, timeout=T)
    assert ready == refs and not_ready == []


def test_wait_keeps_the_input_order(rayo_start):
    refs = [rayo.put(i) for i in range(20)]
    shuffled = refs[::-1]
    ready, not_ready = rayo.wait(shuffled, num_returns=20, timeout=T)
    assert ready == shuffled and not_ready == []
    ready, not_ready = rayo.wait(shuffled, num_returns=7, timeout=T)
    assert len(ready) == 7 and len(not_ready) == 13
    # Both lists keep the input's relative order.
    pos = {r: i for i, r in enumerate(shuffled)}
    assert [pos[r] for r in ready] == sorted(pos[r] for r in ready)
    assert [pos[r] for r in not_ready] == sorted(pos[r] for r in not_ready)


def test_wait_returns_as_tasks_finish(rayo_start, gate):
    slow = wait_for_file.remote(gate, "slow")
    fast = identity.remote("fast")
    ready, not_ready = rayo.wait([slow, fast], timeout=T)
    assert ready == [fast] and not_ready == [slow]
    open_gate(gate)
    ready, not_ready = rayo.wait([slow], timeout=T)
    assert ready == [slow]


def test_wait_counts_failed_tasks_as_ready(rayo_start):
    @rayo.remote
    def fails():
        raise ValueError("x")

    r = fails.remote()
    ready, not_ready = rayo.wait([r], timeout=T)
    assert ready == [r]
    with pytest.raises(ValueError):
        rayo.get(r, timeout=T)


def test_wait_bad_input(rayo_start):
    r = rayo.put(1)
    with pytest.raises(ValueError):
        rayo.wait([r, r])
    with pytest.raises(ValueError):
        rayo.wait([r], num_returns=0)
    with pytest.raises(ValueError):
        rayo.wait([r], num_returns=-1)
    with pytest.raises(ValueError):
        rayo.wait([r], num_returns=2)


def test_wait_empty_list(rayo_start):
    assert rayo.wait([]) == ([], [])


def test_wait_non_ref(rayo_start):
    with pytest.raises(TypeError):
        rayo.wait([rayo.put(1), 2])


def test_wait_negative_timeout(rayo_start):
    r = rayo.put(1)  # ready: a wait that accepts the timeout returns at once
    with pytest.raises(ValueError):
        rayo.wait([r], timeout=-1)


def test_large_put_written_in_place(rayo_start):
    # A value over PUT_IN_PLACE is written into the store by this process
    # (py.put.create/seal), then read back without a copy, in a task too.
    import numpy as np

    from rayo import _runtime

    a = np.arange((4 << 20) // 8, dtype=np.float64)
    assert a.nbytes >= _runtime.PUT_IN_PLACE
    ref = rayo.put(a)
    b = rayo.get(ref, timeout=T)
    assert not b.flags.writeable and np.array_equal(a, b)

    @rayo.remote
    def total(x):
        return float(x.sum())

    assert rayo.get(total.remote(ref), timeout=T) == float(a.sum())
    # A pickled object whose arrays go out of band is written in place too.
    obj = {"w": a, "tag": object.__new__(type("Tag", (), {}))}
    got = rayo.get(rayo.put(obj), timeout=T)
    assert np.array_equal(got["w"], a) and type(got["tag"]).__name__ == "Tag"


def test_failed_in_place_write_gives_the_space_back(rayo_start, monkeypatch):
    import numpy as np

    from rayo import _runtime

    class Boom(Exception):
        pass

    real = _runtime.mmap.mmap

    def failing(*args, **kwargs):
        raise Boom("no mapping")

    monkeypatch.setattr(_runtime.mmap, "mmap", failing)
    with pytest.raises(Boom):
        rayo.put(np.ones((2 << 20) // 8))
    monkeypatch.setattr(_runtime.mmap, "mmap", real)
    # The store is usable, and holds no half-written object.
    a = np.ones((2 << 20) // 8)
    assert np.array_equal(rayo.get(rayo.put(a), timeout=T), a)


def test_seal_of_an_unreserved_object_is_refused(rayo_start):
    from rayo import _runtime

    with pytest.raises(ValueError, match="not reserved"):
        _runtime.current().call("py.put.seal", {"id": "nope", "s": 10})
    with pytest.raises(ValueError):
        _runtime.current().call("py.put.create", {"s": 10})  # small values are inline, not in place


def test_large_task_result_written_in_place(rayo_start):
    # A task's large result is written into the store by the Python worker
    # (py.result.create), read back as a view of the store.
    import numpy as np

    @rayo.remote
    def make(n):
        return np.arange(n, dtype=np.int64)

    @rayo.remote
    class Maker:
        def make(self, n):
            return {"a": np.ones(n), "label": "big"}

    got = rayo.get(make.remote(1 << 20), timeout=T)
    assert not got.flags.writeable and got[-1] == (1 << 20) - 1
    m = Maker.remote()
    d = rayo.get(m.make.remote(1 << 19), timeout=T)
    assert d["label"] == "big" and d["a"].sum() == 1 << 19

    @rayo.remote
    def fails_to_encode():
        class Unwritable:
            def __reduce__(self):
                raise RuntimeError("cannot pickle me")
        return [np.ones(1 << 18), Unwritable()]

    with pytest.raises(Exception, match="cannot pickle me"):
        rayo.get(fails_to_encode.remote(), timeout=T)


def test_large_arguments_travel_by_reference(rayo_start):
    # A large argument by value is put first; a large stored argument
    # reaches the worker as a view of the store, which an actor may keep
    # after the caller dropped its reference.
    import numpy as np

    a = np.arange((3 << 20) // 8, dtype=np.float64)

    @rayo.remote
    def total(x):
        return float(x.sum()), x.flags.writeable

    assert rayo.get(total.remote(a), timeout=T) == [float(a.sum()), False]  # a tuple comes back a list

    @rayo.remote
    class Keeper:
        def __init__(self, x):
            self.x = x

        def total(self):
            return float(self.x.sum())

    ref = rayo.put(a)
    k = Keeper.remote(ref)
    del ref
    import gc
    gc.collect()
    for _ in range(3):
        rayo.put(np.zeros_like(a))  # store traffic that would reuse freed space
    assert rayo.get(k.total.remote(), timeout=T) == float(a.sum())
