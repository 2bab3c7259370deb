"""rayo._codec: the golden fixtures Go's tests also read, zero-copy reads,
the pickle form's layout, and bad input."""

import collections
import enum
import json
import math
import os
import struct
import threading

import msgpack
import numpy as np
import pytest

from rayo._codec import (
    ActorHandleData,
    CodecError,
    ObjectRefData,
    PassableData,
    dumps,
    loads,
)

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "..", "internal", "codec", "testdata", "golden")
with open(os.path.join(GOLDEN, "manifest.json"), encoding="utf-8") as f:
    FIXTURES = json.load(f)["fixtures"]


def value(g):
    """The Python value a fixture's language-neutral notation names."""
    (form, x), = g.items()
    if form == "nil":
        return None
    if form in ("bool", "str"):
        return x
    if form == "int":
        return int(x)
    if form in ("float64", "float32"):
        return float(x)
    if form == "bin":
        return bytes.fromhex(x)
    if form == "array":
        return [value(e) for e in x]
    if form == "map":
        return {value(k): value(v) for k, v in x}
    if form == "raw":
        dtype = np.dtype(x["elem"]).newbyteorder("<")
        if x["elem"] == "uint8" and not x.get("numpy"):
            return bytes(int(v) for v in x["values"])  # a Go []byte
        return np.array([int(v) if dtype.kind in "iu" else float(v) for v in x["values"]], dtype=dtype)
    if form == "ref":
        return ObjectRefData(*x)
    if form == "actor":
        return ActorHandleData(*x)
    if form == "passable":
        return PassableData(bytes.fromhex(x))
    if form == "pyset":
        return {value(e) for e in x}
    if form == "ndarray":
        return np.array([float(v) for v in x["values"]], dtype=x["dtype"]).reshape(x["shape"])
    raise AssertionError(f"unknown fixture form {form}")


def assert_same(got, want):
    """Equal values of the same types (numpy arrays by dtype and content,
    floats by their bits, so -0.0 is not 0.0)."""
    assert type(got) is type(want), (got, want)
    if isinstance(want, np.ndarray):
        assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)
    elif isinstance(want, float):
        assert struct.pack("<d", got) == struct.pack("<d", want)
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert_same(g, w)
    elif isinstance(want, dict):
        assert list(got) == list(want)
        for k in want:
            assert_same(got[k], want[k])
    else:
        assert got == want


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f["name"] for f in FIXTURES])
def test_golden(fixture):
    path = os.path.join(GOLDEN, fixture["name"] + ".bin")
    want = value(fixture["value"])
    if os.environ.get("RAYO_UPDATE_GOLDEN") and "go" not in fixture["encode"]:
        # Go's `go test ./internal/codec -update` writes the others.
        data = dumps(want)
        if fixture["name"] == "python_nested":
            # No writer nests ext type 4 yet; readers must take it.
            data = msgpack.packb({"a": msgpack.ExtType(4, dumps({1})[6:])})
        with open(path, "wb") as f:
            f.write(data)
    with open(path, "rb") as f:
        data = f.read()
    assert_same(loads(data), want)
    if "py" in fixture["encode"]:
        assert dumps(want) == data


def test_every_raw_element_type_has_a_fixture():
    elems = {f["value"]["raw"]["elem"] for f in FIXTURES if "raw" in f["value"]}
    assert elems == {"uint8", "int8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"}


def test_raw_is_a_read_only_view():
    buf = bytearray(dumps(np.arange(1000, dtype=np.float64)))
    arr = loads(memoryview(buf))
    assert np.shares_memory(arr, np.frombuffer(buf, dtype=np.uint8))
    assert not arr.flags.writeable
    with pytest.raises(ValueError):
        arr[0] = 1
    buf[8:16] = struct.pack("<d", 42.0)  # the store's memory changes: so does the view
    assert arr[0] == 42.0


def test_bytes_and_uint8_arrays():
    # A Go []byte (raw, byte 3 zero) and Python bytes come back as bytes; a
    # numpy uint8 array as one, though Go reads both as a []byte.
    assert dumps(b"\x01\x02") == bytes([0xC1, 1, 1, 0, 0, 0, 0, 0, 1, 2])
    assert loads(dumps(b"\x01\x02")) == b"\x01\x02"
    arr = loads(dumps(np.array([1, 2], dtype=np.uint8)))
    assert arr.dtype == np.uint8 and list(arr) == [1, 2]
    assert loads(dumps([b"ab"])) == [b"ab"]  # bin inside a value
    # msgpack packs a bytearray or memoryview as bin: it comes back as bytes.
    assert loads(dumps(bytearray(b"ab"))) == b"ab"
    assert loads(dumps(memoryview(b"ab"))) == b"ab"


def test_non_contiguous_1d_array_is_raw():
    a = np.arange(10, dtype=np.int32)[::2]
    data = dumps(a)
    assert data[0] == 0xC1
    assert_same(loads(data), np.ascontiguousarray(a))


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return type(other) is Point and (self.x, self.y) == (other.x, other.y)


class Color(enum.IntEnum):
    RED = 1


Pair = collections.namedtuple("Pair", "a b")


def _cycle():
    a = [1]
    a.append(a)
    return a


@pytest.mark.parametrize(
    "v",
    [
        Point(1, "a"),
        {1, 2},
        frozenset({"x"}),
        Color.RED,
        Pair(1, 2),
        collections.OrderedDict(a=1),
        2**64,
        -(2**63) - 1,
        "\ud800",
        np.float64(1.5),
        np.zeros((3, 4), dtype=np.float32),
        np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        np.arange(4, dtype=">f8"),
        np.array([True, False]),
        np.array(3.0),
        {"w": np.arange(3.0), "p": Point(0, 0)},
        [np.arange(5), np.arange(5.0)],
        [[[[[]]]]] * 2,
    ],
    ids=repr,
)
def test_python_objects_round_trip(v):
    got = loads(dumps(v))
    assert type(got) is type(v)
    if isinstance(v, np.ndarray):
        assert got.dtype == v.dtype and np.array_equal(got, v)
    elif isinstance(v, dict) and "w" in v:
        assert np.array_equal(got["w"], v["w"]) and got["p"] == v["p"]
    elif isinstance(v, list) and v and isinstance(v[0], np.ndarray):
        assert all(np.array_equal(g, w) and g.dtype == w.dtype for g, w in zip(got, v))
    else:
        assert got == v


def test_cycle_round_trips():
    got = loads(dumps(_cycle()))
    assert got[0] == 1 and got[1] is got


def test_shared_forms():
    # Tuples are msgpack arrays (Go has no tuple): they come back as lists,
    # except as map keys, where a list cannot be.
    assert loads(dumps((1, (2, "a")))) == [1, [2, "a"]]
    assert loads(dumps({(1, (2, 3)): "x"})) == {(1, (2, 3)): "x"}
    assert loads(dumps({1: "a", None: 2.5})) == {1: "a", None: 2.5}
    assert dumps(1.0) == bytes.fromhex("cb3ff0000000000000")
    ref, actor = ObjectRefData("r", "o"), ActorHandleData("a", "C", "s", "o")
    assert loads(dumps([ref, actor, PassableData(b"\x80")])) == [ref, actor, PassableData(b"\x80")]


def test_pickle_layout():
    arrays = [np.arange(n, dtype=np.float64).reshape(n, 1) for n in (1, 7, 100)]
    data = dumps(arrays)
    assert data[0] == 0xC9 and data[5] == 4
    assert int.from_bytes(data[1:5], "big") == len(data) - 6
    version, count, plen = struct.unpack_from("<B3xIQ", data, 6)
    assert (version, count, data[7:10]) == (1, 3, b"\0\0\0")
    end = 6 + 16 + 16 * count + plen
    for i in range(count):
        off, n = struct.unpack_from("<QQ", data, 6 + 16 + 16 * i)
        assert (6 + off) % 64 == 0 and 6 + off >= end
        assert data[6 + off : 6 + off + n] == arrays[i].tobytes()
        end = 6 + off + n
    assert end == len(data)
    buf = bytearray(data)
    got = loads(buf)
    for g, a in zip(got, arrays):
        assert np.array_equal(g, a) and not g.flags.writeable
        assert np.shares_memory(g, np.frombuffer(buf, dtype=np.uint8))


def _ext32(payload, code=4):
    return struct.pack(">BIb", 0xC9, len(payload), code) + payload


@pytest.mark.parametrize(
    "data, match",
    [
        (b"", "no data"),
        (b"\x92\x01", "not a rayo value"),  # truncated array
        (b"\x01\x02", "not a rayo value"),  # trailing bytes
        (b"\xc1\x01\x0b" + bytes(5), "unknown element type 11"),
        (b"\xc1\x02\x01" + bytes(5), "unknown kind"),
        (b"\xc1\x01", "short"),
        (b"\xc1\x01\x03" + bytes(5) + b"\x01", "whole number of int16"),
        (b"\xd4\x09\x00", "unknown msgpack extension type 9"),
        (b"\xd4\x01\x00", "malformed object reference"),
        (b"\xc7\x03\x01\x91\xa1r", "malformed object reference"),
        (b"\xc7\x02\x02\x91\xa0", "malformed actor handle"),
        (_ext32(b"\x01"), "header is short"),
        (_ext32(struct.pack("<B3xIQ", 2, 0, 0)), "unknown version 2"),
        (_ext32(struct.pack("<B3xIQ", 1, 0, 5)), "truncated"),
        (_ext32(struct.pack("<B3xIQ", 1, 1, 0) + struct.pack("<QQ", 32, 100)), "outside"),
        (_ext32(struct.pack("<B3xIQ", 1, 0, 3) + b"abc"), "cannot unpickle"),
        (_ext32(b"abc")[:-1], "pickled value of 3 bytes"),
        (b"\x81\x81\x01\x02\x03", "cannot hash"),  # a map key that is a map
    ],
)
def test_bad_input(data, match):
    with pytest.raises(CodecError, match=match):
        loads(data)


def test_nested_python_object_with_bad_payload():
    # ext 4 inside an array reaches the same checks.
    with pytest.raises(CodecError, match="header is short"):
        loads(b"\x91\xd4\x04\x00")


def test_loads_wants_bytes():
    with pytest.raises(TypeError, match="bytes-like"):
        loads("c0")


def test_unencodable_value():
    with pytest.raises(CodecError, match="cannot encode a lock"):
        dumps(threading.Lock())


def test_codec_error_is_a_value_error():
    assert issubclass(CodecError, ValueError)
    assert math.isinf(loads(dumps(float("inf"))))


def test_deep_nesting():
    # Past msgpack's limit of 511 the value is pickled, past Python's
    # recursion limit it fails: a clear error either way.
    v = []
    for _ in range(5000):
        v = [v]
    with pytest.raises(CodecError, match="cannot encode a list"):
        dumps(v)
